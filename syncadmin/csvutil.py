"""CSV cells that are safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse
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


class _Echo:
    """A file for csv.writer that hands each written line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_download(
    header: Iterable[str], rows: Iterable[Iterable[Any]], *, filename: str
) -> StreamingHttpResponse:
    """A CSV file streamed as it is written, so any number of rows fits: the BOM, the header,
    then each row with every cell made safe (csv_safe)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield CSV_BOM + writer.writerow(list(header))
        for row in rows:
            yield writer.writerow([csv_safe(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
