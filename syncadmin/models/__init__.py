"""The app's models, one module per subject; every public name is importable from here."""

from syncadmin.models.base import Direction, Master, SecretsMixin, Singleton
from syncadmin.models.connections import NetSuiteConnection, ZuoraConnection
from syncadmin.models.hooks import HookEvent, HookSettings, PendingSync
from syncadmin.models.links import LinkEvent, LinkImport, RecordLink
from syncadmin.models.mappings import FieldMapping, NameTranslation
from syncadmin.models.matches import MatchSuggestion
from syncadmin.models.preferences import SyncPreferences
from syncadmin.models.results import (
    AccountResult,
    IgnoredAccount,
    NameKeyField,
    NameKeyStartsWith,
    OpenProblem,
    Outcome,
    name_search_key,
)
from syncadmin.models.runs import SyncCursor, SyncLease, SyncRun
from syncadmin.models.setup import SetupCheck

__all__ = [
    "AccountResult",
    "Direction",
    "FieldMapping",
    "HookEvent",
    "HookSettings",
    "IgnoredAccount",
    "LinkEvent",
    "LinkImport",
    "Master",
    "MatchSuggestion",
    "NameKeyField",
    "OpenProblem",
    "PendingSync",
    "NameKeyStartsWith",
    "NameTranslation",
    "NetSuiteConnection",
    "Outcome",
    "RecordLink",
    "SecretsMixin",
    "SetupCheck",
    "Singleton",
    "SyncCursor",
    "SyncLease",
    "SyncPreferences",
    "SyncRun",
    "ZuoraConnection",
    "name_search_key",
]
