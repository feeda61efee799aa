from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from syncadmin import crypto


class Singleton(models.Model):
    """A table with one row (pk=1): connection settings and preferences."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Any:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class SecretsMixin(models.Model):
    """Secrets are stored encrypted in `<name>_encrypted` columns and never read back into
    forms; `secret(name)` decrypts one for a client, `set_secret` encrypts a new value."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def set_secret(self, name: str, value: str) -> None:
        if name not in self.SECRET_FIELDS:
            raise ValueError(f"{name} is not a secret of {type(self).__name__}")
        setattr(self, f"{name}_encrypted", crypto.encrypt(value) if value else "")

    def secret(self, name: str) -> str:
        stored = getattr(self, f"{name}_encrypted")
        return crypto.decrypt(stored) if stored else ""

    def secret_is_set(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_encrypted"))


class ZuoraConnection(SecretsMixin, Singleton):
    ENVIRONMENTS = {
        "production-us": "https://rest.na.zuora.com",
        "production-us-legacy": "https://rest.zuora.com",
        "production-eu": "https://rest.eu.zuora.com",
        "apisandbox-us": "https://rest.apisandbox.zuora.com",
        "sandbox-us": "https://rest.sandbox.na.zuora.com",
        "central-sandbox-us": "https://rest.test.zuora.com",
        "sandbox-eu": "https://rest.sandbox.eu.zuora.com",
        "central-sandbox-eu": "https://rest.test.eu.zuora.com",
    }
    SECRET_FIELDS = ("client_secret",)

    base_url = models.URLField(
        blank=True,
        help_text="REST base URL of the tenant, e.g. https://rest.na.zuora.com, or the local "
        "sandbox's URL.",
    )
    client_id = models.CharField(max_length=200, blank=True, help_text="OAuth client id.")
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    entity_id = models.CharField(
        max_length=100, blank=True, help_text="Zuora-Entity-Ids header, for multi-entity tenants."
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)

    class Meta:
        verbose_name = "Zuora connection"
        verbose_name_plural = "Zuora connection"

    def __str__(self) -> str:
        return f"Zuora at {self.base_url or '(not configured)'}"

    @property
    def is_configured(self) -> bool:
        return bool(self.base_url and self.client_id and self.secret_is_set("client_secret"))


class NetSuiteConnection(SecretsMixin, Singleton):
    AUTH_TBA = "tba"
    AUTH_OAUTH2 = "oauth2"
    SECRET_FIELDS = ("consumer_secret", "token_secret", "private_key")

    account_id = models.CharField(
        max_length=50, blank=True, help_text="NetSuite account id, e.g. 1234567 or 1234567_SB1."
    )
    base_url = models.URLField(
        blank=True,
        help_text="Leave empty for https://<account>.suitetalk.api.netsuite.com; set it for "
        "the local sandbox.",
    )
    auth_method = models.CharField(
        max_length=10,
        choices=[
            (AUTH_TBA, "Token-based (OAuth 1.0a)"),
            (AUTH_OAUTH2, "OAuth 2.0 client credentials"),
        ],
        default=AUTH_TBA,
    )
    consumer_key = models.CharField(max_length=200, blank=True)
    consumer_secret_encrypted = models.TextField(blank=True, editable=False)
    token_id = models.CharField(max_length=200, blank=True)
    token_secret_encrypted = models.TextField(blank=True, editable=False)
    client_id = models.CharField(max_length=200, blank=True, help_text="OAuth 2.0 client id.")
    certificate_id = models.CharField(
        max_length=200, blank=True, help_text="OAuth 2.0 certificate id (the JWT's kid)."
    )
    private_key_encrypted = models.TextField(blank=True, editable=False)
    algorithm = models.CharField(
        max_length=5, choices=[("PS256", "PS256 (RSA)"), ("ES256", "ES256 (EC)")], default="PS256"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)

    class Meta:
        verbose_name = "NetSuite connection"
        verbose_name_plural = "NetSuite connection"

    def __str__(self) -> str:
        return f"NetSuite account {self.account_id or '(not configured)'}"

    @property
    def is_configured(self) -> bool:
        if not self.account_id:
            return False
        if self.auth_method == self.AUTH_OAUTH2:
            return bool(
                self.client_id and self.certificate_id and self.secret_is_set("private_key")
            )
        return bool(
            self.consumer_key
            and self.token_id
            and self.secret_is_set("consumer_secret")
            and self.secret_is_set("token_secret")
        )


class Master(models.TextChoices):
    ZUORA = "zuora", "Zuora"
    NETSUITE = "netsuite", "NetSuite"


class Direction(models.TextChoices):
    ZUORA_TO_NETSUITE = "zuora_to_netsuite", "Zuora → NetSuite"
    NETSUITE_TO_ZUORA = "netsuite_to_zuora", "NetSuite → Zuora"


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


class SyncCursor(models.Model):
    """The watermark of one direction: the newest source change already synced."""

    direction = models.CharField(max_length=30, choices=Direction.choices, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    # Equal to the watermark when the run that set it re-read its own write-backs: the next run
    # then needs no overlap window (see ZuoraToNetSuiteSync.settle).
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


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        COMMAND = "command", "Command"
        RETRY = "retry", "Retry"

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


class Outcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    LINKED = "linked", "Linked"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    # Not created on the destination because a probable match waits for a person's review.
    NEEDS_REVIEW = "review", "Needs review"


def name_search_key(name: str) -> str:
    """A name as the results search compares it: Unicode-normalized, case-folded, with runs of
    whitespace made one space. Folding in Python rather than with the database's LOWER() keeps
    the search the same on every database (SQLite's LOWER() folds ASCII letters only)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class NameKeyField(models.CharField):
    """The search key (name_search_key) of another text field of the model. pre_save runs for
    save(), create() and bulk_create() alike, so every ORM writer of the row fills it; raw SQL
    inserts must call name_search_key themselves."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        key = name_search_key(getattr(model_instance, self.source) or "")[: self.max_length]
        setattr(model_instance, self.attname, key)
        return key


@NameKeyField.register_lookup
class NameKeyStartsWith(models.lookups.StartsWith):
    """`startswith` that an ordinary index serves on SQLite too. SQLite's LIKE ignores ASCII case,
    so it only uses an index built with NOCASE; keys are already case-folded, and in SQLite's
    binary order the range [prefix, prefix + U+10FFFF) holds the keys that start with the prefix
    (all but those with the noncharacter U+10FFFF right after it). PostgreSQL keeps
    LIKE 'prefix%', served by a varchar_pattern_ops index."""

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, list[Any]]:
        if not (self.rhs_is_direct_value() and isinstance(self.rhs, str)):
            return self.as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        params = [*lhs_params, self.rhs, *lhs_params, self.rhs + "\U0010ffff"]
        return f"({lhs} >= %s AND {lhs} < %s)", params


class AccountResult(models.Model):
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="results")
    link = models.ForeignKey(
        RecordLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    source_id = models.CharField(max_length=64)
    source_number = models.CharField(max_length=100, blank=True)
    source_name = models.CharField(max_length=255, blank=True)
    # What the results search matches names against: an index serves "starts with" on it.
    name_key = NameKeyField(max_length=255, source="source_name")
    destination_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=255, blank=True, help_text="Why it was skipped.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    waiting_for = models.CharField(
        max_length=64, blank=True, help_text="The parent's source id, when it failed because of it."
    )
    changes = models.JSONField(default=dict, blank=True, help_text="field: [before, after]")
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("retry_accounts", "Can retry failed accounts"),
            ("ignore_accounts", "Can take accounts out of the sync and back"),
        ]
        indexes = [
            models.Index(fields=["run", "outcome"]),
            models.Index(fields=["outcome", "-id"]),
            models.Index(fields=["error_code", "-id"]),
            models.Index(fields=["source_id", "-id"]),
            models.Index(fields=["source_number"]),
            # Filters and searches of the results page at a million rows.
            models.Index(fields=["run", "-id"], name="result_run_id"),
            models.Index(fields=["outcome", "error_code"], name="result_outcome_code"),
            models.Index(fields=["destination_id"], name="result_destination"),
            # The pattern opclass lets PostgreSQL serve LIKE 'prefix%' whatever the database's
            # collation; other databases ignore opclasses.
            models.Index(
                fields=["name_key"], name="result_name_key", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_number or self.source_id}: {self.get_outcome_display()}"


class SyncLease(models.Model):
    """At most one sync at a time across processes and machines: a row per lease name, taken by
    a conditional UPDATE (atomic on SQLite and PostgreSQL) and renewed while the run lives."""

    name = models.CharField(max_length=50, unique=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"


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


class IgnoredAccount(models.Model):
    """A source record taken out of the sync by a person; deleting the row puts it back."""

    direction = models.CharField(max_length=30, choices=Direction.choices)
    source_id = models.CharField(max_length=64)
    source_number = models.CharField(max_length=100, blank=True)
    source_name = models.CharField(max_length=255, blank=True)
    ignored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ignored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ignored_at"]
        constraints = [
            models.UniqueConstraint(fields=["direction", "source_id"], name="ignored_source")
        ]
        indexes = [models.Index(fields=["-ignored_at"], name="ignored_at")]

    def __str__(self) -> str:
        return f"{self.source_number or self.source_id} ({self.get_direction_display()})"


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
