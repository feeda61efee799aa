"""Links between a Zuora account and a NetSuite customer, their history and CSV imports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RecordLink(models.Model):
    class Origin(models.TextChoices):
        CREATED = "created", "Created by sync"
        MANUAL = "manual", "Linked by hand"
        MATCHED = "matched", "Matched"

    zuora_account_id = models.CharField(max_length=64, unique=True)
    zuora_account_number = models.CharField(max_length=64, blank=True, db_index=True)
    zuora_bill_to_id = models.CharField(max_length=64, blank=True)
    zuora_sold_to_id = models.CharField(max_length=64, blank=True)
    netsuite_internal_id = models.CharField(max_length=32, unique=True)
    netsuite_entity_id = models.CharField(max_length=100, blank=True, db_index=True)
    # The address book lines the sync owns on the customer (their line ids), found when it
    # first writes them: every other line belongs to NetSuite users and is never touched.
    netsuite_bill_to_line = models.CharField(max_length=32, blank=True)
    netsuite_sold_to_line = models.CharField(max_length=32, blank=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.CREATED)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    linked_at = models.DateTimeField(default=timezone.now)
    last_payload = models.JSONField(
        null=True, blank=True, help_text="What the sync last wrote to the destination."
    )
    last_payload_hash = models.CharField(max_length=64, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    writeback_pending = models.BooleanField(
        default=False, help_text="The cross-reference still has to be written to the master."
    )

    class Meta:
        ordering = ["-linked_at"]
        permissions = [("link_records", "Can link and unlink records by hand")]
        indexes = [
            models.Index(fields=["-linked_at"], name="link_linked_at"),
            models.Index(fields=["origin", "-linked_at"], name="link_origin"),
            models.Index(fields=["writeback_pending"], name="link_writeback"),
        ]

    def __str__(self) -> str:
        zuora = self.zuora_account_number or self.zuora_account_id
        netsuite = self.netsuite_entity_id or self.netsuite_internal_id
        return f"Zuora {zuora} ↔ NetSuite {netsuite}"


class LinkEvent(models.Model):
    """Who linked or unlinked which pair, and when. Kept after an unlink (ids are copied, not
    referenced) so the history of a record survives its link."""

    class Action(models.TextChoices):
        LINKED = "linked", "Linked by hand"
        IMPORTED = "imported", "Linked from a CSV import"
        MATCHED = "matched", "Linked from an approved match"
        UNLINKED = "unlinked", "Unlinked"

    action = models.CharField(max_length=10, choices=Action.choices)
    zuora_account_id = models.CharField(max_length=64)
    zuora_account_number = models.CharField(max_length=64, blank=True)
    netsuite_internal_id = models.CharField(max_length=32)
    netsuite_entity_id = models.CharField(max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["zuora_account_id", "-at"], name="linkevent_zuora"),
            models.Index(fields=["netsuite_internal_id", "-at"], name="linkevent_netsuite"),
            models.Index(fields=["-at"], name="linkevent_at"),
            models.Index(fields=["action", "-at"], name="linkevent_action"),
        ]

    def __str__(self) -> str:
        zuora = self.zuora_account_number or self.zuora_account_id
        netsuite = self.netsuite_entity_id or self.netsuite_internal_id
        return f"{self.get_action_display()}: Zuora {zuora} ↔ NetSuite {netsuite}"


class LinkImport(models.Model):
    """A CSV of links: previewed row by row, then applied once, with a report to download."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        APPLIED = "applied", "Applied"

    filename = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEWED)
    rows = models.JSONField(default=list, help_text="One dict per CSV row with its verdict.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Link import {self.pk} ({self.filename or 'CSV'}, {self.get_status_display()})"
