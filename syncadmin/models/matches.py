"""Probable pairs of unlinked records, waiting for a person's review."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class MatchSuggestion(models.Model):
    """A probable pair of unlinked records found by the matching rules, waiting for review.

    While a strong suggestion is pending, the sync does not create a destination record for
    its source record (it reports "needs review"): that is what prevents duplicates."""

    class Rule(models.TextChoices):
        NUMBER = "number", "Account number = entityId"
        EMAIL = "email", "Same email"
        NAME_POSTAL = "name_postal", "Same company name and postal code"
        NAME = "name", "Same company name"
        CROSS_REFERENCE = "xref", "Cross-reference field names it"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved (linked)"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded (one side was linked otherwise)"

    STRONG_CONFIDENCE: ClassVar[int] = 70

    zuora_account_id = models.CharField(max_length=64)
    zuora_account_number = models.CharField(max_length=64, blank=True)
    zuora_name = models.CharField(max_length=255, blank=True)
    netsuite_internal_id = models.CharField(max_length=32)
    netsuite_entity_id = models.CharField(max_length=100, blank=True)
    netsuite_name = models.CharField(max_length=255, blank=True)
    rule = models.CharField(max_length=12, choices=Rule.choices)
    confidence = models.PositiveSmallIntegerField(help_text="0-100")
    strong = models.BooleanField(
        default=False, help_text="Strong pending matches stop the sync from creating a record."
    )
    reason = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-confidence", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["zuora_account_id", "netsuite_internal_id"], name="suggestion_pair"
            )
        ]
        indexes = [
            models.Index(fields=["status", "-confidence"], name="suggestion_status"),
            models.Index(fields=["status", "strong", "zuora_account_id"], name="suggestion_zuora"),
            models.Index(
                fields=["status", "strong", "netsuite_internal_id"], name="suggestion_netsuite"
            ),
            models.Index(fields=["rule", "status"], name="suggestion_rule"),
            models.Index(fields=["strong", "status"], name="suggestion_strong"),
        ]

    def __str__(self) -> str:
        return (
            f"Zuora {self.zuora_account_number or self.zuora_account_id} ↔ NetSuite "
            f"{self.netsuite_entity_id or self.netsuite_internal_id} ({self.confidence}%)"
        )
