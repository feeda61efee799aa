"""Adding and removing field mappings and name translations, checked against the live systems.

A mapping is saved only once both systems have confirmed its fields exist, that the
destination may be written and takes what the source holds, and that every value-map entry
names something real. When a system cannot be asked, nothing is saved: an unchecked mapping
would fail every record of the next run, which is worse than trying again a minute later.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.mapping.added import FieldType, Transform
from syncadmin.mapping.builtin import BY_DIRECTION
from syncadmin.mapping.field_catalog import (
    TYPE_WORDS,
    CatalogField,
    netsuite_customer_fields,
    normal_value,
    type_problem,
    zuora_account_fields,
)
from syncadmin.models import (
    Direction,
    FieldMapping,
    NameTranslation,
    NetSuiteConnection,
    ZuoraConnection,
)
from syncadmin.services.zuora_writes import ACCOUNT_KEYS, CONTACT_FIELDS

# One try, a short wait: an admin is looking at the page.
LIVE_CLIENT_OPTIONS: dict[str, Any] = {"timeout": 10, "max_attempts": 1, "retry_budget": 10}
CATALOG_CACHE_PREFIX = "syncadmin:field-catalogs"
CATALOG_CACHE_SECONDS = 300

# Tax Reg Number is never synced (the incumbent's documented exclusion), either way.
TAX_REGISTRATION_FIELDS = frozenset(
    {"vatRegNumber", "taxRegNumber", "taxRegistration", "billTo.taxRegion", "soldTo.taxRegion"}
)
# What the built-in mapping writes beyond the "(apiName)"s its rows name (builtin.py): the
# account and contact fields the NetSuite -> Zuora write compares, and the contact
# description it sets on create (postalCode is Zuora's other name for zipCode).
_CONTACT_WRITES = (*CONTACT_FIELDS, "postalCode", "description")
_BUILT_IN_EXTRA: dict[str, frozenset[str]] = {
    Direction.ZUORA_TO_NETSUITE: frozenset(
        {
            "entityId",
            "companyName",
            "isPerson",
            "firstName",
            "lastName",
            "email",
            "phone",
            "comments",
            "currency",
            "terms",
            "subsidiary",
            "department",
            "class",
            "location",
            "parent",
            "externalId",
            "addressBook",
            *ns_fields.ALL,
        }
    ),
    Direction.NETSUITE_TO_ZUORA: frozenset(
        {
            *ACCOUNT_KEYS,
            "billToContact",
            "soldToContact",
            *z_fields.ALL,
            *(f"{prefix}.{name}" for prefix in ("billTo", "soldTo") for name in _CONTACT_WRITES),
        }
    ),
}
_API_NAME = re.compile(r"\(([A-Za-z_][\w.]*)\)")
SYSTEM_OF_SOURCE = {Direction.ZUORA_TO_NETSUITE: "Zuora", Direction.NETSUITE_TO_ZUORA: "NetSuite"}
SYSTEM_OF_DESTINATION = {
    Direction.ZUORA_TO_NETSUITE: "NetSuite",
    Direction.NETSUITE_TO_ZUORA: "Zuora",
}


def built_in_destinations(direction: str) -> frozenset[str]:
    """The destination fields the built-in mapping writes in `direction`: the API names its
    rows give in brackets, and the ones it writes without naming them there."""
    named = {name for row in BY_DIRECTION[direction] for name in _API_NAME.findall(row.destination)}
    return frozenset(named) | _BUILT_IN_EXTRA[direction]


class SystemUnreachable(Exception):
    """A live system could not be asked; the message says which and what to do."""


UNCHECKED = "Could not check this against the live systems, so nothing was saved."


def _unreachable(system: str, error: Exception) -> SystemUnreachable:
    from syncadmin.services.connection_health import run_error_explain
    from syncadmin.services.connections import ConnectionNotConfigured

    if isinstance(error, ConnectionNotConfigured):
        return SystemUnreachable(str(error))
    lines = run_error_explain(error).strip().splitlines()
    text = lines[0] if lines else ""
    if system not in text:
        text = f"{system} could not be asked" + (f": {text.rstrip('.')}." if text else ".")
    return SystemUnreachable(f"{text} Try again in a minute, or run Check setup on the dashboard.")


def _ask(system: str, question: Callable[[], Any]) -> Any:
    try:
        return question()
    except Exception as exc:  # any failure to ask means "not checked": refuse, say why
        raise _unreachable(system, exc) from exc


# -- catalogs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldCatalogs:
    zuora: dict[str, CatalogField]
    netsuite: dict[str, CatalogField]

    def source(self, direction: str) -> dict[str, CatalogField]:
        return self.zuora if direction == Direction.ZUORA_TO_NETSUITE else self.netsuite

    def destination(self, direction: str) -> dict[str, CatalogField]:
        return self.netsuite if direction == Direction.ZUORA_TO_NETSUITE else self.zuora


def _zuora_client() -> Any:
    from syncadmin.services.connections import zuora_client_build

    return _ask("Zuora", lambda: zuora_client_build(**LIVE_CLIENT_OPTIONS))


def _netsuite_client() -> Any:
    from syncadmin.services.connections import netsuite_client_build

    return _ask("NetSuite", lambda: netsuite_client_build(**LIVE_CLIENT_OPTIONS))


def field_catalogs_fetch() -> FieldCatalogs:
    """Both systems' fields, asked now (three calls, at the same time); SystemUnreachable
    when either cannot answer."""
    zuora, netsuite = _zuora_client(), _netsuite_client()
    with ThreadPoolExecutor(max_workers=3) as pool:
        account = pool.submit(zuora.describe_fields, "Account")
        contact = pool.submit(zuora.describe_fields, "Contact")
        customer = pool.submit(netsuite.customer_record_fields)
        zuora_fields = _ask("Zuora", lambda: (account.result(), contact.result()))
        netsuite_fields = _ask("NetSuite", customer.result)
    catalogs = FieldCatalogs(
        zuora=zuora_account_fields(*zuora_fields),
        netsuite=netsuite_customer_fields(netsuite_fields),
    )
    cache.set(_catalog_cache_key(), catalogs, CATALOG_CACHE_SECONDS)
    return catalogs


def _catalog_cache_key() -> str:
    """Kept per pair of connected systems: after a connection is pointed elsewhere, the
    other tenant's fields are never offered."""
    zuora = ZuoraConnection.load()
    netsuite = NetSuiteConnection.load()
    systems = "\n".join((zuora.base_url, netsuite.account_id, netsuite.base_url))
    return f"{CATALOG_CACHE_PREFIX}:{hashlib.sha256(systems.encode()).hexdigest()}"


