"""Changing sync preferences: validated as a whole, against the live systems where a value
names something of theirs, with the side effects the rules ask for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from syncadmin.mapping import MappingOptions, NumberMode
from syncadmin.models import (
    NetSuiteConnection,
    RecordLink,
    SyncCursor,
    SyncPreferences,
    ZuoraConnection,
)

# A preference check must answer while the admin waits: one try, a short timeout.
LIVE_CLIENT_OPTIONS: dict[str, Any] = {"timeout": 10, "max_attempts": 1, "retry_budget": 10}
# Preferences that name a record of a live system: (system, what it is).
LIVE_FIELDS = {
    "default_subsidiary": ("NetSuite", "the default subsidiary"),
    "zuora_default_currency": ("Zuora", "the default currency"),
    "default_payment_term": ("Zuora", "the default payment term"),
}


@dataclass
class LiveResolution:
    """What the live systems said about some preference values: refusals by field, and
    warnings for the values that could not be checked."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def subsidiary_problem(value: str, names: list[str]) -> str | None:
    if not value or value in names:
        return None
    return (
        f'NetSuite has no subsidiary named "{value}". Use its full name as NetSuite shows it '
        f"(Setup > Company > Subsidiaries), one of: {'; '.join(names) or 'none visible'}."
    )


def currency_problem(value: str, codes: list[str], system: str) -> str | None:
    if not value or value.upper() in {c.upper() for c in codes}:
        return None
    return (
        f"{value.upper()} is not a currency enabled in {system}. "
        f"Choose one of: {', '.join(codes) or 'none enabled'}."
    )


def payment_term_problem(value: str, terms: list[str], system: str) -> str | None:
    if not value or value in terms:
        return None
    return f'{system} has no payment term "{value}". Choose one of: {"; ".join(terms) or "none"}.'


def preferences_resolve_live(*, values: dict[str, Any]) -> LiveResolution:
    """Check the values that name a live record (subsidiary, currency, payment term) against
    the system they live in, when its connection is configured. A value known to be invalid
    is an error listing the valid ones; a system that cannot be asked is a warning only, so
    that an outage never blocks an admin's unrelated change."""
    from syncadmin.services.connections import netsuite_client_build, zuora_client_build

    resolution = LiveResolution()
    wanted = {name: values[name] for name in LIVE_FIELDS if values.get(name)}
    subsidiary = wanted.get("default_subsidiary")
    if subsidiary and NetSuiteConnection.load().is_configured:
        try:
            client = netsuite_client_build(**LIVE_CLIENT_OPTIONS)
            names = [s["name"] for s in client.list_subsidiaries()]
        except Exception as exc:  # any failure to ask is a warning, never a refusal
            resolution.warnings.append(_unchecked("default_subsidiary", exc))
        else:
            _refuse(resolution, "default_subsidiary", subsidiary_problem(subsidiary, names))
    zuora_fields = [
        name for name in ("zuora_default_currency", "default_payment_term") if name in wanted
    ]
    if zuora_fields and ZuoraConnection.load().is_configured:
        try:
            client = zuora_client_build(**LIVE_CLIENT_OPTIONS)
            codes = client.list_currencies() if "zuora_default_currency" in wanted else []
            terms = client.list_payment_terms() if "default_payment_term" in wanted else []
        except Exception as exc:  # any failure to ask is a warning, never a refusal
            resolution.warnings.extend(_unchecked(name, exc) for name in zuora_fields)
        else:
            if "zuora_default_currency" in wanted:
                problem = currency_problem(wanted["zuora_default_currency"], codes, "Zuora")
                _refuse(resolution, "zuora_default_currency", problem)
            if "default_payment_term" in wanted:
                problem = payment_term_problem(wanted["default_payment_term"], terms, "Zuora")
                _refuse(resolution, "default_payment_term", problem)
    return resolution


def _refuse(resolution: LiveResolution, name: str, problem: str | None) -> None:
    if problem is not None:
        resolution.errors[name] = problem


