"""Linking records from a CSV: every row is checked against both systems and the existing
links in a preview, then the rows found OK are linked once, with a report to download."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.netsuite.client import NetSuiteClient
from connectors.zuora.client import ZuoraClient
from syncadmin.csvutil import CSV_BOM, csv_safe
from syncadmin.models import LinkEvent, LinkImport, RecordLink
from syncadmin.services.linking import (
    LinkRefused,
    NetSuiteRef,
    ZuoraRef,
    describe_link,
    netsuite_customers_resolve,
    record_link_save,
    zuora_accounts_resolve,
)

IMPORT_MAX_ROWS = 20_000


class ImportStatus:
    OK = "ok"
    INVALID = "invalid"
    UNKNOWN = "unknown_id"
    DUPLICATE = "duplicate_in_file"
    ALREADY = "already_linked"
    CONFLICT = "conflicting"
    LABELS = {
        OK: "OK",
        INVALID: "Invalid row",
        UNKNOWN: "Unknown id",
        DUPLICATE: "Duplicate in the file",
        ALREADY: "Already linked",
        CONFLICT: "Conflicting",
    }


class ImportRejected(Exception):
    pass


def _columns(header: list[str]) -> tuple[int, int] | None:
    lowered = [h.strip().lower() for h in header]
    zuora = next((i for i, h in enumerate(lowered) if "zuora" in h), None)
    netsuite = next((i for i, h in enumerate(lowered) if "netsuite" in h), None)
    if zuora is None or netsuite is None:
        return None
    return zuora, netsuite


def link_csv_parse(content: bytes) -> list[tuple[int, str, str]]:
    """(line, zuora key, netsuite key) per data row. The header names a Zuora column and a
    NetSuite column ("zuora_account", "netsuite_customer", ...); without a header the first
    column is Zuora and the second NetSuite."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected("The file is not UTF-8 text; export it as CSV UTF-8.") from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        raise ImportRejected("The file is empty.")
    columns = _columns(rows[0])
    start = 1 if columns else 0
    zi, ni = columns or (0, 1)
    parsed = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        zuora = row[zi].strip() if len(row) > zi else ""
        netsuite = row[ni].strip() if len(row) > ni else ""
        parsed.append((number, zuora, netsuite))
    if len(parsed) > IMPORT_MAX_ROWS:
        raise ImportRejected(f"At most {IMPORT_MAX_ROWS} rows per file; split it.")
    if not parsed:
        raise ImportRejected("The file has no rows to import.")
    return parsed


def link_import_preview(
    *,
    content: bytes,
    filename: str,
    user: Any,
    zuora_client: ZuoraClient | None = None,
    netsuite_client: NetSuiteClient | None = None,
) -> LinkImport:
    """Check every row against both systems and the existing links; saves no link."""
    parsed = link_csv_parse(content)
    zuora = zuora_accounts_resolve([z for _, z, _ in parsed], client=zuora_client)
    netsuite = netsuite_customers_resolve([n for _, _, n in parsed], client=netsuite_client)
    rows = [_import_row(line, z, n, zuora.get(z), netsuite.get(n)) for line, z, n in parsed]
    _mark_duplicates(rows)
    _mark_existing(rows)
    return LinkImport.objects.create(
        filename=filename[:255],
        uploaded_by=user if getattr(user, "pk", None) else None,
        rows=rows,
    )


def _import_row(
    line: int, zuora_key: str, netsuite_key: str, z: ZuoraRef | None, n: NetSuiteRef | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "line": line,
        "zuora": zuora_key,
        "netsuite": netsuite_key,
        "zuora_account_id": z.id if z else "",
        "zuora_account_number": z.number if z else "",
        "zuora_name": z.name if z else "",
        "netsuite_internal_id": n.internal_id if n else "",
        "netsuite_entity_id": n.entity_id if n else "",
        "netsuite_name": n.name if n else "",
        "status": ImportStatus.OK,
        "message": "",
        "result": "",
    }
    if not zuora_key or not netsuite_key:
        row["status"] = ImportStatus.INVALID
        row["message"] = "Both a Zuora and a NetSuite value are needed."
    elif z is None or n is None:
        row["status"] = ImportStatus.UNKNOWN
        missing = []
        if z is None:
            missing.append(f"Zuora has no account {zuora_key!r}")
        if n is None:
            missing.append(f"NetSuite has no customer {netsuite_key!r}")
        row["message"] = "; ".join(missing) + "."
    return row


