"""Near-real-time sync: the hooks' settings per system, the log of the change notifications
they received, and the records waiting for their event sync."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from syncadmin.models.base import Direction, Master, SecretsMixin
from syncadmin.models.runs import SyncRun


class HookSettings(SecretsMixin, models.Model):
    """One row per system (Zuora, NetSuite): whether its hook acts, and how a call to it is
    authenticated. The shared secret and the Basic auth password are stored encrypted and shown
    only once, right after they are generated."""

    SECRET_FIELDS = ("secret", "basic_password")

    system = models.CharField(max_length=10, choices=Master.choices, unique=True)
    enabled = models.BooleanField(
        "Near-real-time sync on",
        default=False,
        help_text="While off, the hook answers every call with 403 and the scheduled run alone "
        "keeps the systems in step.",
    )
    secret_encrypted = models.TextField(blank=True, editable=False)
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    basic_username = models.CharField(
        "Basic auth user name",
        max_length=100,
        blank=True,
        help_text="Zuora only: for callouts that cannot carry the signature header.",
    )
    basic_password_encrypted = models.TextField(blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "near-real-time setting"
        verbose_name_plural = "Near-real-time"
        ordering = ["system"]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.get_system_display()} hook ({state})"

    @property
    def basic_auth_configured(self) -> bool:
        return bool(self.basic_username and self.secret_is_set("basic_password"))


class HookEvent(models.Model):
    """One authenticated call to a hook and what became of it. Calls refused as
    unauthenticated, stale or replayed are not stored (anyone can send them)."""

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"
        COALESCED = "coalesced", "Coalesced"  # joined a sync already queued for the record
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    system = models.CharField(max_length=10, choices=Master.choices)
    event_type = models.CharField(max_length=60, blank=True)
    record_key = models.CharField(
        max_length=100, blank=True, help_text="The record as the call named it."
    )
    source_id = models.CharField(max_length=64, blank=True, help_text="The master's record id.")
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True)
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="hook_events"
    )
    # sha256 of the signature of a signed call, kept for the replay window (then cleared):
    # the unique index refuses the same signed call twice, even from two racing requests.
    signature_digest = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = "change notification"
        verbose_name_plural = "change notifications"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["system", "-received_at"], name="hook_event_system"),
            models.Index(fields=["received_at"], name="hook_event_received"),
            models.Index(fields=["outcome", "-received_at"], name="hook_event_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.get_system_display()} {self.record_key}: {self.get_outcome_display()}"


class PendingSync(models.Model):
    """A source record named by an event and not synced yet. Every further event for it only
    moves last_seen (coalescing); it is synced once no event came for a short while."""

    direction = models.CharField(max_length=30, choices=Direction.choices)
    # The record as the event named it: the master's id, or (Zuora) an account number when
    # the callout sent no id (`by_number`), resolved when it is synced.
    record_key = models.CharField(max_length=100)
    by_number = models.BooleanField(default=False)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # Not tried again before this (after a run that could not reach a system).
    not_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "record_key", "by_number"], name="pending_sync_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_key} ({self.get_direction_display()})"
