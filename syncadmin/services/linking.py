"""Finding records in the live systems and linking records that already exist on both sides
(by hand here; from a CSV in link_import, from approved matches in matching).

Every id is checked against the live systems before a link is stored, a record already linked
elsewhere is refused with a message naming the other link, and every link and unlink leaves a
LinkEvent (who, when)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.http import ApiError
from connectors.netsuite.client import NetSuiteClient
from connectors.zuora.client import ZuoraClient
from syncadmin.models import LinkEvent, MatchSuggestion, RecordLink
from syncadmin.services.connections import netsuite_client_build, zuora_client_build
from syncadmin.services.storable import make_storable

SEARCH_LIMIT = 20
_CHUNK = 50
_ZUORA_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class LinkRefused(Exception):
    """The pair cannot be linked; the message says why and what to do."""


@dataclass(frozen=True)
class ZuoraRef:
    id: str
    number: str = ""
    name: str = ""
    email: str = ""
    status: str = ""

    @property
    def label(self) -> str:
        return f"{self.number} · {self.name}" + (f" · {self.email}" if self.email else "")


@dataclass(frozen=True)
class NetSuiteRef:
    internal_id: str
    entity_id: str = ""
    name: str = ""
    email: str = ""

    @property
    def label(self) -> str:
        return f"{self.entity_id} · {self.name}" + (f" · {self.email}" if self.email else "")


# -- reading the live systems ---------------------------------------------------------------------
def _zuora_ref(account: dict[str, Any]) -> ZuoraRef:
    bill_to = account.get("billTo") or {}
    return ZuoraRef(
        id=account["id"],
        number=account.get("accountNumber") or "",
        name=account.get("name") or "",
        email=bill_to.get("workEmail") or "",
        status=account.get("status") or "",
    )


def _netsuite_ref(row: dict[str, Any]) -> NetSuiteRef:
    name = row.get("companyname") or " ".join(
        p for p in (row.get("firstname"), row.get("lastname")) if p
    )
    return NetSuiteRef(
        internal_id=str(row["id"]),
        entity_id=row.get("entityid") or "",
        name=name,
        email=row.get("email") or "",
    )


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list_safe(value: str) -> bool:
    # An Object Query IN list is split on commas and brackets; such keys are looked up alone.
    return bool(value) and not any(c in value for c in ",[]'\"")


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_NS_COLUMNS = "id, entityid, companyname, firstname, lastname, email"


def zuora_accounts_resolve(
    keys: Iterable[str], *, client: ZuoraClient | None = None
) -> dict[str, ZuoraRef]:
    """Zuora accounts by id or account number, looked up in bulk; unknown keys are absent."""
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    if not wanted:
        return {}
    client = client or zuora_client_build()
    found: dict[str, ZuoraRef] = {}
    listable = [k for k in wanted if _in_list_safe(k)]
    for field_name in ("id", "accountnumber"):
        for chunk in _chunks([k for k in listable if k not in found]):
            for account in client.iter_accounts([f"{field_name}.IN:[{','.join(chunk)}]"]):
                ref = _zuora_ref(account)
                for key in (ref.id, ref.number):
                    if key in chunk:
                        found[key] = ref
    for key in wanted:
        if key not in found and not _in_list_safe(key):
            for account in client.iter_accounts([f"accountnumber.EQ:{key}"]):
                found[key] = _zuora_ref(account)
    return found


def netsuite_customers_resolve(
    keys: Iterable[str], *, client: NetSuiteClient | None = None
) -> dict[str, NetSuiteRef]:
    """NetSuite customers by internal id (digits) or entityId, in bulk; unknown keys absent."""
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    if not wanted:
        return {}
    client = client or netsuite_client_build()
    found: dict[str, NetSuiteRef] = {}
    for chunk in _chunks(wanted, 200):
        ids = [k for k in chunk if k.isdigit()]
        where = [f"entityid IN ({', '.join(_sql(k) for k in chunk)})"]
        if ids:
            where.append(f"id IN ({', '.join(ids)})")
        query = f"SELECT {_NS_COLUMNS} FROM customer WHERE {' OR '.join(where)} ORDER BY id"
        for row in client.suiteql(query):
            ref = _netsuite_ref(row)
            # An internal id wins over an entityId that happens to be the same digits.
            if ref.internal_id in chunk:
                found[ref.internal_id] = ref
            if ref.entity_id in chunk and ref.entity_id not in found:
                found[ref.entity_id] = ref
    return found


def zuora_accounts_search(
    query: str, *, client: ZuoraClient | None = None, limit: int = SEARCH_LIMIT
) -> list[ZuoraRef]:
    """Live Zuora search by id, account number, name (starts with) or bill-to email."""
    text = query.strip()
    if not text:
        return []
    client = client or zuora_client_build()
    results: dict[str, ZuoraRef] = {}

    def add(accounts: Iterable[dict[str, Any]]) -> None:
        for account in islice(accounts, limit):
            results.setdefault(account["id"], _zuora_ref(account))

    if _ZUORA_ID_RE.match(text.lower()):
        add(client.iter_accounts([f"id.EQ:{text.lower()}"], page_size=limit))
    if "@" in text:
        account_ids = [
            c["accountId"]
            for c in islice(client.iter_contacts([f"workemail.EQ:{text}"], page_size=limit), limit)
            if c.get("accountId")
        ]
        if account_ids:
            add(client.iter_accounts_by_ids(account_ids, page_size=limit))
    else:
        add(client.iter_accounts([f"accountnumber.EQ:{text}"], page_size=limit))
        add(client.iter_accounts([f"accountnumber.SW:{text}"], page_size=limit))
        add(client.iter_accounts([f"name.SW:{text}"], page_size=limit))
        if text != text.title():
            # Object Query compares case-sensitively; finance users type names in any case.
            add(client.iter_accounts([f"name.SW:{text.title()}"], page_size=limit))
    return list(results.values())[:limit]


def netsuite_customers_search(
    query: str, *, client: NetSuiteClient | None = None, limit: int = SEARCH_LIMIT
) -> list[NetSuiteRef]:
    """Live NetSuite search (SuiteQL) by internal id, entityId, name or email."""
    text = query.strip().replace("%", "").replace("_", " ").strip()
    if not text:
        return []
    client = client or netsuite_client_build()
    upper = _sql(text.upper())
    like = _sql(f"%{text.upper()}%")
    where = [
        f"UPPER(entityid) = {upper}",
        f"UPPER(entityid) LIKE {_sql(text.upper() + '%')}",
        f"UPPER(companyname) LIKE {like}",
        f"UPPER(firstname || ' ' || lastname) LIKE {like}",
        f"UPPER(email) = {upper}",
    ]
    if text.isdigit():
        where.insert(0, f"id = {int(text)}")
    sql = (
        f"SELECT {_NS_COLUMNS} FROM customer WHERE isinactive = 'F' AND ({' OR '.join(where)}) "
        "ORDER BY id"
    )
    return [_netsuite_ref(row) for row in islice(client.suiteql(sql, page_size=limit), limit)]


# -- links ----------------------------------------------------------------------------------------
_ORIGIN = {
    LinkEvent.Action.LINKED: RecordLink.Origin.MANUAL,
    LinkEvent.Action.IMPORTED: RecordLink.Origin.MANUAL,
    LinkEvent.Action.MATCHED: RecordLink.Origin.MATCHED,
}


def describe_link(link: RecordLink) -> str:
    who = f" by {link.linked_by.get_username()}" if link.linked_by_id and link.linked_by else ""
    return (
        f"Zuora account {link.zuora_account_number or link.zuora_account_id} ↔ NetSuite customer "
        f"{link.netsuite_entity_id or '?'} (internal id {link.netsuite_internal_id}), "
        f"{link.get_origin_display().lower()}{who} on {link.linked_at:%Y-%m-%d %H:%M} UTC"
    )


def link_conflict(zuora_account_id: str, netsuite_internal_id: str) -> tuple[str, str] | None:
    """("already_linked" | "conflicting", message) when the pair cannot be linked, else None."""
    existing = list(
        RecordLink.objects.filter(
            Q(zuora_account_id=zuora_account_id) | Q(netsuite_internal_id=netsuite_internal_id)
        ).select_related("linked_by")
    )
    for link in existing:
        if (
            link.zuora_account_id == zuora_account_id
            and link.netsuite_internal_id == netsuite_internal_id
        ):
            return "already_linked", f"Already linked: {describe_link(link)}."
    for link in existing:
        side = (
            f"Zuora account {link.zuora_account_number or zuora_account_id}"
            if link.zuora_account_id == zuora_account_id
            else f"NetSuite customer {link.netsuite_entity_id or netsuite_internal_id}"
        )
        return (
            "conflicting",
            f"{side} is already linked elsewhere: {describe_link(link)}. Unlink that pair "
            "first if it is wrong.",
        )
    return None


def record_link_save(
    *, zuora: ZuoraRef, netsuite: NetSuiteRef, user: Any, action: str, note: str = ""
) -> RecordLink:
    """Store the link of two records already checked against the live systems; raises
    LinkRefused when either is linked already."""
    conflict = link_conflict(zuora.id, netsuite.internal_id)
    if conflict:
        raise LinkRefused(conflict[1])
    user = user if getattr(user, "pk", None) else None
    try:
        with transaction.atomic():
            link = RecordLink(
                zuora_account_id=zuora.id,
                zuora_account_number=zuora.number,
                netsuite_internal_id=netsuite.internal_id,
                netsuite_entity_id=netsuite.entity_id,
                origin=_ORIGIN[action],
                linked_by=user,
                linked_at=timezone.now(),
                # The next run writes the cross-reference fields on both sides.
                writeback_pending=True,
            )
            make_storable(link)
            link.save(force_insert=True)
            event = LinkEvent(
                action=action,
                zuora_account_id=zuora.id,
                zuora_account_number=zuora.number,
                netsuite_internal_id=netsuite.internal_id,
                netsuite_entity_id=netsuite.entity_id,
                user=user,
                note=note[:255],
            )
            make_storable(event)
            event.save(force_insert=True)
            _suggestions_settle(zuora.id, netsuite.internal_id, user=user)
    except IntegrityError as exc:  # linked by someone else a moment ago
        conflict = link_conflict(zuora.id, netsuite.internal_id)
        raise LinkRefused(
            conflict[1] if conflict else "One of the records was just linked."
        ) from exc
    return link


def _suggestions_settle(zuora_account_id: str, netsuite_internal_id: str, *, user: Any) -> None:
    """Once a pair is linked, suggestions naming either record are settled: the exact pair is
    approved, any other pair involving one of them is superseded."""
    now = timezone.now()
    pending = MatchSuggestion.objects.filter(status=MatchSuggestion.Status.PENDING)
    pending.filter(
        zuora_account_id=zuora_account_id, netsuite_internal_id=netsuite_internal_id
    ).update(status=MatchSuggestion.Status.APPROVED, reviewed_by=user, reviewed_at=now)
    pending.filter(
        Q(zuora_account_id=zuora_account_id) | Q(netsuite_internal_id=netsuite_internal_id)
    ).update(status=MatchSuggestion.Status.SUPERSEDED, reviewed_by=user, reviewed_at=now)


def record_link_create(
    *,
    zuora_key: str,
    netsuite_key: str,
    user: Any,
    action: str = LinkEvent.Action.LINKED,
    zuora_client: ZuoraClient | None = None,
    netsuite_client: NetSuiteClient | None = None,
) -> RecordLink:
    """Link a Zuora account (id or number) to a NetSuite customer (internal id or entityId)
    after checking both exist; raises LinkRefused with the reason otherwise."""
    try:
        zuora = zuora_accounts_resolve([zuora_key], client=zuora_client).get(zuora_key.strip())
        netsuite = netsuite_customers_resolve([netsuite_key], client=netsuite_client).get(
            netsuite_key.strip()
        )
    except ApiError as exc:
        raise LinkRefused(f"Could not check the ids against the systems: {exc}") from exc
    if zuora is None:
        raise LinkRefused(f"Zuora has no account with id or number {zuora_key!r}.")
    if netsuite is None:
        raise LinkRefused(
            f"NetSuite has no customer with internal id or entityId {netsuite_key!r}."
        )
    return record_link_save(zuora=zuora, netsuite=netsuite, user=user, action=action)


def record_link_delete(*, link: RecordLink, user: Any, note: str = "") -> LinkEvent:
    """Remove a link, keeping who unlinked it, when, and why (`note`)."""
    with transaction.atomic():
        event = LinkEvent.objects.create(
            action=LinkEvent.Action.UNLINKED,
            zuora_account_id=link.zuora_account_id,
            zuora_account_number=link.zuora_account_number,
            netsuite_internal_id=link.netsuite_internal_id,
            netsuite_entity_id=link.netsuite_entity_id,
            user=user if getattr(user, "pk", None) else None,
            note=note.strip()[: LinkEvent._meta.get_field("note").max_length],
        )
        link.delete()
    return event
