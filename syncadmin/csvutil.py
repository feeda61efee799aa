"""CSV cells that are safe to open in a spreadsheet."""

from __future__ import annotations

from typing import Any


def csv_safe(value: Any) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas, and names and ids in these
    files come from customer records: such cells get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
