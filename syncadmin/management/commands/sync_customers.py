from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.urls import reverse

from connectors.http import ApiError
from syncadmin.management.base import DatabaseCommand
from syncadmin.models import AccountResult, Outcome, SyncPreferences
from syncadmin.selectors import added_field_labels
from syncadmin.services.connections import ConnectionNotConfigured
from syncadmin.services.run_accounts import run_accounts_resolve
from syncadmin.services.runs import RunReport, sync_run_execute

ORDER = [o.value for o in Outcome]
FAILURES_LISTED = 20
# What the run service logs that the summary prints anyway.
SUMMARY_LOG_MESSAGES = {"sync run failed: %s", "sync run stopping: %s"}


@contextlib.contextmanager
def console_quiet(verbosity: int) -> Iterator[None]:
    """At the default verbosity the progress bar and the summary speak, and each problem is
    printed once: the clients' retries (INFO) and the run's own warning about what the summary
    says are left out. -v 2 shows them."""
    if verbosity >= 2:
        yield
        return
    loggers = [logging.getLogger("connectors"), logging.getLogger("syncadmin")]
    levels = [logger.level for logger in loggers]
    runs = logging.getLogger("syncadmin.services.runs")

    def not_in_summary(record: logging.LogRecord) -> bool:
        return record.msg not in SUMMARY_LOG_MESSAGES

    for logger in loggers:
        logger.setLevel(logging.WARNING)
    runs.addFilter(not_in_summary)
    try:
        yield
    finally:
        runs.removeFilter(not_in_summary)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class ProgressBar:
    def __init__(self, stream: Any, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        width = 30
        share = done / total if total else 0
        filled = int(width * share)
        rate = done / max(now - self.started, 1e-6)
        left = (total - done) / rate if rate and total else 0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{rate:6.1f}/s  {left:5.0f}s left "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class Command(DatabaseCommand):
    help = (
        "Run one customer sync now, in this process. Exits 0 when every account succeeded, "
        "1 when any failed or the run could not run, 2 when --account names no record of the "
        "master system (nothing is run then)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Compute and print every action; write nothing anywhere (not even the watermark).",
        )
        parser.add_argument(
            "--full", action="store_true", help="Ignore the watermark: look at every record."
        )
        parser.add_argument(
            "--account",
            action="append",
            dest="accounts",
            metavar="NUMBER_OR_ID",
            help="Only this record of the master system (repeatable): a Zuora account number "
            "or id when Zuora is the master, a NetSuite customer number (entity id) or internal "
            "id when NetSuite is.",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        preferences = SyncPreferences.load()
        self.stdout.write(
            f"Syncing customers {preferences.get_master_display()} → "
            f"{'NetSuite' if preferences.master == 'zuora' else 'Zuora'}"
            f"{' (dry run: nothing will be written)' if options['dry_run'] else ''}..."
        )
        with console_quiet(options["verbosity"]):
            account_ids = None
            if options["accounts"]:
                account_ids = self._resolve(options["accounts"])
            bar = ProgressBar(
                self.stdout, enabled=not options["no_progress"] and sys.stdout.isatty()
            )
            report = sync_run_execute(
                trigger="command",
                dry_run=options["dry_run"],
                full=options["full"],
                account_ids=account_ids,
                progress=bar,
                keep_outcomes=options["dry_run"],
            )
            bar.close()
        if options["dry_run"]:
            self._print_actions(report)
        self._print_summary(report)
        self._print_failures(report)
        if not report.ok:
            sys.exit(1)

    def _resolve(self, keys: list[str]) -> list[str]:
        """The master's ids of the records asked for; an unknown one stops the command before
        any run is recorded (a run of nothing would read as a success on the dashboard)."""
        try:
            found = run_accounts_resolve(keys=keys)
        except (ApiError, ConnectionNotConfigured) as exc:
            raise CommandError(f"Could not look the accounts up, nothing was run: {exc}") from None
        if found.unknown:
            what = "account" if found.system == "Zuora" else "customer"
            raise CommandError(
                f"No {found.system} {what} has the number or id "
                f"{', '.join(found.unknown)}; nothing was run. Give the {found.system} "
                f"{what} number or id of the records to sync ({found.system} is the master).",
                returncode=2,
            )
        return found.source_ids

    def _print_actions(self, report: RunReport) -> None:
        # The fields of added mappings are named by their label too: their API names
        # (custentity_region) are not what the admin chose on the Field mappings page.
        added = added_field_labels()
        for outcome in report.outcomes:
            label = f"{outcome.source_number or outcome.source_id} {outcome.source_name}".strip()
            line = f"{outcome.outcome.upper():9} {label}"
            if outcome.reason:
                line += f" — {outcome.reason}"
            if outcome.error_message:
                line += f" — {outcome.error_code}: {outcome.error_message}"
            self.stdout.write(line)
            for name, change in outcome.changes.items():
                before, after = change
                shown = f"{name} ({added[name]})" if name in added else name
                self.stdout.write(f"          {shown}: {_short(before)} -> {_short(after)}")

    def _print_summary(self, report: RunReport) -> None:
        run = report.run
        title = f"Run {run.pk}" if run else "Dry run"
        self.stdout.write(f"\n{title}: {report.status.replace('_', ' ')}")
        if report.message:
            self.stdout.write(report.message)
        width = 10
        self.stdout.write(f"{'outcome':<{width}} accounts")
        for name in ORDER:
            self.stdout.write(f"{name:<{width}} {report.counts.get(name, 0):>8}")
        self.stdout.write(f"{'total':<{width}} {sum(report.counts.values()):>8}")
        for system, calls in report.api_calls.items():
            shown = ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"
            self.stdout.write(f"{system} API calls: {shown}")
        if run is not None and run.duration is not None:
            self.stdout.write(f"took {run.duration:.1f} s")

    def _print_failures(self, report: RunReport) -> None:
        if report.run is None or not report.counts.get(Outcome.FAILED):
            return
        failed = AccountResult.objects.filter(run=report.run, outcome=Outcome.FAILED)
        total = failed.count()
        self.stdout.write(f"\nFailed accounts ({total}):")
        for result in failed.order_by("id")[:FAILURES_LISTED]:
            label = f"{result.source_number or result.source_id} {result.source_name}".strip()
            self.stdout.write(
                f"  {label} — {result.error_code or 'error'}: {_short(result.error_message, 160)}"
            )
        if total > FAILURES_LISTED:
            self.stdout.write(f"  … and {total - FAILURES_LISTED} more.")
        url = reverse("admin:syncadmin_accountresult_changelist")
        self.stdout.write(
            f"Every failure, with what to do: {settings.SITE_URL.rstrip('/')}{url}"
            f"?run__id__exact={report.run.pk}&outcome__exact=failed"
        )


def _short(value: Any, limit: int = 80) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
