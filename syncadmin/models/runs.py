"""Sync runs, the watermark of each direction, and the lease that lets one run at a time."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from syncadmin.models.base import Direction


class SyncCursor(models.Model):
    """The watermark of one direction: the newest source change already synced."""

    direction = models.CharField(max_length=30, choices=Direction.choices, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    # Equal to the watermark when the run that set it re-read its own write-backs: the next run
    # then needs no overlap window (see SyncEngine.settle in services/engine.py).
    settled_through = models.DateTimeField(null=True, blank=True)
    # Digests of the source rows that run synced in the second up to the watermark (its own
    # write-backs), by id: the next run re-reads that second and skips these unless changed.
    settled_rows = models.JSONField(default=dict, blank=True)
    # Records that failed because of their parent and that the last run did not look at again
    # (the parent was neither changed, linked nor due): {source id: parent source id}. They are
    # due again as soon as their parent is (see selectors.open_failures).
    waiting = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_direction_display()} since {self.watermark or 'the beginning'}"


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        COMMAND = "command", "Command"
        RETRY = "retry", "Retry"
        EVENT = "event", "Change notification"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTLY_FAILED = "partly_failed", "Partly failed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run was active)"
        # Stopped before the end (killed, lost its lease, or reached its deadline): what it
        # recorded stands, and the next run picks up where it stopped.
        INTERRUPTED = "interrupted", "Interrupted (the next run continues)"

    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    direction = models.CharField(max_length=30, choices=Direction.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    total = models.PositiveIntegerField(default=0, help_text="Accounts selected.")
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    watermark_before = models.DateTimeField(null=True, blank=True)
    watermark_after = models.DateTimeField(null=True, blank=True)
    api_calls = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    # The lease holder (host:pid:nonce) of a running run: a running run whose holder no longer
    # holds the lease has died (see services.runs.runs_interrupted_close).
    lease_holder = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [("run_sync", "Can start a sync run now")]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="run_status"),
            models.Index(fields=["trigger", "-started_at"], name="run_trigger"),
            models.Index(fields=["direction", "-started_at"], name="run_direction"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.get_direction_display()}, {self.get_status_display()})"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SyncLease(models.Model):
    """At most one sync at a time across processes and machines: a row per lease name, taken by
    a conditional UPDATE (atomic on SQLite and PostgreSQL) and renewed while the run lives."""

    name = models.CharField(max_length=50, unique=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"
