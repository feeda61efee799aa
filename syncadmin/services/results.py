"""Acting on account results: retry them now, take their accounts out of the sync and back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from syncadmin.models import AccountResult, IgnoredAccount, SyncPreferences, SyncRun
from syncadmin.selectors import ignored_source_ids
from syncadmin.services.runs import sync_run_queue

RETRY_MAX_ACCOUNTS = 1000


@dataclass
class RetryReport:
    task_id: str | None = None
    account_ids: list[str] = field(default_factory=list)
    other_direction: int = 0
    ignored: int = 0
    over_limit: int = 0


def account_results_retry(*, results: Iterable[AccountResult], user: Any) -> RetryReport:
    """Queue one run of just these results' accounts (trigger "retry").

    Results from the other direction (before a master switch) and ignored accounts are left
    out: their ids mean nothing to the current source, or a person took them out of the sync."""
    direction = SyncPreferences.load().direction
    ignored = ignored_source_ids(direction=direction)
    report = RetryReport()
    wanted: dict[str, None] = {}
    for source_id, run_direction in (
        AccountResult.objects.filter(pk__in=[r.pk for r in results])
        .values_list("source_id", "run__direction")
        .order_by("-id")
    ):
        if run_direction != direction:
            report.other_direction += 1
        elif source_id in ignored:
            report.ignored += 1
        else:
            wanted[source_id] = None
    ids = list(wanted)
    report.over_limit = max(0, len(ids) - RETRY_MAX_ACCOUNTS)
    report.account_ids = ids[:RETRY_MAX_ACCOUNTS]
    if report.account_ids:
        report.task_id = sync_run_queue(
            trigger=SyncRun.Trigger.RETRY, user=user, account_ids=report.account_ids
        )
    return report


def accounts_ignore(*, results: Iterable[AccountResult], user: Any) -> int:
    """Take the results' source accounts out of the sync (in their run's direction); returns
    how many were newly ignored. Undo with accounts_unignore."""
    user = user if getattr(user, "pk", None) else None
    rows = (
        AccountResult.objects.filter(pk__in=[r.pk for r in results])
        .values_list("run__direction", "source_id", "source_number", "source_name")
        .order_by("-id")
    )
    fresh: dict[tuple[str, str], IgnoredAccount] = {}
    for direction, source_id, number, name in rows:
        fresh.setdefault(
            (direction, source_id),
            IgnoredAccount(
                direction=direction,
                source_id=source_id,
                source_number=number,
                source_name=name,
                ignored_by=user,
            ),
        )
    with transaction.atomic():
        before = IgnoredAccount.objects.count()
        IgnoredAccount.objects.bulk_create(list(fresh.values()), ignore_conflicts=True)
        return IgnoredAccount.objects.count() - before


def accounts_unignore(*, ignored: Iterable[IgnoredAccount], user: Any = None) -> int:
    """Put accounts back in the sync, and queue a run of those in the current direction at
    once: while ignored they were reported as skipped, so an open failure of theirs is no
    longer open and nothing else would bring them back until their source changes."""
    rows = IgnoredAccount.objects.filter(pk__in=[i.pk for i in ignored])
    direction = SyncPreferences.load().direction
    account_ids = list(
        rows.filter(direction=direction).values_list("source_id", flat=True)[:RETRY_MAX_ACCOUNTS]
    )
    deleted, _ = rows.delete()
    if account_ids:
        sync_run_queue(trigger=SyncRun.Trigger.RETRY, user=user, account_ids=account_ids)
    return deleted
