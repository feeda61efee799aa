"""CSV cells that are safe to open in a spreadsheet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.timezone import localtime

# Excel reads a CSV file without it in the machine's own code page, so names with accents or
# other scripts come out garbled; with it, as UTF-8.
CSV_BOM = "\ufeff"


def csv_safe(value: Any) -> str:
    """A cell as text: times as YYYY-MM-DD HH:MM:SS (which Excel reads as a date and time).

    Spreadsheets run cells starting with = + - @ as formulas, and names and ids in these
    files come from customer records: such cells get a leading apostrophe."""
    if isinstance(value, datetime):
        return f"{localtime(value) if value.tzinfo else value:%Y-%m-%d %H:%M:%S}"
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
