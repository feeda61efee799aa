"""The fields the connected systems have, in one vocabulary, and which of them can feed which.

Pure functions over what the vendors answer: Zuora's describe API (connectors/zuora/client.py
parse_describe) and NetSuite's record metadata catalog (its JSON Schema properties). The
validation service (services/field_mappings.py) asks the live systems and judges a mapping with
these; the admin page and the command show the catalogs as choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncadmin.mapping.added import FieldType, Transform
from syncadmin.mapping.added_fields import CONVERSIONS


@dataclass(frozen=True)
class CatalogField:
    """One field as an added mapping names it (see AddedMapping for the paths)."""

    name: str  # "Region__c", "billTo.fax", "custentity_region", "category"
    label: str  # as the system's own screens call it: "Region", "Bill To Fax"
    type: FieldType
    max_length: int | None = None
    options: tuple[str, ...] = ()  # a picklist's values
    writable: bool = True
    reference_to: str = ""  # NetSuite reference: the record type it points to
    custom: bool = False

    @property
    def described(self) -> str:
        """How a finance admin reads it in a list: "Region (Region__c, text)"."""
        kind = TYPE_WORDS[self.type]
        if self.max_length and self.type == FieldType.TEXT:
            kind = f"text up to {self.max_length}"
        return f"{self.label} ({self.name}, {kind})"


TYPE_WORDS = {
    FieldType.TEXT: "text",
    FieldType.INTEGER: "whole number",
    FieldType.DECIMAL: "number",
    FieldType.BOOLEAN: "yes/no",
    FieldType.DATE: "date",
    FieldType.DATETIME: "date and time",
    FieldType.PICKLIST: "picklist",
    FieldType.REFERENCE: "list",
}

# -- Zuora ----------------------------------------------------------------------------------------
ZUORA_TYPES = {
    "text": FieldType.TEXT,
    "integer": FieldType.INTEGER,
    "decimal": FieldType.DECIMAL,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "timestamp": FieldType.DATETIME,
    "picklist": FieldType.PICKLIST,
}
CONTACT_PREFIXES = (("billTo", "Bill To"), ("soldTo", "Sold To"))
IRREGULAR_NAMES = {
    "NickName": "nickname"
}  # where Object Query does not just lower the first letter


def object_query_name(api_name: str) -> str:
    """The name Object Query and the v1 writes use for a describe (SOAP) name: standard
    fields in camelCase ("AccountNumber" -> "accountNumber"), custom fields as they are."""
    if "__" in api_name:
        return api_name
    return IRREGULAR_NAMES.get(api_name, api_name[:1].lower() + api_name[1:])


def _zuora_field(name: str, label: str, described: Mapping[str, Any]) -> CatalogField | None:
    kind = ZUORA_TYPES.get(str(described.get("type", "")).lower())
    if kind is None:  # ZOQL-only and unknown kinds cannot be mapped
        return None
    return CatalogField(
        name=name,
        label=label,
        type=kind,
        max_length=described.get("maxlength"),
        options=tuple(described.get("options", ())),
        writable=bool(described.get("updateable", True)),
        custom=bool(described.get("custom", "__" in name)),
    )


def zuora_account_fields(
    account: Mapping[str, Mapping[str, Any]], contact: Mapping[str, Mapping[str, Any]]
) -> dict[str, CatalogField]:
    """Zuora's Account fields (standard and custom) and the Bill To / Sold To contact fields,
    by path, from the describe answers of Account and Contact."""
    catalog: dict[str, CatalogField] = {}
    for api_name, described in account.items():
        name = object_query_name(api_name)
        found = _zuora_field(name, described.get("label") or api_name, described)
        if found is not None:
            catalog[name] = found
    for prefix, words in CONTACT_PREFIXES:
        for api_name, described in contact.items():
            if api_name in ("Id", "AccountId"):
                continue
            name = f"{prefix}.{object_query_name(api_name)}"
            label = f"{words} {described.get('label') or api_name}"
            found = _zuora_field(name, label, described)
            if found is not None:
                catalog[name] = found
    return catalog


# -- NetSuite -------------------------------------------------------------------------------------
def _reference_target(schema: Mapping[str, Any]) -> str | None:
    """The record type a reference points to, "" when unnamed; None when not a reference."""
    ref = str(schema.get("$ref", ""))
    if "metadata-catalog/" in ref:
        target = ref.rsplit("/", 1)[-1]
        return "" if target.startswith("ns") else target
    properties = schema.get("properties")
    if schema.get("type") == "object" and isinstance(properties, Mapping) and "id" in properties:
        return ""
    return None


def _netsuite_type(schema: Mapping[str, Any]) -> FieldType | None:
    kind, fmt = schema.get("type"), schema.get("format")
    if schema.get("enum"):
        return FieldType.PICKLIST
    if kind == "string":
        return {"date": FieldType.DATE, "date-time": FieldType.DATETIME}.get(fmt, FieldType.TEXT)
    return {
        "boolean": FieldType.BOOLEAN,
        "integer": FieldType.INTEGER,
        "number": FieldType.DECIMAL,
    }.get(kind)


def netsuite_customer_fields(
    properties: Mapping[str, Mapping[str, Any]],
) -> dict[str, CatalogField]:
    """NetSuite's customer fields (standard and custentity_) from the metadata catalog's JSON
    Schema properties. Sublists and other objects that are not references are left out."""
    catalog: dict[str, CatalogField] = {}
    for name, schema in properties.items():
        if not isinstance(schema, Mapping) or name == "links":
            continue
        target = _reference_target(schema)
        kind = FieldType.REFERENCE if target is not None else _netsuite_type(schema)
        if kind is None:
            continue
        limit = schema.get("maxLength")
        catalog[name] = CatalogField(
            name=name,
            label=str(schema.get("title") or name),
            type=kind,
            max_length=limit if isinstance(limit, int) else None,
            options=tuple(str(o) for o in schema.get("enum") or ()),
            writable=not schema.get("readOnly", False),
            reference_to=target or "",
            custom=bool(schema.get("x-ns-custom-field")),
        )
    return catalog


# -- which type feeds which -----------------------------------------------------------------------
# What a plain copy may write: the destination takes every value the source can hold.
COPY_FITS: frozenset[tuple[FieldType, FieldType]] = frozenset(
    {(kind, kind) for kind in FieldType}
    | {(kind, FieldType.TEXT) for kind in FieldType}
    | {
        (FieldType.INTEGER, FieldType.DECIMAL),
        (FieldType.DATE, FieldType.DATETIME),
    }
)
COPY_REFUSALS: dict[FieldType, str] = {
    FieldType.DATE: "{source} may hold values that are not dates",
    FieldType.DATETIME: "{source} may hold values that are not dates and times",
    FieldType.INTEGER: "{source} may hold values that are not whole numbers",
    FieldType.DECIMAL: "{source} may hold values that are not numbers",
    FieldType.BOOLEAN: "{source} may hold values that are not yes or no",
    FieldType.REFERENCE: "{destination} takes only entries of a NetSuite list",
    FieldType.PICKLIST: "{destination} takes only the values of its picklist",
}


def type_problem(
    source: FieldType, destination: FieldType, transform: Transform | str
) -> str | None:
    """Why a value of `source`'s type cannot be written to a `destination` field with this
    transform, in a finance admin's words; None when it can. A value map may translate any
    type into any other: its entries are checked one by one instead (value_problem)."""
    if Transform(transform) == Transform.VALUE_MAP:
        return None
    if (source, destination) in COPY_FITS:
        return None
    words = {"source": f"a {TYPE_WORDS[source]} field", "destination": "the destination"}
    reason = COPY_REFUSALS.get(destination, "the types differ").format(**words)
    if (source, destination) == (FieldType.DECIMAL, FieldType.INTEGER):
        reason = "a number with decimals does not fit a whole-number field"
    elif (source, destination) == (FieldType.DATETIME, FieldType.DATE):
        reason = "a date and time would lose its time in a date field"
    return (
        f"A {TYPE_WORDS[source]} cannot be copied into a {TYPE_WORDS[destination]} field: "
        f"{reason}. Use a value map to say which value becomes which."
    )


def length_warning(source: CatalogField, destination: CatalogField) -> str | None:
    """What an admin should know when the source may hold longer text than the destination
    takes: such a record fails with a message, it is never cut short."""
    if destination.type != FieldType.TEXT or not destination.max_length:
        return None
    if source.max_length is not None and source.max_length <= destination.max_length:
        return None
    longest = f"up to {source.max_length}" if source.max_length else "any number of"
    return (
        f"{source.label} may hold {longest} characters, {destination.label} takes "
        f"{destination.max_length}: a longer value fails that record with a message saying "
        "so; it is never cut short."
    )


# What a value is refused for, by the kind of field it is checked against.
_NOT_A = {
    FieldType.INTEGER: "is not a whole number",
    FieldType.DECIMAL: "is not a number",
    FieldType.BOOLEAN: "is not yes or no",
    FieldType.DATE: "is not a date written as YYYY-MM-DD",
    FieldType.DATETIME: "is not a date and time written as YYYY-MM-DD HH:MM",
}


def normal_value(value: str, field: CatalogField) -> str:
    """The value as it is stored for the destination field (yes/no as "true"/"false", a
    picklist value in the picklist's own spelling); raises ValueError with the reason in a
    finance admin's words when the field cannot hold it. The sync's own conversions
    (added_fields.CONVERSIONS) decide what a field can hold, so a value saved here is one the
    sync can write. References are checked by the service against NetSuite's list."""
    text = value.strip()
    kind = field.type
    if kind == FieldType.TEXT:
        if field.max_length and len(text) > field.max_length:
            raise ValueError(f"is longer than the {field.max_length} characters it holds")
        return text
    if kind in _NOT_A:
        try:
            converted = CONVERSIONS[kind](text)
        except (ValueError, ArithmeticError):
            raise ValueError(_NOT_A[kind]) from None
        if kind == FieldType.BOOLEAN:
            return "true" if converted else "false"
        return text if kind == FieldType.DECIMAL else str(converted)
    if kind == FieldType.PICKLIST and field.options:
        for option in field.options:
            if option.lower() == text.lower():
                return option
        raise ValueError(f"is not one of its values: {', '.join(field.options)}")
    return text


def parse_value_map(lines: str | Iterable[str]) -> dict[str, str]:
    """A value map as admins type it, one "source value = destination value" a line (or the
    --map arguments of the command); raises ValueError saying which line is wrong."""
    entries = lines.splitlines() if isinstance(lines, str) else list(lines)
    value_map: dict[str, str] = {}
    for number, line in enumerate(entries, start=1):
        if not line.strip():
            continue
        source, sep, destination = line.partition("=")
        if not sep or not source.strip() or not destination.strip():
            raise ValueError(
                f"Line {number} (“{line.strip()}”) is not “source value = destination value”."
            )
        if source.strip() in value_map:
            raise ValueError(f"“{source.strip()}” is listed twice: keep one line for it.")
        value_map[source.strip()] = destination.strip()
    return value_map


def value_map_text(value_map: Mapping[str, str]) -> str:
    return "\n".join(f"{source} = {destination}" for source, destination in value_map.items())


def rule_words(
    transform: Transform | str,
    value_map: Mapping[str, str],
    default: str,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """An added row's rule as the page and the command list it; `labels` names the NetSuite
    list entries stored by id ({"source": {id: name}, "destination": {id: name}})."""
    labels = labels or {}

    def named(side: str, value: str) -> str:
        name = labels.get(side, {}).get(value)
        return f"{name} ({value})" if name else value

    transform = Transform(transform)
    when_empty = f" When empty: “{named('destination', default)}”." if default else ""
    if transform == Transform.VALUE_MAP:
        pairs = "; ".join(
            f"{named('source', source)} → {named('destination', target)}"
            for source, target in value_map.items()
        )
        return f"Through the value map: {pairs}.{when_empty}"
    if transform == Transform.DEFAULT:
        return f"Copied, or “{named('destination', default)}” when empty."
    return "Copied."
