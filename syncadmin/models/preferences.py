"""The sync preferences, under the names finance admins know."""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from syncadmin.models.base import Direction, Master, Singleton


class SyncPreferences(Singleton):
    """The preferences finance admins know from the incumbent connector, under their names."""

    class Behavior(models.TextChoices):
        NEW_AND_MODIFIED = "new_and_modified", "Sync New and Modified Records"
        NEW_ONLY = "new_only", "Sync New Records Only"

    class NumberMapping(models.TextChoices):
        SOURCE_NUMBER = "source_number", "Use Number From Source"
        SOURCE_NAME = "source_name", "Use Name From Source"
        DESTINATION_AUTO = "destination_auto", "Let Destination Auto-Number"

    class ScheduleUnit(models.TextChoices):
        MINUTES = "minutes", "Minutes"
        HOURS = "hours", "Hours"
        DAYS = "days", "Days"

    SCHEDULE_RANGES: ClassVar[dict[str, tuple[int, int]]] = {
        "minutes": (1, 30),
        "hours": (1, 12),
        "days": (1, 14),
    }

    master = models.CharField(
        "Customer Account Master",
        max_length=10,
        choices=Master.choices,
        default=Master.ZUORA,
        help_text="The system whose customer records are copied to the other one.",
    )
    sync_behavior = models.CharField(
        "Customer Account Sync Behavior",
        max_length=20,
        choices=Behavior.choices,
        default=Behavior.NEW_AND_MODIFIED,
        help_text="New Only creates new records and only links records that are already "
        "linked; use it while migrating with records on both sides.",
    )
    number_mapping = models.CharField(
        "Customer Account Number Mapping",
        max_length=20,
        choices=NumberMapping.choices,
        default=NumberMapping.SOURCE_NUMBER,
        help_text="Where the destination's customer number comes from.",
    )
    number_update = models.BooleanField(
        "Customer Account Number Update Behavior: update the number",
        default=False,
        help_text="When set, later changes of the source number (or name) change the "
        "destination's number too; otherwise the number is set on create only.",
    )
    zuora_default_currency = models.CharField(
        "Zuora Default Currency",
        max_length=3,
        default="USD",
        help_text="ISO code used for Zuora accounts when the NetSuite customer has no currency.",
    )
    netsuite_multi_currency = models.BooleanField(
        "NetSuite Multiple Currencies",
        default=True,
        help_text="Off: every customer gets NetSuite's base currency.",
    )
    netsuite_one_world = models.BooleanField(
        "NetSuite OneWorld",
        default=True,
        help_text="OneWorld accounts need a subsidiary on every customer.",
    )
    default_subsidiary = models.CharField(
        "NetSuite default subsidiary",
        max_length=200,
        blank=True,
        help_text='Full hierarchical name, e.g. "Parent Company : US Sub". Used when a Zuora '
        "account has no Subsidiary__NS.",
    )
    default_department_id = models.CharField(
        "NetSuite default department", max_length=20, blank=True, help_text="Internal id."
    )
    default_class_id = models.CharField(
        "NetSuite default class", max_length=20, blank=True, help_text="Internal id."
    )
    default_location_id = models.CharField(
        "NetSuite default location", max_length=20, blank=True, help_text="Internal id."
    )
    hierarchies_enabled = models.BooleanField(
        "Account hierarchies enabled",
        default=True,
        help_text="Off: parents are ignored and every account syncs on its own.",
    )
    cutover_date = models.DateField(
        "Transaction cutover date",
        null=True,
        blank=True,
        help_text="First run only: sync records created on or after this date. Empty = all.",
    )
    default_bill_cycle_day = models.PositiveSmallIntegerField(
        default=1, help_text="NetSuite → Zuora: bill cycle day when the customer has none (1-31)."
    )
    default_batch = models.CharField(
        max_length=10, default="Batch1", help_text="NetSuite → Zuora: batch when none (Batch1-50)."
    )
    default_payment_term = models.CharField(
        max_length=100,
        default="Net 30",
        help_text="NetSuite → Zuora: payment term when the customer has none.",
    )
    schedule_enabled = models.BooleanField(
        default=False, help_text="Run the sync on the schedule below."
    )
    schedule_every = models.PositiveSmallIntegerField(
        default=30,
        help_text="Minutes 1-30, hours 1-12 or days 1-14 (at least 30 minutes apart "
        "is recommended).",
    )
    schedule_unit = models.CharField(
        max_length=10, choices=ScheduleUnit.choices, default=ScheduleUnit.MINUTES
    )
    netsuite_concurrency = models.PositiveSmallIntegerField(
        default=5,
        help_text="NetSuite requests at once: 5 on standard tiers, 15 premium, 20 enterprise, "
        "+10 per SuiteCloud Plus licence. Never set it above your account's limit.",
    )
    alert_emails = models.TextField(
        blank=True,
        help_text="Who is emailed when a run fails or has failed accounts; one per line.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Sync preferences"
        verbose_name_plural = "Sync preferences"

    def __str__(self) -> str:
        return "Sync preferences"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.netsuite_one_world and not self.default_subsidiary.strip():
            errors["default_subsidiary"] = (
                "NetSuite OneWorld needs a default subsidiary for accounts without Subsidiary__NS."
            )
        low, high = self.SCHEDULE_RANGES.get(self.schedule_unit, (1, 1))
        if not low <= (self.schedule_every or 0) <= high:
            errors["schedule_every"] = f"Every {low}-{high} {self.schedule_unit}."
        if len(self.zuora_default_currency or "") != 3 or not self.zuora_default_currency.isalpha():
            errors["zuora_default_currency"] = "A three-letter ISO currency code, e.g. USD."
        else:
            self.zuora_default_currency = self.zuora_default_currency.upper()
        if not 1 <= (self.default_bill_cycle_day or 0) <= 31:
            errors["default_bill_cycle_day"] = "A day of the month, 1-31."
        batch = self.default_batch or ""
        if not (batch.startswith("Batch") and batch[5:].isdigit() and 1 <= int(batch[5:]) <= 50):
            errors["default_batch"] = "Batch1 to Batch50."
        if not 1 <= (self.netsuite_concurrency or 0) <= 100:
            errors["netsuite_concurrency"] = "Between 1 and 100 requests at once."
        for email in self.alert_email_list():
            if "@" not in email:
                errors["alert_emails"] = f"{email!r} is not an email address."
        if errors:
            raise ValidationError(errors)

    def alert_email_list(self) -> list[str]:
        return [
            line.strip()
            for line in self.alert_emails.replace(",", "\n").splitlines()
            if line.strip()
        ]

    @property
    def direction(self) -> str:
        return (
            Direction.ZUORA_TO_NETSUITE
            if self.master == Master.ZUORA
            else Direction.NETSUITE_TO_ZUORA
        )

    def schedule_minutes(self) -> int:
        factor = {"minutes": 1, "hours": 60, "days": 1440}[self.schedule_unit]
        return self.schedule_every * factor