def field_catalogs_for_display() -> FieldCatalogs:
    """The catalogs for a page's choices: the last ones asked for within five minutes, else
    asked now. Saving always asks again (field_mapping_add)."""
    catalogs = cache.get(_catalog_cache_key())
    return catalogs if isinstance(catalogs, FieldCatalogs) else field_catalogs_fetch()


# -- NetSuite lists -------------------------------------------------------------------------------
_LIST_QUERIES = {
    "currency": "SELECT id, symbol AS name FROM currency ORDER BY id",
    "subsidiary": "SELECT id, fullname AS name FROM subsidiary ORDER BY id",
}


def _netsuite_list(client: Any, record_type: str) -> list[tuple[str, str]]:
    """(internal id, name) of every entry of a NetSuite list, by SuiteQL."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", record_type):
        raise ValueError(f"not a record type: {record_type!r}")
    query = _LIST_QUERIES.get(record_type, f"SELECT id, name FROM {record_type} ORDER BY id")
    rows = _ask("NetSuite", lambda: list(client.suiteql(query)))
    return [(str(r["id"]), str(r.get("name") or "")) for r in rows]


def _list_entry(value: str, entries: list[tuple[str, str]]) -> str | None:
    """The internal id of the entry `value` names, by id or by name (any case)."""
    text = value.strip()
    if any(text == entry_id for entry_id, _ in entries):
        return text
    for entry_id, name in entries:
        if name.lower() == text.lower():
            return entry_id
    return None


def _entries_words(entries: list[tuple[str, str]]) -> str:
    return "; ".join(f"{name} ({entry_id})" for entry_id, name in entries[:30]) or "none"


# -- adding a mapping -----------------------------------------------------------------------------
def _named(field: CatalogField) -> str:
    return f"{field.label} ({field.name})"


def _check_fields(
    direction: str, source: CatalogField | None, destination: CatalogField | None, names: tuple
) -> dict[str, str]:
    source_name, destination_name = names
    errors: dict[str, str] = {}
    from_system, to_system = SYSTEM_OF_SOURCE[direction], SYSTEM_OF_DESTINATION[direction]
    for key, name in (("source_field", source_name), ("destination_field", destination_name)):
        if name in TAX_REGISTRATION_FIELDS:
            errors[key] = "Tax registration numbers are never synced: choose another field."
    if "source_field" not in errors and source is None:
        errors["source_field"] = (
            f"{from_system} has no field “{source_name}”. Choose one from the list "
            f"(fields {from_system} reports for this connection)."
        )
    if "destination_field" in errors:
        return errors
    if destination is None:
        errors["destination_field"] = (
            f"{to_system} has no field “{destination_name}”. Choose one from the list "
            f"(fields {to_system} reports for this connection)."
        )
    elif destination.name in built_in_destinations(direction):
        errors["destination_field"] = (
            f"The sync already writes {_named(destination)} (see the built-in rows above): "
            "choose a field it leaves alone."
        )
    elif not destination.writable:
        errors["destination_field"] = (
            f"{_named(destination)} is read-only in {to_system}: choose a field that can be "
            "written."
        )
    return errors


def _check_copy(
    source: CatalogField, destination: CatalogField, transform: Transform
) -> str | None:
    problem = type_problem(source.type, destination.type, transform)
    if problem is not None or transform == Transform.VALUE_MAP:
        return problem
    if destination.type == FieldType.REFERENCE and source.reference_to != destination.reference_to:
        return (
            f"{_named(source)} and {_named(destination)} are different NetSuite lists: use a "
            "value map to say which entry becomes which."
        )
    if destination.type == FieldType.PICKLIST and destination.options:
        missing = [o for o in source.options if o not in destination.options]
        if missing or not source.options:
            which = ", ".join(missing) if missing else "values outside its list"
            return (
                f"{_named(destination)} has no value for {which}: use a value map to say "
                "which value becomes which."
            )
    return None


def _destination_value(
    value: str, destination: CatalogField, lookup: Callable[[], list[tuple[str, str]]]
) -> str:
    """The value in the form the destination stores it; ValueError saying why not."""
    if destination.type == FieldType.REFERENCE:
        entries = lookup()
        found = _list_entry(value, entries)
        if found is None:
            raise ValueError(
                f"is not an entry of NetSuite's list for {destination.label}. "
                f"Entries: {_entries_words(entries)}"
            )
        return found
    return normal_value(value, destination)


def _check_value_map(
    value_map: Mapping[str, str],
    source: CatalogField,
    destination: CatalogField,
    lookup: Callable[[], list[tuple[str, str]]],
    source_lookup: Callable[[], list[tuple[str, str]]],
) -> tuple[dict[str, str], str | None]:
    if not value_map:
        return {}, "Add at least one line “source value = destination value”."
    stored: dict[str, str] = {}
    for key, target in value_map.items():
        if source.type == FieldType.PICKLIST and source.options:
            spelled = next((o for o in source.options if o.lower() == key.lower()), None)
            if spelled is None:
                return {}, (
                    f"“{key}” is not a value of {_named(source)}. "
                    f"Its values: {', '.join(source.options)}."
                )
            key = spelled
        elif source.type == FieldType.REFERENCE:
            try:
                entry = _list_entry(key, source_lookup())
            except ValueError as exc:
                return {}, f"{source.label} {exc}."
            if entry is None:
                return {}, f"“{key}” is not an entry of NetSuite's list for {source.label}."
            key = entry
        try:
            stored[key] = _destination_value(target, destination, lookup)
        except ValueError as exc:
            return {}, f"“{key} = {target}”: {target} {exc}."
    return stored, None


def field_mapping_add(
    *,
    direction: str,
    source_field: str,
    destination_field: str,
    transform: str = Transform.COPY,
    value_map: Mapping[str, str] | None = None,
    default_value: str = "",
    user: Any = None,
    catalogs: FieldCatalogs | None = None,
) -> FieldMapping:
    """Check a new mapping against the live systems and save it. Refusals are a
    ValidationError keyed by the field of the form they concern (source_field,
    destination_field, transform, value_map, default_value; __all__ when a system could not
    be asked). `catalogs` lets a caller that has just fetched them skip a second fetch."""
    direction = Direction(direction)
    transform = Transform(transform)
    source_field, destination_field = source_field.strip(), destination_field.strip()
    value_map = dict(value_map or {})
    try:
        catalogs = catalogs or field_catalogs_fetch()
    except SystemUnreachable as exc:
        raise ValidationError({NON_FIELD_ERRORS: f"{UNCHECKED} {exc}"}) from None
    source = catalogs.source(direction).get(source_field)
    destination = catalogs.destination(direction).get(destination_field)
    errors = _check_fields(direction, source, destination, (source_field, destination_field))
    if errors:
        raise ValidationError(errors)
    assert source is not None and destination is not None
    netsuite: list[Any] = []
    lists: dict[str, list[tuple[str, str]]] = {}

    def entries_of(field: CatalogField) -> Callable[[], list[tuple[str, str]]]:
        def lookup() -> list[tuple[str, str]]:
            if not field.reference_to:
                raise ValueError(
                    f"cannot be checked: NetSuite does not say which list {field.label} uses"
                )
            if field.reference_to not in lists:
                if not netsuite:
                    netsuite.append(_netsuite_client())
                lists[field.reference_to] = _netsuite_list(netsuite[0], field.reference_to)
            return lists[field.reference_to]

        return lookup

    problem = _check_copy(source, destination, transform)
    if problem is not None:
        raise ValidationError({"transform": problem})
    stored_map: dict[str, str] = {}
    default = default_value.strip()
    try:
        if transform == Transform.VALUE_MAP:
            stored_map, problem = _check_value_map(
                value_map, source, destination, entries_of(destination), entries_of(source)
            )
            if problem is not None:
                raise ValidationError({"value_map": problem})
        if transform != Transform.VALUE_MAP and value_map:
            raise ValidationError(
                {
                    "value_map": "A value map needs the transform “Translate through a value "
                    "map”: choose it, or empty the value map."
                }
            )
        if transform == Transform.COPY and default:
            raise ValidationError(
                {
                    "default_value": "A default needs the transform “Copy, or a default when "
                    "empty”: choose it, or leave the default blank."
                }
            )
        if transform == Transform.DEFAULT and not default:
            raise ValidationError(
                {"default_value": "Give the value to write when the source is empty."}
            )
        if default:
            try:
                default = _destination_value(default, destination, entries_of(destination))
            except ValueError as exc:
                raise ValidationError(
                    {
                        "default_value": f"“{default}” {exc}: {_named(destination)} holds "
                        f"{TYPE_WORDS[destination.type]} values."
                    }
                ) from None
    except SystemUnreachable as exc:
        raise ValidationError({NON_FIELD_ERRORS: f"{UNCHECKED} {exc}"}) from None
    taken = FieldMapping.objects.filter(direction=direction, destination_field=destination.name)
    if taken.exists():
        raise ValidationError(
            {
                "destination_field": f"{_named(destination)} is already fed by "
                f"“{taken.first()}”: remove that mapping first."
            }
        )
    value_labels = {
        side: {
            entry_id: name
            for entry_id, name in lists.get(field.reference_to, [])
            if entry_id in wanted
        }
        for side, field, wanted in (
            ("source", source, set(stored_map)),
            ("destination", destination, {*stored_map.values(), default}),
        )
        if field.type == FieldType.REFERENCE
    }
    try:
        with transaction.atomic():
            return FieldMapping.objects.create(
                direction=direction,
                source_field=source.name,
                source_label=source.label,
                source_type=source.type,
                destination_field=destination.name,
                destination_label=destination.label,
                destination_type=destination.type,
                max_length=destination.max_length,
                transform=transform,
                value_map=stored_map,
                default_value=default,
                value_labels={side: names for side, names in value_labels.items() if names},
                created_by=user if getattr(user, "pk", None) else None,
            )
    except IntegrityError:  # another admin saved the same destination a moment ago
        raise ValidationError(
            {"destination_field": f"{_named(destination)} is already fed by another mapping."}
        ) from None


def field_mapping_remove(*, mapping_id: int) -> FieldMapping:
    """Remove an added mapping (built-in rows live in code and cannot be removed); returns
    the removed row. FieldMapping.DoesNotExist when there is no such mapping."""
    with transaction.atomic():
        mapping = FieldMapping.objects.select_for_update().get(pk=mapping_id)
        mapping.delete()
    return mapping


# -- name translations ----------------------------------------------------------------------------
def _zuora_names(kind: str) -> list[str] | None:
    """The names Zuora knows for `kind`; None when Zuora keeps no list of them (subsidiaries
    are free text in Subsidiary__NS)."""
    if kind == NameTranslation.Kind.SUBSIDIARY:
        return None
    client = _zuora_client()
    if kind == NameTranslation.Kind.CURRENCY:
        return _ask("Zuora", client.list_currencies)
    return _ask("Zuora", client.list_payment_terms)


def _netsuite_names(kind: str) -> list[str]:
    from syncadmin.services.netsuite_reads import netsuite_lookups

    lookups = _ask("NetSuite", lambda: netsuite_lookups(_netsuite_client()))
    return list(
        {
            NameTranslation.Kind.PAYMENT_TERM: lookups.terms,
            NameTranslation.Kind.CURRENCY: lookups.currencies,
            NameTranslation.Kind.SUBSIDIARY: lookups.subsidiaries,
        }[kind]
    )


def _spelled(name: str, known: list[str]) -> str | None:
    return next((k for k in known if k.lower() == name.lower()), None)


def name_translation_set(*, kind: str, zuora_name: str, netsuite_name: str) -> NameTranslation:
    """Say that Zuora's `zuora_name` is NetSuite's `netsuite_name` for payment terms,
    currencies or subsidiaries; both names must exist in their system. Replaces the line for
    the same Zuora name. ValidationError keyed zuora_name / netsuite_name / __all__."""
    kind = NameTranslation.Kind(kind)
    zuora_name, netsuite_name = zuora_name.strip(), netsuite_name.strip()
    words = kind.label.lower()
    errors: dict[str, str] = {}
    if not zuora_name:
        errors["zuora_name"] = f"Give the {words} as Zuora names it."
    if not netsuite_name:
        errors["netsuite_name"] = f"Give the {words} as NetSuite names it."
    if errors:
        raise ValidationError(errors)
    try:
        zuora_known = _zuora_names(kind)
        netsuite_known = _netsuite_names(kind)
    except SystemUnreachable as exc:
        raise ValidationError({NON_FIELD_ERRORS: f"{UNCHECKED} {exc}"}) from None
    if zuora_known is not None:
        spelled = _spelled(zuora_name, zuora_known)
        if spelled is None:
            errors["zuora_name"] = (
                f"Zuora has no {words} “{zuora_name}”. Zuora's: {'; '.join(zuora_known)}."
            )
        zuora_name = spelled or zuora_name
    spelled = _spelled(netsuite_name, netsuite_known)
    if spelled is None:
        errors["netsuite_name"] = (
            f"NetSuite has no {words} “{netsuite_name}”. NetSuite's: {'; '.join(netsuite_known)}."
        )
    netsuite_name = spelled or netsuite_name
    if errors:
        raise ValidationError(errors)
    clash = (
        NameTranslation.objects.filter(kind=kind, netsuite_name=netsuite_name)
        .exclude(zuora_name=zuora_name)
        .first()
    )
    if clash is not None:
        raise ValidationError(
            {
                "netsuite_name": f"NetSuite's “{netsuite_name}” already stands for Zuora's "
                f"“{clash.zuora_name}”: remove that line first, so that NetSuite → Zuora "
                "knows which name to use."
            }
        )
    with transaction.atomic():
        translation, _ = NameTranslation.objects.update_or_create(
            kind=kind, zuora_name=zuora_name, defaults={"netsuite_name": netsuite_name}
        )
    return translation


def name_translation_remove(*, translation_id: int) -> NameTranslation:
    """Remove one line of a lookup table; NameTranslation.DoesNotExist when there is none."""
    with transaction.atomic():
        translation = NameTranslation.objects.select_for_update().get(pk=translation_id)
        translation.delete()
    return translation
