"""Field mappings finance admins add on the *Field mappings* page, as plain data.

The admin and `manage.py field_mappings` store them (models.FieldMapping) after checking them
against the live systems; the sync engine loads them once per run as `AddedMapping`s and the
pure functions here turn a source record into the extra destination fields, which travel in
the same single write as the built-in ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Transform(StrEnum):
    COPY = "copy"  # the source value as it is
    VALUE_MAP = "value_map"  # through a lookup table ("Gold" -> NetSuite category 3)
    DEFAULT = "default"  # the source value, or a constant when the source is empty


class FieldType(StrEnum):
    """The kinds of value both systems' field catalogs describe, in one vocabulary."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    PICKLIST = "picklist"  # Zuora picklist: text from a fixed list
    REFERENCE = "reference"  # NetSuite list/record field: written as {"id": ...}


@dataclass(frozen=True)
class AddedMapping:
    """One added row. Field paths:

    - Zuora account field: its API name as the Object Query reads it, e.g. "salesRepName",
      "Region__c"; a contact field: "billTo.<field>" or "soldTo.<field>" ("billTo.fax").
    - NetSuite customer field: its REST name, e.g. "fax", "custentity_region", "category".

    On the Zuora side as a *destination* (NetSuite is master) the same names are used; the
    contact prefixes become billToContact / soldToContact in the write.
    """

    direction: str  # Direction value: "zuora_to_netsuite" or "netsuite_to_zuora"
    source_field: str
    destination_field: str
    transform: Transform = Transform.COPY
    value_map: Mapping[str, str] = field(default_factory=dict)  # source value -> destination
    default: str = ""  # Transform.DEFAULT: used when the source is empty
    source_type: FieldType = FieldType.TEXT
    destination_type: FieldType = FieldType.TEXT
    max_length: int | None = None  # the destination's limit, when its catalog gives one
    label: str = ""  # "Zuora Sales Rep -> NetSuite Sales Rep (custentity_sales_rep)"

    __hash__ = object.__hash__


@dataclass(frozen=True)
class NameTranslations:
    """Lookup tables for names that differ between the systems, Zuora name -> NetSuite name.

    Empty tables mean "match by exact name", today's rule. NetSuite -> Zuora uses them the
    other way round.
    """

    payment_terms: Mapping[str, str] = field(default_factory=dict)
    currencies: Mapping[str, str] = field(default_factory=dict)
    subsidiaries: Mapping[str, str] = field(default_factory=dict)

    __hash__ = object.__hash__
