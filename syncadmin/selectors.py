"""Reads shared by the services and the admin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from syncadmin.mapping.added import AddedMapping, NameTranslations
from syncadmin.models import (
    AccountResult,
    Direction,
    FieldMapping,
    LinkEvent,
    NameTranslation,
    Outcome,
    RecordLink,
    SetupCheck,
    SyncCursor,
    SyncRun,
    name_search_key,
)

_FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTLY_FAILED)


def writeback_pending_source_ids(*, direction: str) -> set[str]:
    """Source records whose cross-reference could not be written back to them. The sync looks
    at them again on every run until it is written: the failed write-back did not change the
    source, so nothing else would select them."""
    field = (
        "zuora_account_id" if direction == Direction.ZUORA_TO_NETSUITE else "netsuite_internal_id"
    )
    return set(RecordLink.objects.filter(writeback_pending=True).values_list(field, flat=True))


@dataclass
class OpenFailures:
    """What the open-failures selection found for one run."""

    # Records to look at again in this run.
    due: set[str] = field(default_factory=set)
    # Records that failed because of their parent and are not due in this run (the parent was
    # neither seen, due nor linked): {source id: parent source id}. The run carries them on
    # its cursor, so they stay open until their parent moves, however many runs that takes.
    waiting: dict[str, str] = field(default_factory=dict)


def open_failure_source_ids(*, direction: str, seen: set[str] | None = None) -> set[str]:
    """The records open_failures() finds due."""
    return open_failures(direction=direction, seen=seen).due


def open_failures(*, direction: str, seen: set[str] | None = None) -> OpenFailures:
    """Source records whose latest outcome is a failure, since the last finished regular run,
    and the records that run carried as still waiting for their parent.

    The sync looks at these again on every run even when their source did not change (a NetSuite
    term that was added, a match that was rejected), so no record is skipped for good. A record
    that failed only because of its parent is due when that parent is: among `seen` (the
    records of this run), due itself (its fix may be on the destination's side), or linked.
    Reading it at any other time could not change its outcome, and would cost calls on every
    run; it stays in `waiting` instead. Without `seen` every open record is due."""
    last = (
        SyncRun.objects.filter(direction=direction, status__in=_FINISHED)
        # Runs of some records only (retries, change notifications) do not look at every
        # open failure again: the failures before them stay open after them.
        .exclude(trigger__in=(SyncRun.Trigger.RETRY, SyncRun.Trigger.EVENT))
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if last is None:
        return OpenFailures()
    runs = set(
        SyncRun.objects.filter(direction=direction, id__gte=last).values_list("id", flat=True)
    )
    since_last = AccountResult.objects.filter(run_id__in=runs)
    # Records waiting for a person's review come back too: once the match is rejected they
    # must be created, though nothing changed at the source.
    open_outcomes = (Outcome.FAILED, Outcome.NEEDS_REVIEW)
    carried: dict[str, str] = (
        SyncCursor.objects.filter(direction=direction).values_list("waiting", flat=True).first()
        or {}
    )
    candidates = list(
        since_last.filter(outcome__in=open_outcomes)
        .order_by()
        .values_list("source_id", flat=True)
        .distinct()
    )
    candidates.extend(source_id for source_id in carried if source_id not in set(candidates))
    if not candidates:
        return OpenFailures()
    # Every result since `last` has at least this id. With it the lookups below go by the
    # (source_id, id) index: filtering by run instead read every result of those runs once
    # per chunk (0.6 s a run at 100,000 accounts with 2,500 failures).
    first_id = since_last.aggregate(first=Min("id"))["first"] or 0
    failed: set[str] = set()
    waiting: dict[str, str] = {}  # source id -> the parent it waits for
    recorded: set[str] = set()  # candidates with a result since `last`
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        latest: dict[str, int] = {}
        for source_id, result_id, run_id in (
            AccountResult.objects.filter(source_id__in=chunk, id__gte=first_id)
            .order_by()
            .values_list("source_id", "id", "run_id")
        ):
            if run_id in runs and result_id > latest.get(source_id, 0):
                latest[source_id] = result_id
        recorded.update(latest)
        rows = AccountResult.objects.filter(
            id__in=list(latest.values()), outcome__in=open_outcomes
        ).values_list("source_id", "waiting_for")
        for source_id, parent in rows:
            if parent and seen is not None:
                waiting[source_id] = parent
            else:
                failed.add(source_id)
    # Carried by the last run and not looked at since: still waiting for the same parent.
    for source_id, parent in carried.items():
        if source_id not in recorded:
            if seen is None:
                failed.add(source_id)
            else:
                waiting[source_id] = parent
    # An ignored account is out of the sync until a person puts it back.
    ignored = ignored_source_ids(direction=direction)
    due = failed - ignored
    if waiting:
        assert seen is not None
        ready = seen | due
        side = (
            "zuora_account_id"
            if direction == Direction.ZUORA_TO_NETSUITE
            else "netsuite_internal_id"
        )
        pending = sorted(set(waiting.values()) - ready)
        for start in range(0, len(pending), 500):
            ready.update(
                RecordLink.objects.filter(
                    **{f"{side}__in": pending[start : start + 500]}
                ).values_list(side, flat=True)
            )
        # A child that becomes due makes its own waiting children due (a grandchild waits
        # for the child, not for the root).
        moved = True
        while moved:
            moved = False
            for source_id, parent in list(waiting.items()):
                if parent in ready and source_id not in ignored:
                    del waiting[source_id]
                    due.add(source_id)
                    ready.add(source_id)
                    moved = True
        waiting = {s: p for s, p in waiting.items() if s not in seen}
    return OpenFailures(due=due, waiting=waiting)


# -- engine hooks ---------------------------------------------------------------------------------
IGNORED_REASON = "Ignored in syncadmin: put it back in the sync under Ignored accounts"


def ignored_source_ids(*, direction: str) -> set[str]:
    """Source record ids a person took out of the sync in this direction (Zuora account ids for
    Zuora → NetSuite, NetSuite internal ids for NetSuite → Zuora). The engine skips them."""
    from syncadmin.models import IgnoredAccount

    return set(
        IgnoredAccount.objects.filter(direction=direction).values_list("source_id", flat=True)
    )


def _suggestion_source_field(direction: str) -> str:
    from syncadmin.models import Direction

    return (
        "zuora_account_id" if direction == Direction.ZUORA_TO_NETSUITE else "netsuite_internal_id"
    )


def strong_unreviewed_matches(
    *, direction: str, source_ids: Iterable[str] | None = None
) -> dict[str, str]:
    """{source id: "needs review" reason} for source records with a pending strong match
    suggestion. The engine must not create a destination record for these: it records the
    outcome Outcome.NEEDS_REVIEW with this reason instead."""
    from syncadmin.models import MatchSuggestion

    field = _suggestion_source_field(direction)
    rows = MatchSuggestion.objects.filter(
        status=MatchSuggestion.Status.PENDING, strong=True
    ).order_by("-confidence", "id")
    if source_ids is not None:
        wanted = list(dict.fromkeys(source_ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = rows.filter(**{f"{field}__in": wanted[start : start + 500]})
            for suggestion in chunk:
                found.setdefault(getattr(suggestion, field), _review_reason(suggestion, field))
        return found
    found = {}
    for suggestion in rows.iterator(chunk_size=2000):
        found.setdefault(getattr(suggestion, field), _review_reason(suggestion, field))
    return found


def _review_reason(suggestion: Any, field: str) -> str:
    other = (
        f"NetSuite customer {suggestion.netsuite_entity_id or suggestion.netsuite_internal_id}"
        if field == "zuora_account_id"
        else f"Zuora account {suggestion.zuora_account_number or suggestion.zuora_account_id}"
    )
    return (
        f"Needs review: probably the same as {other} ({suggestion.reason}, "
        f"{suggestion.confidence}%). Approve or reject it under Match suggestions."
    )[:255]


def strong_unreviewed_match_ids(*, direction: str) -> set[str]:
    """The source ids of strong_unreviewed_matches, for a quick membership test."""
    from syncadmin.models import MatchSuggestion

    field = _suggestion_source_field(direction)
    return set(
        MatchSuggestion.objects.filter(
            status=MatchSuggestion.Status.PENDING, strong=True
        ).values_list(field, flat=True)
    )


# -- admin pages ----------------------------------------------------------------------------------
ERROR_HINTS: dict[str, str] = {
    "UNKNOWN_CURRENCY": "Enable the currency in the destination system, or correct it on the "
    "source record, then retry.",
    "UNKNOWN_PAYMENT_TERM": "Create a term with exactly this name in the destination (or rename "
    "the source's payment term), then retry.",
    "MISSING_SUBSIDIARY": "Set Subsidiary__NS on the Zuora account or a default subsidiary in "
    "Sync preferences, then retry.",
    "UNKNOWN_SUBSIDIARY": "Use the subsidiary's full hierarchical name, e.g. "
    '"Parent Company : US Sub", then retry.',
    "MISSING_NAME": "Give the record a name (company name, or first and last name), then retry.",
    "MISSING_BILL_TO": "Add a default billing address to the NetSuite customer, then retry.",
    "MISSING_ADDRESSEE": "Fill in the addressee of the default billing address, then retry.",
    "INVALID_BILL_CYCLE_DAY": "Use a bill cycle day from 1 to 31, then retry.",
    "INVALID_BATCH": "Use a batch Batch1 to Batch50, then retry.",
    "UNKNOWN_COUNTRY": "Correct the country of the address to a known country name or code.",
    "UNKNOWN_US_STATE": "Correct the state of the US address in Zuora to a state's full name "
    "or its two-letter code (California or CA), then retry.",
    "VALUE_TOO_LONG": "Shorten the field named in the message, then retry.",
    "UNMAPPED_VALUE": "Add the value to the field mapping's value map (Field mappings page), "
    "or correct it on the source record, then retry.",
    "INVALID_FIELD_VALUE": "Correct the value on the source record, or change the field "
    "mapping on the Field mappings page, then retry.",
    "INVALID_MRR": "Check the account's subscriptions in Zuora (Zuora computes MRR from them), "
    "then retry.",
    "PARENT_NOT_SYNCED": "Sync or link the parent account first; the child follows.",
    "PARENT_FAILED": "Fix the parent account's error first; the child is retried with it.",
    "ALREADY_LINKED": "The destination record is linked to another source record; check the "
    "links page.",
    "CONFLICTING_LINK": "Two links disagree; unlink the wrong pair on the links page.",
    "LINKED_ACCOUNT_MISSING": "The linked record was deleted on the destination; unlink it so "
    "the next run can create or match it again.",
    "INVALID_LOGIN": "Check the connection's credentials and use Test connection.",
    "CONCURRENCY_LIMIT_EXCEEDED": "The system was busy; retry, or lower the NetSuite "
    "concurrency in Sync preferences.",
}


def error_hint(code: str) -> str:
    if code in ERROR_HINTS:
        return ERROR_HINTS[code]
    if code.startswith("HTTP_5") or code in ("TIMEOUT", "TRANSPORT"):
        return "The system was unavailable; retry later."
    return ""


def error_code_counts(*, run_id: int | None = None, limit: int = 50) -> list[tuple[str, int]]:
    """(error code, failed results) most frequent first; one GROUP BY on the index of
    (outcome, error_code), or (run, outcome) within one run."""
    rows = AccountResult.objects.filter(outcome=Outcome.FAILED).exclude(error_code="")
    if run_id is not None:
        rows = rows.filter(run_id=run_id)
    return [
        (row["error_code"], row["n"])
        for row in rows.values("error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")[:limit]
    ]


def account_results_search(queryset: QuerySet, *, term: str) -> QuerySet:
    """The results whose account number, source id or destination id is the term, or whose
    name starts with it (any case). The whole term, not word by word: "Acme Corp 2" is the start
    of one name, and its words must not also match unrelated ids (a NetSuite id "2"). Every
    branch is an index lookup; a substring search would read all rows of a million-row table."""
    match = Q(source_number=term) | Q(source_id=term) | Q(destination_id=term)
    key = name_search_key(term)[: AccountResult._meta.get_field("name_key").max_length]
    if key:
        match |= Q(name_key__startswith=key)
    return queryset.filter(match)


def link_history(link: RecordLink, *, limit: int = 50) -> list[LinkEvent]:
    """Who linked or unlinked either record of the pair, and when, newest first."""
    return list(
        LinkEvent.objects.filter(
            Q(zuora_account_id=link.zuora_account_id)
            | Q(netsuite_internal_id=link.netsuite_internal_id)
        ).select_related("user")[:limit]
    )


def linked_zuora_account_ids(account_ids: Iterable[str]) -> set[str]:
    """The Zuora account ids among these that are already linked."""
    return set(
        RecordLink.objects.filter(zuora_account_id__in=list(account_ids)).values_list(
            "zuora_account_id", flat=True
        )
    )


def linked_netsuite_internal_ids(internal_ids: Iterable[str]) -> set[str]:
    """The NetSuite internal ids among these that are already linked."""
    return set(
        RecordLink.objects.filter(netsuite_internal_id__in=list(internal_ids)).values_list(
            "netsuite_internal_id", flat=True
        )
    )


def run_progress(run: SyncRun | None) -> dict[str, Any] | None:
    """What the progress bar shows: processed of total, rate per minute, seconds left."""
    if run is None:
        return None
    end = run.finished_at or timezone.now()
    elapsed = max((end - run.started_at).total_seconds(), 0.001)
    rate = run.processed / elapsed * 60 if run.processed else 0.0
    left = run.total - run.processed if run.total > run.processed else 0
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "running": run.status == SyncRun.Status.RUNNING,
        "processed": run.processed,
        "total": run.total,
        "percent": round(100 * run.processed / run.total) if run.total else 0,
        "rate_per_minute": round(rate, 1),
        "seconds_left": round(left / rate * 60) if rate and left else (0 if rate else None),
        "created": run.created,
        "updated": run.updated,
        "failed": run.failed,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "message": run.message,
    }


def run_current() -> SyncRun | None:
    """The running sync, else the newest run. Callers close the runs whose process died
    first (services.runs.runs_interrupted_close), so a dead run never shows as running."""
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-started_at")
    return running.first() or SyncRun.objects.order_by("-started_at").first()


def runs_latest(*, limit: int = 10) -> list[SyncRun]:
    return list(SyncRun.objects.order_by("-started_at")[:limit])


def runs_per_day(*, days: int = 30) -> list[dict[str, Any]]:
    """Accounts created, updated and failed per day (UTC) over the last `days`, oldest day
    first, every day present (zero when nothing ran)."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    totals = {
        row["day"]: row
        for row in SyncRun.objects.filter(started_at__date__gte=first)
        .exclude(status=SyncRun.Status.SKIPPED)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(created=Sum("created"), updated=Sum("updated"), failed=Sum("failed"))
        .order_by("day")
    }
    return [
        {
            "day": day,
            **{
                key: (totals.get(day) or {}).get(key) or 0
                for key in ("created", "updated", "failed")
            },
        }
        for day in (first + timedelta(days=i) for i in range(days))
    ]