def _mark_duplicates(rows: list[dict[str, Any]]) -> None:
    first_zuora: dict[str, int] = {}
    first_netsuite: dict[str, int] = {}
    for row in rows:
        if row["status"] != ImportStatus.OK:
            continue
        z, n = row["zuora_account_id"], row["netsuite_internal_id"]
        earlier = first_zuora.get(z) or first_netsuite.get(n)
        if earlier:
            row["status"] = ImportStatus.DUPLICATE
            row["message"] = f"The same record is already on line {earlier} of this file."
            continue
        first_zuora[z] = row["line"]
        first_netsuite[n] = row["line"]


def _mark_existing(rows: list[dict[str, Any]]) -> None:
    candidates = [r for r in rows if r["status"] == ImportStatus.OK]
    links: list[RecordLink] = []
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        links += RecordLink.objects.filter(
            Q(zuora_account_id__in=[r["zuora_account_id"] for r in chunk])
            | Q(netsuite_internal_id__in=[r["netsuite_internal_id"] for r in chunk])
        ).select_related("linked_by")
    by_zuora = {link.zuora_account_id: link for link in links}
    by_netsuite = {link.netsuite_internal_id: link for link in links}
    for row in candidates:
        link = by_zuora.get(row["zuora_account_id"]) or by_netsuite.get(row["netsuite_internal_id"])
        if link is None:
            continue
        if (
            link.zuora_account_id == row["zuora_account_id"]
            and link.netsuite_internal_id == row["netsuite_internal_id"]
        ):
            row["status"] = ImportStatus.ALREADY
            row["message"] = "This pair is already linked; nothing to do."
        else:
            row["status"] = ImportStatus.CONFLICT
            row["message"] = f"Linked elsewhere: {describe_link(link)}."


def link_import_apply(*, link_import: LinkImport, user: Any) -> LinkImport:
    """Link the rows the preview found OK, each re-checked now (links may have changed since
    the preview); every row gets a result for the report."""
    with transaction.atomic():
        link_import = LinkImport.objects.select_for_update().get(pk=link_import.pk)
        if link_import.status == LinkImport.Status.APPLIED:
            raise ImportRejected("This import was already applied; upload the file again.")
        rows = link_import.rows
        for row in rows:
            if row["status"] != ImportStatus.OK:
                row["result"] = "not imported: " + ImportStatus.LABELS[row["status"]].lower()
                continue
            zuora = ZuoraRef(id=row["zuora_account_id"], number=row["zuora_account_number"])
            netsuite = NetSuiteRef(
                internal_id=row["netsuite_internal_id"], entity_id=row["netsuite_entity_id"]
            )
            try:
                record_link_save(
                    zuora=zuora,
                    netsuite=netsuite,
                    user=user,
                    action=LinkEvent.Action.IMPORTED,
                    note=f"CSV import {link_import.pk}, line {row['line']}",
                )
                row["result"] = "linked"
            except LinkRefused as exc:
                row["result"] = f"refused: {exc}"
        link_import.rows = rows
        link_import.status = LinkImport.Status.APPLIED
        link_import.applied_at = timezone.now()
        link_import.save(update_fields=["rows", "status", "applied_at"])
    return link_import


REPORT_COLUMNS = [
    "line",
    "zuora",
    "netsuite",
    "zuora_account_id",
    "zuora_account_number",
    "netsuite_internal_id",
    "netsuite_entity_id",
    "status",
    "message",
    "result",
]


def link_import_report_csv(link_import: LinkImport) -> str:
    out = io.StringIO()
    out.write(CSV_BOM)
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in link_import.rows:
        writer.writerow({k: csv_safe(row.get(k, "")) for k in REPORT_COLUMNS})
    return out.getvalue()
