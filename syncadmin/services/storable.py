"""Vendor text as the database can store it.

PostgreSQL refuses NUL in text and JSON columns, and no database driver takes a lone surrogate
(UTF-8 cannot encode one; a vendor's JSON can carry "\\ud800"). One such character in an account
name failed the batch insert of a run's results and links, so the run ended with nothing
recorded, and so did every run after it. They are left out where vendor text is stored.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models

_REFUSED = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    return _REFUSED.sub("", text)


def storable(value: Any) -> Any:
    """A JSON-like value (dicts, lists, text, numbers) with its text storable."""
    if isinstance(value, str):
        return _REFUSED.sub("", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def make_storable(instance: models.Model) -> None:
    """Make every text and JSON field of a model instance storable, in place."""
    for field in instance._meta.concrete_fields:
        if isinstance(field, models.CharField | models.TextField | models.JSONField):
            value = getattr(instance, field.attname)
            if value is not None:
                setattr(instance, field.attname, storable(value))
