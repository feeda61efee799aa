"""The fields admins added (see added.py): from a source record to the extra destination fields.

Pure functions, one per rule; `added_fields` assembles them for one record and
`with_added_fields` merges the result into the built-in payload, so the added fields travel in
the same single write. For each added mapping, in this order:

1. `source_value`: read the field from the source record (a Zuora Object Query account, contacts
   embedded as billTo / soldTo; or a NetSuite customer as the NetSuite -> Zuora sync reads it).
2. `transformed`: copy it (`copy_value`), look it up in the value map (`mapped_value`), or fall
   back to the constant default when it is empty (`defaulted_value`).
3. `is_empty`: an empty value is never sent, so it never overwrites the destination.
4. `converted`: turn it into the destination's type (text -> number, "Yes" -> true, dates as
   ISO yyyy-mm-dd, ...); a value that cannot be converted fails that record.
5. `within_length`: a text longer than the destination accepts fails that record (never cut).
6. `destination_value`: a NetSuite list/record field is written as {"id": ...}.
7. `placed`: a Zuora contact field goes inside billToContact / soldToContact.

Field paths (as added.py documents them):
- Zuora account field: its API name as Object Query reads it ("salesRepName", "Region__c").
- Zuora contact field: "billTo.<field>" or "soldTo.<field>" ("billTo.fax"); "billToContact.<f>"
  and "soldToContact.<f>" are read the same way. As a destination both forms are written inside
  the account's billToContact / soldToContact object of the one account call.
- NetSuite customer field: its REST name ("fax", "custentity_region", "category"). Read from
  the customer as the sync reads it, a list/record field ({"id": "3", "refName": ...} or the
  bare id SuiteQL returns) stands for its internal id ("3").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncadmin.mapping.added import AddedMapping, FieldType, Transform
from syncadmin.mapping.types import MappingError, without_control_characters

# Zuora contact prefixes, as a path may name them -> the key of the contact in Object Query's
# account (source) and in the v1 account body (destination).
CONTACT_PREFIXES: dict[str, tuple[str, str]] = {
    "billTo": ("billTo", "billToContact"),
    "billToContact": ("billTo", "billToContact"),
    "soldTo": ("soldTo", "soldToContact"),
    "soldToContact": ("soldTo", "soldToContact"),
}
# The only spellings a text becomes a boolean through (case does not matter).
TRUE_SPELLINGS = frozenset({"yes", "y", "true", "t", "1", "on", "checked"})
FALSE_SPELLINGS = frozenset({"no", "n", "false", "f", "0", "off", "unchecked"})
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TEXT_TYPES = (FieldType.TEXT, FieldType.PICKLIST)

NETSUITE = "netsuite"
ZUORA = "zuora"


def split_path(path: str) -> tuple[str | None, str]:
    """("billTo", "fax") for a contact path, (None, field) for a record's own field."""
    prefix, dot, name = path.partition(".")
    if dot and prefix in CONTACT_PREFIXES:
        return prefix, name
    return None, path


def source_value(record: Mapping[str, Any], path: str) -> Any:
    """The source record's value at `path`; a reference ({"id": ...}) reads as its id."""
    prefix, name = split_path(path)
    if prefix is not None:
        source_key, write_key = CONTACT_PREFIXES[prefix]
        record = record.get(source_key) or record.get(write_key) or {}
    value = record.get(name)
    if isinstance(value, Mapping):
        value = value.get("id")
    return value


def is_empty(value: Any) -> bool:
    """Null, empty and blank values are never sent: they never overwrite the destination."""
    if value is None:
        return True
    return isinstance(value, str) and not without_control_characters(value).strip()


def copy_value(value: Any, mapping: AddedMapping) -> Any:
    """Transform.COPY: the source value as it is."""
    return value