def setup_check_latest() -> SetupCheck | None:
    """The last run of the setup checks, for the dashboard."""
    return SetupCheck.objects.first()


def added_mappings_for(*, direction: str) -> list[AddedMapping]:
    """The field mappings admins added for one direction, as the mapping functions take them."""
    return [row.as_added_mapping() for row in FieldMapping.objects.filter(direction=direction)]


def added_field_labels() -> dict[str, str]:
    """How result pages name the destination fields of added mappings, by the key a result's
    changes carry them under: "custentity_region" -> "Region", "billToContact.fax" -> "Bill To
    Fax" (a mapping without a label keeps the field's API name)."""
    from syncadmin.mapping.added_fields import CONTACT_PREFIXES, split_path

    labels: dict[str, str] = {}
    for row in FieldMapping.objects.all():
        prefix, name = split_path(row.destination_field)
        key = f"{CONTACT_PREFIXES[prefix][1]}.{name}" if prefix else row.destination_field
        labels[key] = row.destination_label or row.destination_field
    return labels


def name_translations() -> NameTranslations:
    """The lookup tables for payment terms, currencies and subsidiaries, Zuora -> NetSuite."""
    tables: dict[str, dict[str, str]] = {kind: {} for kind in NameTranslation.Kind.values}
    for row in NameTranslation.objects.all():
        tables[row.kind][row.zuora_name] = row.netsuite_name
    return NameTranslations(
        payment_terms=tables[NameTranslation.Kind.PAYMENT_TERM],
        currencies=tables[NameTranslation.Kind.CURRENCY],
        subsidiaries=tables[NameTranslation.Kind.SUBSIDIARY],
    )
