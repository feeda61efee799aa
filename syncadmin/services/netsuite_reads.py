"""What the Zuora → NetSuite sync reads from NetSuite besides writing: the reference lists a
payload needs, and the customers that already carry a Zuora account's id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from connectors.http import ApiError
from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import NetSuiteClient
from connectors.zuora import fields as z_fields
from syncadmin.mapping import NetSuiteLookups
from syncadmin.models import Direction
from syncadmin.services.crossref import StrayReference

logger = logging.getLogger(__name__)

# Accounts per existence lookup (one SuiteQL query; Oracle's IN list takes up to 1000 items).
LOOKUP_CHUNK = 1000
# An initial sync reads the NetSuite customers that may carry a Zuora id while it waits for
# Zuora's first page, if one SuiteQL page holds them all: the first batch's existence check
# then needs no call of its own, and the first writes go a round trip sooner.
CANDIDATES_PER_PAGE = 1000
# A Zuora account id is 32 hexadecimal characters: external ids of any other length (a CRM's,
# say) are not candidates. Should one be missed, the create is still an upsert by external id,
# so it updates that customer rather than making a second one.
ZUORA_ID_LENGTH = 32


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


REFERENCE_QUERY = (
    "SELECT 'currency' AS kind, id, symbol AS name, isbasecurrency AS base FROM currency"
    " UNION ALL SELECT 'term' AS kind, id, name, 'F' AS base FROM term"
    " UNION ALL SELECT 'subsidiary' AS kind, id, fullname AS name, 'F' AS base FROM subsidiary"
    " ORDER BY kind, id"
)


def netsuite_lookups(netsuite: NetSuiteClient) -> NetSuiteLookups:
    """NetSuite's currencies, terms and subsidiaries, in one SuiteQL call."""
    rows: dict[str, list[dict[str, str]]] = {"currency": [], "term": [], "subsidiary": []}
    for row in netsuite.suiteql(REFERENCE_QUERY):
        rows.setdefault(row.get("kind", ""), []).append(row)
    currencies = rows["currency"]
    base = next(
        (c["id"] for c in currencies if c.get("base") == "T"),
        currencies[0]["id"] if currencies else None,
    )
    return NetSuiteLookups(
        currencies={c["name"].upper(): c["id"] for c in currencies if c.get("name")},
        terms={t["name"]: t["id"] for t in rows["term"] if t.get("name")},
        subsidiaries={s["name"]: s["id"] for s in rows["subsidiary"] if s.get("name")},
        default_currency_id=base,
    )


EXISTING_CUSTOMERS_QUERY = (
    f"SELECT id, entityid, externalid, {ns_fields.ZUORA_ID}, companyname, firstname, lastname"
    " FROM customer"
)


def _keep_match(
    found: dict[str, dict[str, str]],
    row: dict[str, str],
    wanted: set[str],
    by_integration_id: dict[str, str],
) -> None:
    """File a customer row under the wanted Zuora account it carries (external id first, then
    the Zuora ID field) or that names it in IntegrationId__NS; the first row per account wins."""
    zuora_id = next(
        (c for c in (row.get("externalid"), row.get(ns_fields.ZUORA_ID)) if c in wanted),
        by_integration_id.get(row["id"]),
    )
    # A customer that points back at the account beats one the account merely names.
    if zuora_id and (zuora_id not in found or not points_back(found[zuora_id], zuora_id)):
        found[zuora_id] = row


def points_back(row: dict[str, str], zuora_id: str) -> bool:
    """Whether a NetSuite customer row carries this Zuora account id (as its external id, which
    our creates set, or in its Zuora ID field): only then may the sync link it unasked."""
    return zuora_id in (row.get("externalid"), row.get(ns_fields.ZUORA_ID))


def stray_reference(account: dict[str, Any], row: dict[str, str]) -> StrayReference:
    person = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
    return StrayReference(
        direction=Direction.ZUORA_TO_NETSUITE,
        zuora_account_id=account["id"],
        zuora_account_number=account.get("accountNumber") or "",
        zuora_name=account.get("name") or "",
        netsuite_internal_id=str(row["id"]),
        netsuite_entity_id=row.get("entityid") or "",
        netsuite_name=row.get("companyname") or person,
    )


def existing_customers(
    netsuite: NetSuiteClient,
    accounts: list[dict[str, Any]],
    *,
    candidates: list[dict[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """NetSuite customers that already carry one of these Zuora accounts' ids (as external
    id or in the Zuora ID field), or that the account's IntegrationId__NS names: a create
    that died before its link was stored, or records linked by the incumbent. With
    `candidates` (every customer that may carry a Zuora id, just read), without a call."""
    found: dict[str, dict[str, str]] = {}
    by_integration_id = {
        str(a[z_fields.INTEGRATION_ID]): a["id"] for a in accounts if a.get(z_fields.INTEGRATION_ID)
    }
    if candidates is not None and not by_integration_id:
        wanted = {a["id"] for a in accounts}
        for row in candidates:
            _keep_match(found, row, wanted, by_integration_id)
        return found
    ids = [a["id"] for a in accounts]
    for chunk in _chunks(ids, LOOKUP_CHUNK):
        wanted = set(chunk)
        quoted = ", ".join(_quote(i) for i in chunk)
        integration = [n for n, zid in by_integration_id.items() if zid in wanted]
        where = f"externalid IN ({quoted}) OR {ns_fields.ZUORA_ID} IN ({quoted})"
        if integration:
            where += f" OR id IN ({', '.join(_quote(n) for n in integration)})"
        for row in netsuite.suiteql(f"{EXISTING_CUSTOMERS_QUERY} WHERE {where} ORDER BY id"):
            _keep_match(found, row, wanted, by_integration_id)
    return found


def candidate_customers(netsuite: NetSuiteClient) -> list[dict[str, str]] | None:
    """Every NetSuite customer that may carry a Zuora account's id, if one page holds
    them all (None otherwise, or if the read failed: each batch then asks for its own)."""
    where = f"LENGTH(externalid) = {ZUORA_ID_LENGTH} OR {ns_fields.ZUORA_ID} IS NOT NULL"
    try:
        rows, more = netsuite.suiteql_first_page(
            f"{EXISTING_CUSTOMERS_QUERY} WHERE {where} ORDER BY id", page_size=CANDIDATES_PER_PAGE
        )
    except ApiError as exc:
        logger.info("Reading the candidates for the first existence check failed: %s", exc)
        return None
    return None if more else rows