def mapped_value(value: Any, mapping: AddedMapping) -> Any:
    """Transform.VALUE_MAP: the destination value the map gives; an empty source stays empty.

    The key is matched exactly, then ignoring case. A value the map lacks fails the record,
    saying which value to add to the map."""
    if is_empty(value):
        return None
    key = _as_text(value)
    if key in mapping.value_map:
        return mapping.value_map[key]
    folded = [k for k in mapping.value_map if k.casefold() == key.casefold()]
    if len(folded) == 1:
        return mapping.value_map[folded[0]]
    raise MappingError(
        "UNMAPPED_VALUE",
        f"The value '{key}' is not in the value map of the field mapping {_name(mapping)}. "
        "Add it to the value map on the Field mappings page (or correct the value), then retry.",
        field=mapping.source_field,
    )


def defaulted_value(value: Any, mapping: AddedMapping) -> Any:
    """Transform.DEFAULT: the source value, or the mapping's constant when it is empty."""
    return mapping.default if is_empty(value) else value


TRANSFORMS = {
    Transform.COPY: copy_value,
    Transform.VALUE_MAP: mapped_value,
    Transform.DEFAULT: defaulted_value,
}


def transformed(value: Any, mapping: AddedMapping) -> Any:
    return TRANSFORMS[Transform(mapping.transform)](value, mapping)


def converted(value: Any, mapping: AddedMapping) -> Any:
    """`value` in the destination's type; MappingError when it cannot be."""
    kind = FieldType(mapping.destination_type)
    try:
        return CONVERSIONS[kind](value)
    except (ValueError, InvalidOperation, TypeError):
        pass
    raise MappingError(
        "INVALID_FIELD_VALUE",
        f"The value '{_as_text(value)[:40]}' cannot go into {_destination(mapping)}, which "
        f"holds {_TYPE_WORDS[kind]}. Correct the value, or change the field mapping "
        f"{_name(mapping)} on the Field mappings page, then retry.",
        field=mapping.source_field,
    )


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return without_control_characters(str(value)).strip()


def to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    number = Decimal(_as_text(value).replace(",", "")) if not isinstance(value, int) else value
    if number != int(number):
        raise ValueError(value)  # 2.5 is not a whole number: never rounded silently
    return int(number)


