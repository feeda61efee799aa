"""Cross-references the sync did not make: a record that names another one it does not own.

A Zuora account's IntegrationId__NS, or a NetSuite customer's Zuora ID field, may name a record
this sync never made or linked (a typo, a copied record, an old integration). Linking to it
automatically would overwrite an unrelated record, so the engines link by cross-reference only
when both sides agree: the destination points back at the source (the NetSuite customer's
external id or Zuora ID field is the account, or the Zuora account's IntegrationId__NS is the
customer), which is also what a create of ours that crashed before its link was stored leaves.
Any other pair waits for a person as a match suggestion, and nothing is written meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from syncadmin.models import Direction, MatchSuggestion

CONFIDENCE = 90  # strong: while pending, the sync neither links nor creates the source record


@dataclass(frozen=True)
class StrayReference:
    """A source record whose cross-reference names a destination that does not point back."""

    direction: str
    zuora_account_id: str
    zuora_account_number: str
    zuora_name: str
    netsuite_internal_id: str
    netsuite_entity_id: str
    netsuite_name: str

    @property
    def source_id(self) -> str:
        if self.direction == Direction.ZUORA_TO_NETSUITE:
            return self.zuora_account_id
        return self.netsuite_internal_id

    @property
    def zuora_label(self) -> str:
        return _label(self.zuora_account_number or self.zuora_account_id, self.zuora_name)

    @property
    def netsuite_label(self) -> str:
        return _label(self.netsuite_entity_id or self.netsuite_internal_id, self.netsuite_name)

    def suggestion_reason(self) -> str:
        if self.direction == Direction.ZUORA_TO_NETSUITE:
            text = "The Zuora account's IntegrationId__NS names this customer"
        else:
            text = "The NetSuite customer's Zuora ID field names this account"
        return f"{text}, which does not point back"

    def review_reason(self) -> str:
        if self.direction == Direction.ZUORA_TO_NETSUITE:
            text = (
                f"Needs review: Zuora account {self.zuora_label} names NetSuite customer "
                f"{self.netsuite_label} in IntegrationId__NS, which does not point back."
            )
        else:
            text = (
                f"Needs review: NetSuite customer {self.netsuite_label} names Zuora account "
                f"{self.zuora_label} in its Zuora ID field, which does not point back."
            )
        # The result's reason holds 255 characters: the names come first.
        return (
            f"{text} Nothing was written; approve (link) or reject the pair under Match "
            "suggestions."
        )[:255]


def _label(number: str, name: str) -> str:
    return f"{number} ({name})" if name else number


def stray_references_review(
    strays: Iterable[StrayReference], *, suggest: bool = True
) -> dict[str, str]:
    """{source id: "needs review" reason} for each stray cross-reference still waiting for a
    person, with a pending strong match suggestion for the pair (unless not `suggest`: a dry
    run) so an admin can approve it (which links the two) or reject it. A source whose pair was
    rejected is left out: its cross-reference is wrong, so the engine treats it as having no
    destination yet."""
    strays = list(strays)
    if not strays:
        return {}
    pairs = {(s.zuora_account_id, s.netsuite_internal_id): s for s in strays}
    known: dict[tuple[str, str], str] = {}
    zuora_ids = sorted({z for z, _ in pairs})
    for start in range(0, len(zuora_ids), 500):
        for z, n, status in MatchSuggestion.objects.filter(
            zuora_account_id__in=zuora_ids[start : start + 500]
        ).values_list("zuora_account_id", "netsuite_internal_id", "status"):
            known[(z, n)] = status
    review: dict[str, str] = {}
    for pair, stray in pairs.items():
        status = known.get(pair)
        if status == MatchSuggestion.Status.REJECTED:
            continue
        if suggest and status != MatchSuggestion.Status.PENDING:
            _suggest(stray, replace=status is not None)
        review[stray.source_id] = stray.review_reason()
    return review


def _suggest(stray: StrayReference, *, replace: bool) -> None:
    values = {
        "zuora_account_number": stray.zuora_account_number[:64],
        "zuora_name": stray.zuora_name[:255],
        "netsuite_entity_id": stray.netsuite_entity_id[:100],
        "netsuite_name": stray.netsuite_name[:255],
        "rule": MatchSuggestion.Rule.CROSS_REFERENCE,
        "confidence": CONFIDENCE,
        "strong": True,
        "reason": stray.suggestion_reason()[:255],
        "status": MatchSuggestion.Status.PENDING,
        "reviewed_by": None,
        "reviewed_at": None,
    }
    pair = {
        "zuora_account_id": stray.zuora_account_id,
        "netsuite_internal_id": stray.netsuite_internal_id,
    }
    try:
        with transaction.atomic():
            if replace:
                # Approved or superseded once, yet unlinked again now: it needs a look again.
                MatchSuggestion.objects.filter(**pair).update(**values)
            else:
                MatchSuggestion.objects.create(**pair, **values)
    except IntegrityError:
        pass  # suggested a moment ago by a match generation: that one stands