def _unchecked(name: str, error: Exception) -> str:
    system, what = LIVE_FIELDS[name]
    return (
        f"Saved {what} without checking it: {system} could not be asked ({error}). "
        "Run Check setup on the sync dashboard once it answers."
    )


def preferences_master_switch_warning(*, master: str) -> str | None:
    """What switching the master to `master` means for the records already linked, or None
    when nothing is linked (or the master stays): the admin and the command ask for a
    confirmation before they switch while there is such a warning."""
    if not master or master == SyncPreferences.load().master:
        return None
    links = RecordLink.objects.count()
    if not links:
        return None
    return (
        f"{links} records are linked. Switching the master keeps every link and starts the "
        "new direction from a fresh watermark."
    )


def preferences_update(
    *,
    values: dict[str, Any],
    check_live: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> SyncPreferences:
    """Set preferences by field name; raises ValidationError (by field) and saves nothing when
    any value is bad, including a subsidiary, currency or payment term the live system does
    not have (see preferences_resolve_live; `on_warning` hears of values it could not check).

    Two changes reset the watermark so that no record is silently skipped: switching from
    "New Only" to "New and Modified" (linked records were never updated and must be looked at
    again; the incumbent resets to "now" and misses them), and switching the master (the new
    direction starts from a fresh watermark; links are kept, so nothing is re-created)."""
    known = {f.name for f in SyncPreferences._meta.get_fields()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError({name: "No such preference." for name in unknown})
    if check_live:
        # Outside the transaction: the systems are asked before any row is locked.
        _with_values(SyncPreferences.load(), values).full_clean()
        resolution = preferences_resolve_live(values=values)
        if resolution.errors:
            raise ValidationError(resolution.errors)
        for warning in resolution.warnings:
            if on_warning is not None:
                on_warning(warning)
    with transaction.atomic():
        preferences = SyncPreferences.load()
        before_behavior = preferences.sync_behavior
        before_master = preferences.master
        before_schedule = _schedule_of(preferences)
        _with_values(preferences, values).full_clean()
        preferences.save()
        reset = (
            before_behavior == SyncPreferences.Behavior.NEW_ONLY
            and preferences.sync_behavior == SyncPreferences.Behavior.NEW_AND_MODIFIED
        ) or before_master != preferences.master
        if reset:
            SyncCursor.objects.filter(direction=preferences.direction).update(watermark=None)
        if _schedule_of(preferences) != before_schedule or preferences.schedule_enabled:
            # Here rather than in each caller: the command, the admin and any other caller
            # turn the queue's schedule on, off or to a new interval at once.
            from syncadmin.services.schedule import schedule_ensure

            schedule_ensure()
    return preferences


def _with_values(preferences: SyncPreferences, values: dict[str, Any]) -> SyncPreferences:
    for name, value in values.items():
        setattr(preferences, name, value)
    return preferences


def _schedule_of(preferences: SyncPreferences) -> tuple[bool, int]:
    return preferences.schedule_enabled, preferences.schedule_minutes()


def preferences_mapping_options(preferences: SyncPreferences) -> MappingOptions:
    """The preferences the field mapping follows, as the pure mapping functions take them."""
    return MappingOptions(
        number_mode=NumberMode(preferences.number_mapping),
        update_number=preferences.number_update,
        netsuite_multi_currency=preferences.netsuite_multi_currency,
        netsuite_one_world=preferences.netsuite_one_world,
        default_subsidiary=preferences.default_subsidiary,
        default_department_id=preferences.default_department_id,
        default_class_id=preferences.default_class_id,
        default_location_id=preferences.default_location_id,
        hierarchies_enabled=preferences.hierarchies_enabled,
        zuora_default_currency=preferences.zuora_default_currency,
        default_bill_cycle_day=preferences.default_bill_cycle_day,
        default_batch=preferences.default_batch,
        default_payment_term=preferences.default_payment_term,
    )