def to_decimal(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError(value)
    number = Decimal(_as_text(value).replace(",", ""))
    if not number.is_finite():
        raise ValueError(value)
    return int(number) if number == int(number) else float(number)


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _as_text(value).casefold()
    if text in TRUE_SPELLINGS:
        return True
    if text in FALSE_SPELLINGS:
        return False
    raise ValueError(value)


def to_date(value: Any) -> str:
    """ISO yyyy-mm-dd. A date-time keeps the date it names (Zuora writes its own offset)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    match = _ISO_DATE.match(_as_text(value))
    if not match:
        raise ValueError(value)  # 3/4/2026 is March or April: never guessed
    return date(*(int(part) for part in match.groups())).isoformat()


def to_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    text = _as_text(value)
    if not _ISO_DATE.match(text):
        raise ValueError(value)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


def to_reference_id(value: Any) -> str:
    """A NetSuite list/record value: its internal id."""
    text = _as_text(value)
    if not text.isdigit():
        raise ValueError(value)
    return text


CONVERSIONS = {
    FieldType.TEXT: to_text,
    FieldType.PICKLIST: to_text,
    FieldType.INTEGER: to_integer,
    FieldType.DECIMAL: to_decimal,
    FieldType.BOOLEAN: to_boolean,
    FieldType.DATE: to_date,
    FieldType.DATETIME: to_datetime,
    FieldType.REFERENCE: to_reference_id,
}
_TYPE_WORDS = {
    FieldType.TEXT: "text",
    FieldType.PICKLIST: "a choice from a list",
    FieldType.INTEGER: "whole numbers",
    FieldType.DECIMAL: "numbers",
    FieldType.BOOLEAN: "yes or no (Yes/No, true/false)",
    FieldType.DATE: "dates written yyyy-mm-dd",
    FieldType.DATETIME: "dates and times written yyyy-mm-ddThh:mm:ss",
    FieldType.REFERENCE: "a NetSuite list value (its internal id)",
}


def within_length(value: Any, mapping: AddedMapping) -> Any:
    """A text longer than the destination's limit is refused, never cut."""
    limit = mapping.max_length
    if limit and isinstance(value, str) and len(value) > limit:
        raise MappingError(
            "VALUE_TOO_LONG",
            f"The value for {_destination(mapping)} is {len(value)} characters long but it "
            f"accepts at most {limit}; shorten it at the source (it starts with "
            f"'{value[:20]}'), then retry.",
            field=mapping.destination_field,
        )
    return value


def destination_value(value: Any, mapping: AddedMapping, *, system: str) -> Any:
    """How the destination's API takes the value: a NetSuite reference as {"id": ...}."""
    if system == NETSUITE and FieldType(mapping.destination_type) == FieldType.REFERENCE:
        return {"id": value}
    return value


def added_value(record: Mapping[str, Any], mapping: AddedMapping, *, system: str) -> Any:
    """One mapping's value for the destination `system`, or None when nothing is to be sent."""
    value = transformed(source_value(record, mapping.source_field), mapping)
    if is_empty(value):
        return None
    if isinstance(value, str):
        value = without_control_characters(value).strip()
    value = within_length(converted(value, mapping), mapping)
    return destination_value(value, mapping, system=system)


def placed(fields: dict[str, Any], path: str, value: Any, *, system: str) -> None:
    """Put `value` where the destination's single write takes it."""
    prefix, name = split_path(path)
    if system == ZUORA and prefix is not None:
        fields.setdefault(CONTACT_PREFIXES[prefix][1], {})[name] = value
    else:
        fields[path] = value


def added_fields(
    record: Mapping[str, Any], mappings: Iterable[AddedMapping], *, system: str
) -> dict[str, Any]:
    """The destination fields the added mappings give for one source record (empties left out;
    Zuora contact fields nested in billToContact / soldToContact). MappingError when one value
    cannot be sent: the record fails with what to fix, and the run goes on."""
    fields: dict[str, Any] = {}
    for mapping in mappings:
        value = added_value(record, mapping, system=system)
        if value is not None:
            placed(fields, mapping.destination_field, value, system=system)
    return fields


def with_added_fields(payload: dict[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """The built-in payload with the added fields merged in. A built-in value is never replaced
    (the Field mappings page refuses such a mapping; this keeps the built-in rule if one slips
    through); nested contact objects merge field by field."""
    merged = dict(payload)
    for key, value in added.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping) and "id" not in value:
            merged[key] = {**value, **current}
        elif key not in merged:
            merged[key] = value
    return merged


def destination_paths(mappings: Iterable[AddedMapping], *, system: str) -> list[tuple[str, str]]:
    """(key in the payload, field) of each mapping's destination, as `placed` writes it:
    ("billToContact", "fax") for a Zuora contact field, ("custentity_region", "") otherwise."""
    paths = []
    for mapping in mappings:
        prefix, name = split_path(mapping.destination_field)
        if system == ZUORA and prefix is not None:
            paths.append((CONTACT_PREFIXES[prefix][1], name))
        else:
            paths.append((mapping.destination_field, ""))
    return paths


def _as_text(value: Any) -> str:
    return to_text(value) if value is not None else ""


def _name(mapping: AddedMapping) -> str:
    if mapping.label:
        return f"“{mapping.label}”"
    return f"“{mapping.source_field} → {mapping.destination_field}”"


def _destination(mapping: AddedMapping) -> str:
    """The destination field as the label names it ("NetSuite Region"), else its API name."""
    label = re.split(r"→|->", mapping.label)[-1].strip() if mapping.label else ""
    return label if label and label != mapping.label else mapping.destination_field
