"""The last checks of the setup against the live systems (manage.py check_setup, or Check
setup on the dashboard)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SetupCheck(models.Model):
    """One run of the setup checks: when, whether every check passed, and each check as
    {"system", "name", "ok", "fix", "detail"} in the order they ran."""

    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    passed = models.BooleanField()
    checks = models.JSONField(default=list)
    ran_by = models.CharField(max_length=150, blank=True, help_text="User, or the command.")

    class Meta:
        ordering = ["-ran_at", "-id"]
        verbose_name = "Setup check"

    def __str__(self) -> str:
        outcome = "passed" if self.passed else "failed"
        return f"Setup check at {self.ran_at:%Y-%m-%d %H:%M} UTC: {outcome}"

    @property
    def failed_checks(self) -> list[dict]:
        return [check for check in self.checks if not check.get("ok")]
