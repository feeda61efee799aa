"""The admin, one module per screen. Importing them registers every model with the admin site
(Django's autodiscover imports this package)."""

from syncadmin.admin import (
    connections,
    field_mappings,
    hooks,
    links,
    mapping_preview,
    matches,
    preferences,
    problems,
    results,
    runs,
    taskqueue,
)

__all__ = [
    "connections",
    "field_mappings",
    "hooks",
    "links",
    "mapping_preview",
    "matches",
    "preferences",
    "problems",
    "results",
    "runs",
    "taskqueue",
]
