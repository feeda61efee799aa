"""Vendor text as the database can store it.

PostgreSQL refuses NUL in text and JSON columns, and no database driver takes a lone surrogate
(UTF-8 cannot encode one; a vendor's JSON can carry "\\ud800"). One such character in an account
name failed the batch insert of a run's results and links, so the run ended with nothing
recorded, and so did every run after it. They are left out where vendor text is stored.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from django.db import models

_REFUSED = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    return _REFUSED.sub("", text)


def storable(value: Any) -> Any:
    """A JSON-like value (dicts, lists, text, numbers) with its text storable."""
    if isinstance(value, str):
        return _REFUSED.sub("", value)
    if isinstance(value, dict | list | tuple):
        # The common case, checked in C: JSON writes a NUL as the escape \u0000, and (not
        # escaping the rest) a lone surrogate as itself.
        text = json.dumps(value, ensure_ascii=False, default=str)
        if "\\u0000" not in text and not _SURROGATE.search(text):
            return value
        return _storable(value)
    return value


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _REFUSED.sub("", value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def make_storable(instance: models.Model) -> None:
    """Make every text and JSON field of a model instance storable, in place."""
    for attname in _text_fields(type(instance)):
        value = getattr(instance, attname)
        if value is not None:
            setattr(instance, attname, storable(value))


@cache
def _text_fields(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField | models.JSONField)
    )
