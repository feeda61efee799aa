from __future__ import annotations

import sys
import textwrap
from typing import Any

from syncadmin.management.base import DatabaseCommand
from syncadmin.services.setup_check import setup_check_run


class Command(DatabaseCommand):
    help = (
        "Check, against the configured Zuora and NetSuite, everything a sync relies on: "
        "credentials, permissions, custom fields, the SuiteQL queries and the preferences. "
        "Prints each check with what to fix; exits 0 when all pass, 1 otherwise."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = setup_check_run(ran_by="check_setup command")
        width = max(len(f"{c['system']}: {c['name']}") for c in result.checks)
        self.stdout.write(f"{'Check':<{width}}  {'Result':<6}  What to fix")
        self.stdout.write(f"{'-' * width}  ------  {'-' * 11}")
        for check in result.checks:
            label = f"{check['system']}: {check['name']}"
            if check["ok"]:
                self.stdout.write(f"{label:<{width}}  {self.style.SUCCESS('OK'.ljust(6))}")
                continue
            fix = textwrap.wrap(check["fix"], 100) or [""]
            if check["detail"]:
                fix += textwrap.wrap(f"Found: {check['detail']}", 100)
            self.stdout.write(f"{label:<{width}}  {self.style.ERROR('FAILED')}  {fix[0]}")
            for line in fix[1:]:
                self.stdout.write(f"{'':<{width}}  {'':<6}  {line}")
        failed = len(result.failed_checks)
        if failed:
            self.stdout.write(self.style.ERROR(f"{failed} of {len(result.checks)} checks failed."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"All {len(result.checks)} checks passed."))
