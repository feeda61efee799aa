"""Match suggestions: probable pairs among unlinked records, found before the first sync.

Rules, strongest first: Zuora account number = NetSuite entityId; the same email (Zuora bill-to
work email, NetSuite customer email); the same normalised company name with the same postal
code; the same normalised name alone (weak). A candidate shared by several records is
ambiguous and loses confidence, so it never blocks the sync on its own."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.netsuite.client import NetSuiteClient
from connectors.zuora.client import ZuoraClient
from syncadmin.models import LinkEvent, MatchSuggestion, RecordLink
from syncadmin.services.connections import netsuite_client_build, zuora_client_build
from syncadmin.services.linking import (
    LinkRefused,
    NetSuiteRef,
    ZuoraRef,
    netsuite_customers_resolve,
    record_link_save,
    zuora_accounts_resolve,
)
from syncadmin.services.storable import make_storable

Rule = MatchSuggestion.Rule
CONFIDENCE = {Rule.NUMBER: 95, Rule.EMAIL: 85, Rule.NAME_POSTAL: 75, Rule.NAME: 45}
AMBIGUITY_PENALTY = 30

_LEGAL_SUFFIXES = {
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "sas",
    "bv",
    "nv",
    "plc",
    "pty",
    "srl",
    "spa",
    "oy",
    "ab",
    "as",
    "kk",
}


def normalise_name(name: str) -> str:
    """Lower case, no accents or punctuation, no legal form: "Wayne Corp." == "WAYNE corp"."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    text = re.sub(r"&", " and ", text.lower())
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def normalise_postal(code: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", (code or "").upper())


@dataclass
class _Zuora:
    ref: ZuoraRef
    postal: str


@dataclass
class _NetSuite:
    ref: NetSuiteRef
    postal: str


def _zuora_unlinked(client: ZuoraClient, linked: set[str]) -> list[_Zuora]:
    out = []
    for account in client.iter_accounts(["status.EQ:Active"]):
        if account["id"] in linked:
            continue
        bill_to = account.get("billTo") or {}
        ref = ZuoraRef(
            id=account["id"],
            number=account.get("accountNumber") or "",
            name=account.get("name") or "",
            email=(bill_to.get("workEmail") or "").strip(),
            status=account.get("status") or "",
        )
        out.append(_Zuora(ref, normalise_postal(bill_to.get("postalCode") or "")))
    return out


# Active NetSuite customers with their default billing postal code (Check setup runs it too).
ACTIVE_CUSTOMERS_QUERY = (
    "SELECT c.id, c.entityid, c.companyname, c.firstname, c.lastname, c.email, a.zip "
    "FROM customer c "
    "LEFT JOIN customeraddressbook ab ON ab.entity = c.id AND ab.defaultbilling = 'T' "
    "LEFT JOIN customeraddressbookentityaddress a ON a.nkey = ab.addressbookaddress "
    "WHERE c.isinactive = 'F' ORDER BY c.id"
)


def _netsuite_unlinked(client: NetSuiteClient, linked: set[str]) -> list[_NetSuite]:
    seen: set[str] = set()
    out = []
    for row in client.suiteql(ACTIVE_CUSTOMERS_QUERY):
        internal_id = str(row["id"])
        if internal_id in linked or internal_id in seen:
            continue
        seen.add(internal_id)
        name = row.get("companyname") or " ".join(
            p for p in (row.get("firstname"), row.get("lastname")) if p
        )
        ref = NetSuiteRef(
            internal_id=internal_id,
            entity_id=row.get("entityid") or "",
            name=name,
            email=(row.get("email") or "").strip(),
        )
        out.append(_NetSuite(ref, normalise_postal(row.get("zip") or "")))
    return out


def _index(items: Iterable[Any], key: Any) -> dict[str, list[Any]]:
    index: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        value = key(item)
        if value:
            index[value].append(item)
    return index


def find_matches(
    zuora: list[_Zuora], netsuite: list[_NetSuite]
) -> list[tuple[_Zuora, _NetSuite, str, int, str]]:
    """(zuora, netsuite, rule, confidence, reason) for each Zuora record's best rule."""
    rules = [
        (
            Rule.NUMBER,
            lambda z: z.ref.number.strip().upper(),
            lambda n: n.ref.entity_id.strip().upper(),
            lambda z, n: (
                f"Zuora account number {z.ref.number} = NetSuite entityId {n.ref.entity_id}"
            ),
        ),
        (
            Rule.EMAIL,
            lambda z: z.ref.email.lower(),
            lambda n: n.ref.email.lower(),
            lambda z, n: f"Same email {z.ref.email.lower()}",
        ),
        (
            Rule.NAME_POSTAL,
            lambda z: f"{normalise_name(z.ref.name)}|{z.postal}" if z.postal else "",
            lambda n: f"{normalise_name(n.ref.name)}|{n.postal}" if n.postal else "",
            lambda z, n: (
                f"Same company name “{normalise_name(z.ref.name)}” and postal code {z.postal}"
            ),
        ),
        (
            Rule.NAME,
            lambda z: normalise_name(z.ref.name),
            lambda n: normalise_name(n.ref.name),
            lambda z, n: (
                f"Same company name “{normalise_name(z.ref.name)}” (postal codes "
                "differ or are missing)"
            ),
        ),
    ]
    indexes = [(rule, zkey, _index(netsuite, nkey), reason) for rule, zkey, nkey, reason in rules]
    rivals = [Counter(zkey(z) for z in zuora) for _, zkey, _, _ in indexes]
    found = []
    for z in zuora:
        for (rule, zkey, by_key, reason), counts in zip(indexes, rivals, strict=True):
            key = zkey(z)
            candidates = by_key.get(key, []) if key else []
            if not candidates:
                continue
            for n in candidates:
                confidence = CONFIDENCE[rule]
                why = reason(z, n)
                if len(candidates) > 1 or counts[key] > 1:
                    # Several records share the key: a person must choose, but the pair is
                    # too uncertain to hold back the sync on its own.
                    confidence -= AMBIGUITY_PENALTY
                    why += f" (ambiguous: {len(candidates)} NetSuite, {counts[key]} Zuora)"
                found.append((z, n, rule, confidence, why))
            break
    return found


def match_suggestions_generate(
    *,
    zuora_client: ZuoraClient | None = None,
    netsuite_client: NetSuiteClient | None = None,
) -> dict[str, int]:
    """Read both systems and store a suggestion per probable pair of unlinked records.

    Pending suggestions are replaced by the fresh ones; approved and rejected ones are kept
    (a rejected pair is not suggested again)."""
    zuora_client = zuora_client or zuora_client_build()
    netsuite_client = netsuite_client or netsuite_client_build()
    linked_zuora = set(RecordLink.objects.values_list("zuora_account_id", flat=True))
    linked_netsuite = set(RecordLink.objects.values_list("netsuite_internal_id", flat=True))
    zuora = _zuora_unlinked(zuora_client, linked_zuora)
    netsuite = _netsuite_unlinked(netsuite_client, linked_netsuite)
    matches = find_matches(zuora, netsuite)
    with transaction.atomic():
        # A pair a cross-reference field names (found by the sync itself) stays until reviewed.
        MatchSuggestion.objects.filter(status=MatchSuggestion.Status.PENDING).exclude(
            rule=Rule.CROSS_REFERENCE
        ).delete()
        reviewed = set(
            MatchSuggestion.objects.values_list("zuora_account_id", "netsuite_internal_id")
        )
        fresh = [
            MatchSuggestion(
                zuora_account_id=z.ref.id,
                zuora_account_number=z.ref.number,
                zuora_name=z.ref.name[:255],
                netsuite_internal_id=n.ref.internal_id,
                netsuite_entity_id=n.ref.entity_id,
                netsuite_name=n.ref.name[:255],
                rule=rule,
                confidence=confidence,
                strong=confidence >= MatchSuggestion.STRONG_CONFIDENCE,
                reason=reason[:255],
            )
            for z, n, rule, confidence, reason in matches
            if (z.ref.id, n.ref.internal_id) not in reviewed
        ]
        for suggestion in fresh:
            make_storable(suggestion)
        MatchSuggestion.objects.bulk_create(fresh, batch_size=500)
    return {
        "zuora_unlinked": len(zuora),
        "netsuite_unlinked": len(netsuite),
        "suggestions": len(fresh),
        "strong": sum(1 for s in fresh if s.strong),
    }


def match_suggestions_approve(
    *,
    suggestions: Iterable[MatchSuggestion],
    user: Any,
    zuora_client: ZuoraClient | None = None,
    netsuite_client: NetSuiteClient | None = None,
) -> tuple[list[MatchSuggestion], list[tuple[MatchSuggestion, str]]]:
    """Link each pending suggestion's pair (ids re-checked against the systems in bulk).
    Returns (linked, refused with the reason)."""
    pending = [s for s in suggestions if s.status == MatchSuggestion.Status.PENDING]
    zuora = zuora_accounts_resolve([s.zuora_account_id for s in pending], client=zuora_client)
    netsuite = netsuite_customers_resolve(
        [s.netsuite_internal_id for s in pending], client=netsuite_client
    )
    linked: list[MatchSuggestion] = []
    refused: list[tuple[MatchSuggestion, str]] = []
    for suggestion in pending:
        suggestion.refresh_from_db()
        if suggestion.status != MatchSuggestion.Status.PENDING:
            refused.append((suggestion, f"already {suggestion.get_status_display().lower()}"))
            continue
        z = zuora.get(suggestion.zuora_account_id)
        n = netsuite.get(suggestion.netsuite_internal_id)
        if z is None or n is None:
            refused.append((suggestion, "one of the records no longer exists"))
            continue
        try:
            record_link_save(
                zuora=z,
                netsuite=n,
                user=user,
                action=LinkEvent.Action.MATCHED,
                note=suggestion.reason,
            )
        except LinkRefused as exc:
            refused.append((suggestion, str(exc)))
            continue
        linked.append(suggestion)
    return linked, refused


def match_suggestions_reject(*, suggestions: Iterable[MatchSuggestion], user: Any) -> int:
    """Mark pairs as not the same customer: the sync may then create the record."""
    ids = [s.pk for s in suggestions if s.status == MatchSuggestion.Status.PENDING]
    return MatchSuggestion.objects.filter(pk__in=ids).update(
        status=MatchSuggestion.Status.REJECTED,
        reviewed_by=user if getattr(user, "pk", None) else None,
        reviewed_at=timezone.now(),
    )
