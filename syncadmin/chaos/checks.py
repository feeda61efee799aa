"""The checks of the trials: duplicates, lost and damaged records, a run with nothing left
to write, runs left running."""

from __future__ import annotations

from collections import Counter
from typing import Any

from syncadmin.chaos.options import HAND_ADDR2, HAND_LINE_ADDR1, HAND_LINE_LABEL


def wrote_nothing(run: Any) -> bool:
    """A finished run with nothing left to write, and no account failed for a passing cause."""
    from syncadmin.models import AccountResult

    if run.status not in ("succeeded", "partly_failed"):
        return False
    if run.created or run.updated or run.linked:
        return False
    return not AccountResult.objects.filter(run=run, outcome="failed", retryable=True).exists()


def runs_left_running() -> list[str]:
    from syncadmin.models import SyncRun

    return [
        f"run {run.pk} started {run.started_at:%H:%M:%S}, {run.processed} accounts recorded"
        for run in SyncRun.objects.filter(status="running").order_by("pk")
    ]


def duplicates(stands_for: dict[str, str | None]) -> list[str]:
    """Sources with more than one destination record, and destination records that stand for
    no source record (`stands_for`: destination id -> source key, None for none)."""
    per_source = Counter(s for s in stands_for.values() if s is not None)
    found = [
        f"{count} destination records for source {key}"
        for key, count in sorted(per_source.items())
        if count > 1
    ]
    strays = sorted(d for d, s in stands_for.items() if s is None)
    found += [f"destination {destination} stands for no source record" for destination in strays]
    return found


def lost(
    expected: set[str],
    sources: dict[str, Any],
    links: dict[str, str],
    destinations: dict[str, Any],
) -> list[str]:
    """Expected source records gone, without a link, or linked to a missing destination."""
    found = []
    for key in sorted(expected):
        destination = links.get(key)
        if key not in sources:
            found.append(f"source {key} is gone from the source system")
        elif destination is None:
            found.append(f"source {key} has no link")
        elif destination not in destinations:
            found.append(f"source {key} is linked to {destination}, which is missing")
    return found


def hand_kept_data_lost(
    master: str, book: list[dict[str, Any]], zuora_account: dict[str, Any] | None
) -> list[str]:
    """What a record lost of the data kept by hand: the NetSuite address line (both
    directions), and the second address line on the destination (NetSuite's billing line
    when Zuora is the master, the Zuora account's bill-to contact when NetSuite is)."""
    problems = []
    if not any(
        line["label"] == HAND_LINE_LABEL
        and line["addressBookAddress"].get("addr1") == HAND_LINE_ADDR1
        for line in book
    ):
        problems.append(f"the address line {HAND_LINE_LABEL!r} is gone")
    if master == "zuora":
        if not any(line["addressBookAddress"].get("addr2") == HAND_ADDR2 for line in book):
            problems.append(f"address line 2 {HAND_ADDR2!r} was blanked")
    elif (
        zuora_account is not None
        and (zuora_account.get("billTo") or {}).get("address2") != HAND_ADDR2
    ):
        problems.append(
            f"on its Zuora account {zuora_account.get('accountNumber')}, bill-to address "
            f"line 2 {HAND_ADDR2!r} was blanked"
        )
    return problems
