"""Options, lookup tables and the error type shared by both mapping directions.

Everything here is plain data: the sync engine loads preferences and NetSuite/Zuora reference
lists once per run and hands them to the pure mapping functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from syncadmin.mapping.added import AddedMapping, NameTranslations

# Control characters other than tab and line breaks, and lone surrogates (UTF-8 cannot encode
# them): a NUL in a Zuora name is never meant, and neither system's UI can show or type them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def without_control_characters(text: str) -> str:
    """`text` as the other system gets it: control characters and lone surrogates left out."""
    return _CONTROL.sub("", text)


class NumberMode(StrEnum):
    """Preference "Customer Account Number Mapping"."""

    SOURCE_NUMBER = "source_number"  # Use Number From Source
    SOURCE_NAME = "source_name"  # Use Name From Source
    DESTINATION_AUTO = "destination_auto"  # Let Destination Auto-Number


@dataclass(frozen=True)
class MappingOptions:
    """The sync preferences that influence field mapping (names as finance admins know them)."""

    number_mode: NumberMode = NumberMode.SOURCE_NUMBER
    # "Customer Account Number Update Behavior": may updates change the number.
    update_number: bool = False
    netsuite_multi_currency: bool = True
    netsuite_one_world: bool = True
    default_subsidiary: str = ""  # full hierarchical name "Parent : Child"
    # NetSuite internal ids, sent on create only so later edits in NetSuite survive.
    default_department_id: str = ""
    default_class_id: str = ""
    default_location_id: str = ""
    hierarchies_enabled: bool = True
    zuora_default_currency: str = "USD"
    default_bill_cycle_day: int = 1
    default_batch: str = "Batch1"
    default_payment_term: str = "Net 30"
    # Lookup tables for payment terms, currencies and subsidiaries whose names differ, and the
    # field mappings admins added for the run's direction: both read once per run.
    translations: NameTranslations = NameTranslations()
    added_mappings: tuple[AddedMapping, ...] = ()


@dataclass(frozen=True)
class NetSuiteLookups:
    """NetSuite reference lists, fetched once per run."""

    currencies: Mapping[str, str]  # ISO code -> internal id
    terms: Mapping[str, str]  # term name -> internal id
    subsidiaries: Mapping[str, str] = field(default_factory=dict)  # "Parent : Child" -> id
    default_currency_id: str | None = None  # base currency, used when multi-currency is off

    @cached_property
    def currency_code_by_id(self) -> dict[str, str]:
        return {str(internal_id): code for code, internal_id in self.currencies.items()}

    @cached_property
    def term_name_by_id(self) -> dict[str, str]:
        return {str(internal_id): name for name, internal_id in self.terms.items()}

    # Mapping fields make the generated __hash__ fail; identity is good enough for a per-run cache.
    __hash__ = object.__hash__


@dataclass(frozen=True)
class ZuoraLookups:
    """Zuora reference lists, fetched once per run."""

    currencies: frozenset[str]  # ISO codes enabled in the Zuora tenant
    payment_terms: frozenset[str]


class MappingError(Exception):
    """A record cannot be mapped; the message tells a finance admin what to fix.

    The sync engine stores `code` for filtering and shows `str(error)` next to the record.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message

    def __repr__(self) -> str:
        return f"MappingError({self.code!r}, {self.message!r}, field={self.field!r})"
