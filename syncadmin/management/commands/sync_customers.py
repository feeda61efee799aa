from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import CommandParser

from syncadmin.management.base import DatabaseCommand
from syncadmin.models import Outcome, SyncPreferences
from syncadmin.services.runs import RunReport, sync_run_execute

ORDER = [o.value for o in Outcome]


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
        "1 when any failed or the run could not run."
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
            "--account", action="append", dest="accounts", help="Only this source id (repeatable)."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        preferences = SyncPreferences.load()
        self.stdout.write(
            f"Syncing customers {preferences.get_master_display()} → "
            f"{'NetSuite' if preferences.master == 'zuora' else 'Zuora'}"
            f"{' (dry run: nothing will be written)' if options['dry_run'] else ''}..."
        )
        bar = ProgressBar(self.stdout, enabled=not options["no_progress"] and sys.stdout.isatty())
        report = sync_run_execute(
            trigger="command",
            dry_run=options["dry_run"],
            full=options["full"],
            account_ids=options["accounts"],
            progress=bar,
            keep_outcomes=options["dry_run"],
        )
        bar.close()
        if options["dry_run"]:
            self._print_actions(report)
        self._print_summary(report)
        if not report.ok:
            sys.exit(1)

    def _print_actions(self, report: RunReport) -> None:
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
                self.stdout.write(f"          {name}: {_short(before)} -> {_short(after)}")

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


def _short(value: Any, limit: int = 80) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
