"""Reads of the finance admin's inbox: the open problems, a record's history across runs, why a
parent outside a run is not in the destination, and where a record opens in the vendors' UIs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from syncadmin.models import (
    AccountResult,
    Direction,
    IgnoredAccount,
    NetSuiteConnection,
    Outcome,
    RecordLink,
    ZuoraConnection,
)

OPEN_OUTCOMES = (Outcome.FAILED, Outcome.NEEDS_REVIEW)


def open_problems(*, rows: QuerySet | None = None) -> QuerySet:
    """One row per source record whose latest result (in its run's direction) failed or waits
    for review, and that nobody ignored or linked since: the finance admin's inbox.

    Each row is that latest AccountResult, annotated with `direction`, `attempts` (results in
    a row that failed or waited, this one included) and `failing_since` (the first of them).
    Every test is an indexed subquery on (source_id, id), so a page stays a handful of queries
    whatever the history. `rows` is the base queryset (the admin passes its proxy model's)."""
    rows = AccountResult.objects.all() if rows is None else rows
    same_record = {"source_id": OuterRef("source_id"), "run__direction": OuterRef("direction")}
    newer = AccountResult.objects.filter(**same_record, id__gt=OuterRef("id"))
    ignored = IgnoredAccount.objects.filter(
        direction=OuterRef("direction"), source_id=OuterRef("source_id")
    )
    linked_since = {"linked_at__gt": OuterRef("created_at")}
    linked_zuora = RecordLink.objects.filter(zuora_account_id=OuterRef("source_id"), **linked_since)
    linked_netsuite = RecordLink.objects.filter(
        netsuite_internal_id=OuterRef("source_id"), **linked_since
    )
    last_settled = (
        AccountResult.objects.filter(**same_record, id__lt=OuterRef("id"))
        .exclude(outcome__in=OPEN_OUTCOMES)
        .order_by("-id")
        .values("id")[:1]
    )
    streak = AccountResult.objects.filter(
        **same_record, id__gt=OuterRef("last_settled_id"), id__lte=OuterRef("id")
    ).order_by()
    return (
        rows.filter(outcome__in=OPEN_OUTCOMES)
        .annotate(direction=F("run__direction"))
        .exclude(Exists(newer))
        .exclude(Exists(ignored))
        .exclude(
            Q(Exists(linked_zuora), direction=Direction.ZUORA_TO_NETSUITE)
            | Q(Exists(linked_netsuite), direction=Direction.NETSUITE_TO_ZUORA)
        )
        .annotate(last_settled_id=Coalesce(Subquery(last_settled), Value(0)))
        .annotate(
            attempts=Subquery(streak.values("source_id").annotate(n=Count("id")).values("n")[:1]),
            failing_since=Subquery(streak.order_by("id").values("created_at")[:1]),
        )
    )


def open_problem_counts(problems: QuerySet) -> list[tuple[str, int]]:
    """(error code, open problems) most frequent first; waiting for review counts as REVIEW."""
    counts: dict[str, int] = {}
    for code, outcome, n in (
        problems.order_by().values_list("error_code", "outcome").annotate(n=Count("id"))
    ):
        key = code or ("NEEDS_REVIEW" if outcome == Outcome.NEEDS_REVIEW else "OTHER")
        counts[key] = counts.get(key, 0) + n
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def record_history(result: AccountResult, *, limit: int = 50) -> list[AccountResult]:
    """Every result of the same source record in the same direction, newest first."""
    return list(
        AccountResult.objects.filter(
            source_id=result.source_id, run__direction=result.run.direction
        )
        .select_related("run")
        .order_by("-id")[:limit]
    )


def parent_root_causes(*, direction: str, parent_ids: list[str]) -> dict[str, str]:
    """Why each parent outside a run is not in the destination, from its latest result in an
    earlier run: {parent source id: message}, naming it by number and name, with the date of
    the run that found the cause. Parents with no earlier result are left out."""
    record, destination = (
        ("account", "NetSuite")
        if direction == Direction.ZUORA_TO_NETSUITE
        else ("customer", "Zuora")
    )
    latest: dict[str, AccountResult] = {}
    for start in range(0, len(parent_ids), 500):
        for result in (
            AccountResult.objects.filter(
                source_id__in=parent_ids[start : start + 500], run__direction=direction
            )
            .select_related("run")
            .order_by("id")
        ):
            latest[result.source_id] = result
    messages: dict[str, str] = {}
    for parent_id, result in latest.items():
        name = record_label(result)
        when = timezone.localtime(result.run.started_at).strftime("%-d %b %H:%M")
        if result.outcome == Outcome.SKIPPED and result.reason:
            cause = result.reason
        elif result.outcome in OPEN_OUTCOMES:
            detail = result.error_message or result.reason
            cause = f"it {result.get_outcome_display().lower()}: {detail}"
        else:
            cause = "it has not synced yet (not linked)"
        messages[parent_id] = (
            f"Parent {record} {name} is not in {destination}: {cause.rstrip('.')} "
            f"(as of the run of {when}). Sync or link the parent first."
        )
    return messages


def record_label(result: AccountResult) -> str:
    """ "A00000023 (Oceanic Ltd 23)": a record by number and name, its id when it has neither."""
    number = result.source_number or result.source_id
    return f"{number} ({result.source_name})" if result.source_name else number


@dataclass(frozen=True)
class VendorUrls:
    """Where a record opens in the Zuora and NetSuite UIs, from the connections (read once)."""

    zuora_origin: str
    netsuite_account: str

    def zuora_account(self, account_id: str) -> str:
        if not (account_id and self.zuora_origin):
            return ""
        return f"{self.zuora_origin}/apps/CustomerAccount.do?method=view&id={account_id}"

    def netsuite_customer(self, internal_id: str) -> str:
        if not (internal_id and self.netsuite_account):
            return ""
        host = self.netsuite_account.lower().replace("_", "-")
        return f"https://{host}.app.netsuite.com/app/common/entity/custjob.nl?id={internal_id}"


def vendor_urls() -> VendorUrls:
    """The UI addresses of the connected tenants. Zuora's UI is its REST host without "rest."
    (rest.na.zuora.com -> na.zuora.com, rest.zuora.com -> www.zuora.com); a local sandbox
    serves both on one address."""
    base = ZuoraConnection.load().base_url
    origin = ""
    if base:
        parts = urlsplit(base)
        host = parts.hostname or ""
        if host.startswith("rest."):
            host = host.removeprefix("rest.")
            origin = "https://" + ("www.zuora.com" if host == "zuora.com" else host)
        else:
            origin = f"{parts.scheme}://{parts.netloc}"
    return VendorUrls(zuora_origin=origin, netsuite_account=NetSuiteConnection.load().account_id)
