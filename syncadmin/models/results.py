"""What each run did to each account, and the accounts taken out of the sync."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from syncadmin.models.base import Direction
from syncadmin.models.links import RecordLink
from syncadmin.models.runs import SyncRun


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
        name, _, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        # Migrations name the field by its public path, the one migration 0006 already uses,
        # so moving it between modules of the package never touches them.
        return name, "syncadmin.models.NameKeyField", args, kwargs

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


class OpenProblem(AccountResult):
    """A record whose latest result failed or waits for review (selectors.open_problems): the
    admin's inbox. The rows are AccountResults; this proxy gives them a page of their own."""

    class Meta:
        proxy = True
        ordering = ["-id"]
        verbose_name = "open problem"
        verbose_name_plural = "open problems"
