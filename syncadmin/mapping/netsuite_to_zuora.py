"""NetSuite customer -> Zuora account payload (NetSuite is the master).

One small function per rule of sync-rules.md, "NetSuite -> Zuora field mapping";
`account_payload` only assembles them. Pure: no I/O, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu
from syncadmin.mapping import countries
from syncadmin.mapping.diff import changed_fields
from syncadmin.mapping.translations import first_known, zuora_candidates
from syncadmin.mapping.types import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    NumberMode,
    ZuoraLookups,
    without_control_characters,
)

CONTACT_KEYS = ("billToContact", "soldToContact")

# Zuora batches are Batch1..Batch50 (the incumbent's docs say 1-20; Zuora itself allows 50).
MAX_BATCH = 50
_BATCH = re.compile(r"Batch([1-9][0-9]?)")

# Zuora rejects longer values; we refuse rather than truncate so nobody loses data silently.
MAX_ACCOUNT_LENGTH: dict[str, int] = {"name": 255, "accountNumber": 50}
MAX_CONTACT_LENGTH: dict[str, int] = {
    "firstName": 100,
    "lastName": 100,
    "workEmail": 80,
    "workPhone": 40,
    "address1": 255,
    "address2": 255,
    "city": 40,  # some Zuora pages say 100; 40 is the safe limit
    "state": 100,
    "zipCode": 20,
    "country": 64,
    "fax": 40,
    "description": 100,
}


def account_payload(
    customer: Mapping[str, Any],
    *,
    options: MappingOptions,
    lookups: ZuoraLookups,
    netsuite: NetSuiteLookups,
    parent_account_id: str | None,
    is_create: bool,
) -> tuple[dict[str, Any], list[str]]:
    """Zuora POST/PUT /v1/accounts body for a NetSuite customer, plus readable warnings.

    On create the preference defaults fill empty currency, bill cycle day, batch and payment
    term (Zuora needs them); on update an empty NetSuite value is simply not sent, because
    null/empty source values never overwrite the destination.
    """
    warnings: list[str] = []
    name = account_name(customer)
    bill_line = billing_line(customer)
    ship_line = shipping_line(customer) or bill_line
    bill_to = contact(customer, bill_line, role="Bill To", warnings=warnings, is_create=is_create)
    sold_to = contact(
        customer,
        ship_line,
        role="Sold To",
        warnings=warnings,
        fallback_addressee=bill_line,
        is_create=is_create,
    )
    payload = {
        "name": name,
        "accountNumber": account_number(customer, options=options, is_create=is_create),
        "notes": _text(customer.get("comments")),
        "parentId": parent_id(parent_account_id, options=options),
        "currency": currency(
            customer, options=options, lookups=lookups, netsuite=netsuite, is_create=is_create
        ),
        "billCycleDay": bill_cycle_day(customer, options=options, is_create=is_create),
        "batch": batch(customer, options=options, is_create=is_create),
        "paymentTerm": payment_term(
            customer, options=options, lookups=lookups, netsuite=netsuite, is_create=is_create
        ),
        zu.CUSTOMER_ID: _text(customer.get("entityId")),
        zu.INTEGRATION_ID: _text(customer.get("id")),
        "billToContact": bill_to,
        "soldToContact": sold_to,
    }
    payload = _without_empty(payload)
    _check_lengths(payload, MAX_ACCOUNT_LENGTH, where="account")
    for key in CONTACT_KEYS:
        _check_lengths(payload[key], MAX_CONTACT_LENGTH, where=key)
    return payload, warnings


def account_update(
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    sold_to_is_bill_to: bool = False,
) -> dict[str, Any]:
    """The body of one PUT /v1/accounts/{id}: the account fields that changed, and a
    billToContact / soldToContact object with only the contact fields that changed (absent when
    none did). One call per changed account, contacts included. Keys absent from `current` never
    count, so an empty NetSuite value never blanks a Zuora one.

    When the account's Sold To is its Bill To contact itself (Zuora's "same as Bill To"), a
    soldToContact would overwrite the Bill To, so it is never sent (see shared_contact_warning).
    """
    previous = previous or {}
    body = {
        key: after
        for key, (_, after) in changed_fields(previous, current, ignore=CONTACT_KEYS).items()
    }
    for key in CONTACT_KEYS:
        if key == "soldToContact" and sold_to_is_bill_to:
            continue
        changes = changed_fields(previous.get(key), current.get(key) or {})
        if changes:
            body[key] = {field: after for field, (_, after) in changes.items()}
    return body


def shared_contact_warning(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], *, sold_to_is_bill_to: bool
) -> str | None:
    """Why a changed shipping address did not reach a Sold To that is the Bill To contact."""
    if not sold_to_is_bill_to:
        return None
    sold = current.get("soldToContact") or {}
    if not changed_fields((previous or {}).get("soldToContact"), sold):
        return None
    if not changed_fields(current.get("billToContact") or {}, sold):
        return None  # the same values as the Bill To, which is written
    return (
        "The Zuora account's Sold To is the same contact as its Bill To, so the default "
        "shipping address was not written (it would overwrite the Bill To). Give the account "
        "its own Sold To contact in Zuora to sync it."
    )


# --- identity and names -------------------------------------------------------------------


def is_individual(customer: Mapping[str, Any]) -> bool:
    return customer.get("isPerson") is True


def account_name(customer: Mapping[str, Any]) -> str:
    """Name <- companyName, or "First Last" for individuals (whose companyName is often empty)."""
    person = " ".join(
        part for part in (_text(customer.get("firstName")), _text(customer.get("lastName"))) if part
    )
    company = _text(customer.get("companyName"))
    name = (person or company) if is_individual(customer) else (company or person)
    if not name:
        raise MappingError(
            "MISSING_NAME",
            f"NetSuite customer {_label(customer)} has neither a company name nor a first/last "
            "name; fill one in NetSuite.",
            field="companyName",
        )
    return name


def account_number(
    customer: Mapping[str, Any], *, options: MappingOptions, is_create: bool
) -> str | None:
    """AccountNumber per "Customer Account Number Mapping"; updates change it only if allowed."""
    if not is_create and not options.update_number:
        return None
    if options.number_mode == NumberMode.SOURCE_NUMBER:
        return _text(customer.get("entityId"))
    if options.number_mode == NumberMode.SOURCE_NAME:
        return account_name(customer)
    return None  # Zuora auto-numbers


def parent_id(parent_account_id: str | None, *, options: MappingOptions) -> str | None:
    """ParentId <- the parent's linked Zuora account; ignored when hierarchies are disabled."""
    return _text(parent_account_id) if options.hierarchies_enabled else None


# --- billing settings ---------------------------------------------------------------------


def currency(
    customer: Mapping[str, Any],
    *,
    options: MappingOptions,
    lookups: ZuoraLookups,
    netsuite: NetSuiteLookups,
    is_create: bool,
) -> str | None:
    """NetSuite currency -> ISO code (Zuora Default Currency when empty); must exist in Zuora.
    A NetSuite name the currency lookup table lists becomes its Zuora name."""
    internal_id = _ref_id(customer.get("currency"))
    if internal_id:
        code = netsuite.currency_code_by_id.get(internal_id)
        if code is None:
            raise MappingError(
                "UNKNOWN_CURRENCY",
                f"NetSuite currency id {internal_id} is not in the NetSuite currency list; "
                "refresh the reference data or fix the customer's currency in NetSuite.",
                field="currency",
            )
        code = (
            first_known(
                [c.upper() for c in zuora_candidates(options.translations.currencies, code)],
                lookups.currencies,
            )
            or code
        )
    elif is_create:
        code = _text(options.zuora_default_currency)
    else:
        return None
    if code and code.upper() not in lookups.currencies:
        raise MappingError(
            "UNKNOWN_CURRENCY",
            f"Currency '{code}' is not enabled in Zuora; enable it in Zuora billing settings "
            "or change the customer's currency in NetSuite.",
            field="currency",
        )
    return code.upper() if code else None


def bill_cycle_day(
    customer: Mapping[str, Any], *, options: MappingOptions, is_create: bool
) -> int | None:
    """Zuora bill cycle day custom field on the customer, else the default; 1-31."""
    raw = _text(customer.get(ns.ZUORA_BILL_CYCLE_DAY))
    if raw is None:
        if not is_create:
            return None
        raw = str(options.default_bill_cycle_day)
    try:
        day = int(raw)
    except ValueError:
        day = 0
    if not 1 <= day <= 31:
        raise MappingError(
            "INVALID_BILL_CYCLE_DAY",
            f"Bill cycle day '{raw}' is not a day between 1 and 31; correct "
            f"{ns.ZUORA_BILL_CYCLE_DAY} on the customer or the default bill cycle day.",
            field=ns.ZUORA_BILL_CYCLE_DAY,
        )
    return day


def batch(customer: Mapping[str, Any], *, options: MappingOptions, is_create: bool) -> str | None:
    """Zuora batch custom field on the customer, else the default; Batch1..Batch50."""
    value = _text(customer.get(ns.ZUORA_BATCH))
    if value is None:
        if not is_create:
            return None
        value = options.default_batch
    match = _BATCH.fullmatch(value or "")
    if not match or not 1 <= int(match.group(1)) <= MAX_BATCH:
        raise MappingError(
            "INVALID_BATCH",
            f"Batch '{value}' is not one of Batch1 to Batch{MAX_BATCH}; correct "
            f"{ns.ZUORA_BATCH} on the customer or the default batch.",
            field=ns.ZUORA_BATCH,
        )
    return value


def payment_term(
    customer: Mapping[str, Any],
    *,
    options: MappingOptions,
    lookups: ZuoraLookups,
    netsuite: NetSuiteLookups,
    is_create: bool,
) -> str | None:
    """Customer's NetSuite terms, else the payment term custom field, else the default.

    A NetSuite term the payment term lookup table lists becomes its Zuora name ("45 Days" ->
    "Net 45"); any other name must exist in Zuora exactly.
    """
    term = None
    internal_id = _ref_id(customer.get("terms"))
    if internal_id:
        term = netsuite.term_name_by_id.get(internal_id)
        if term is None:
            raise MappingError(
                "UNKNOWN_PAYMENT_TERM",
                f"NetSuite term id {internal_id} is not in the NetSuite term list; refresh the "
                "reference data or fix the customer's terms in NetSuite.",
                field="terms",
            )
        term = (
            first_known(
                zuora_candidates(options.translations.payment_terms, term), lookups.payment_terms
            )
            or term
        )
    term = term or _text(customer.get(ns.ZUORA_PAYMENT_TERM))
    if term is None:
        if not is_create:
            return None
        term = _text(options.default_payment_term)
    if term not in lookups.payment_terms:
        raise MappingError(
            "UNKNOWN_PAYMENT_TERM",
            f"Payment term '{term}' does not exist in Zuora; add the term in Zuora or change "
            "the customer's terms in NetSuite.",
            field="paymentTerm",
        )
    return term


# --- contacts from address lines ----------------------------------------------------------


def billing_line(customer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The default billing address line; Zuora needs a bill-to contact, so it is required."""
    line = _default_line(customer, "defaultBilling")
    if line is None:
        raise MappingError(
            "MISSING_BILL_TO",
            f"NetSuite customer {_label(customer)} has no default billing address; add one in "
            "NetSuite (it becomes the Zuora Bill To contact).",
            field="addressBook",
        )
    if not _text((line.get("addressBookAddress") or {}).get("addressee")):
        raise MappingError(
            "MISSING_ADDRESSEE",
            f"The default billing address of NetSuite customer {_label(customer)} has no "
            "addressee; fill it in NetSuite (it becomes the Bill To contact's name).",
            field="addressee",
        )
    return line


def shipping_line(customer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The default shipping address line, if any (the billing line stands in otherwise)."""
    return _default_line(customer, "defaultShipping")


def split_addressee(addressee: str) -> tuple[str, str, bool]:
    """ "Ada King Lovelace" -> ("Ada", "King Lovelace"); one word is used for both names.

    The third value says the last name was missing, so the caller can warn.
    """
    words = addressee.split()
    if len(words) == 1:
        return words[0], words[0], True
    return words[0], " ".join(words[1:]), False


def contact(
    customer: Mapping[str, Any],
    line: Mapping[str, Any],
    *,
    role: str,
    warnings: list[str],
    fallback_addressee: Mapping[str, Any] | None = None,
    is_create: bool = False,
) -> dict[str, Any]:
    """A Zuora contact from an address line, with the customer's email, phone and fax.

    Tax registration numbers (vatRegNumber, the address's tax details) are never copied:
    Tax Reg Number is never synced, and a contact's taxRegion is left to Zuora.
    """
    address = line.get("addressBookAddress") or {}
    addressee = _text(address.get("addressee"))
    if addressee is None and fallback_addressee is not None:
        # A shipping line without an addressee still yields a named Sold To contact.
        addressee = _text((fallback_addressee.get("addressBookAddress") or {}).get("addressee"))
        warnings.append(f"{role} address has no addressee; used the billing addressee's name.")
    first, last, one_word = split_addressee(addressee or "")
    if one_word:
        warnings.append(
            f"{role} addressee '{addressee}' has no last name; used '{first}' as both first "
            "and last name."
        )
    return _without_empty(
        {
            "firstName": first,
            "lastName": last,
            "workEmail": _text(customer.get("email")),
            "workPhone": _text(address.get("addrPhone")) or _text(customer.get("phone")),
            "address1": _text(address.get("addr1")),
            "address2": _text(address.get("addr2")),
            "city": _text(address.get("city")),
            "state": _text(address.get("state")),
            "zipCode": _text(address.get("zip")),
            "country": country_name(address),
            "fax": contact_fax(customer),
            "description": contact_description(role, is_create=is_create),
        }
    )


def contact_fax(customer: Mapping[str, Any]) -> str | None:
    """The customer's fax -> the contact's Fax (Bill To and Sold To alike)."""
    return _text(customer.get("fax"))


def contact_description(role: str, *, is_create: bool) -> str | None:
    """ "Bill To Contact" / "Sold To Contact" on create only: a description a Zuora user
    writes later is never overwritten."""
    return f"{role} Contact" if is_create else None


def country_name(address: Mapping[str, Any]) -> str | None:
    """NetSuite ISO code -> the full country name Zuora keeps."""
    value = _text(address.get("country"))
    if value is None:
        return None
    name = countries.to_name(value)
    if name is None:
        raise MappingError(
            "UNKNOWN_COUNTRY",
            f"Country '{value}' is not a known ISO country code; correct the address in NetSuite.",
            field="country",
        )
    return name


# --- helpers ------------------------------------------------------------------------------


def _default_line(customer: Mapping[str, Any], flag: str) -> Mapping[str, Any] | None:
    items = (customer.get("addressBook") or {}).get("items") or []
    return next((item for item in items if item.get(flag) is True), None)


def _ref_id(ref: Any) -> str | None:
    if isinstance(ref, Mapping):
        return _text(ref.get("id"))
    return _text(ref)


def _text(value: Any) -> str | None:
    """Source value as text; None for null, empty or blank so it is never sent."""
    if value is None or isinstance(value, bool):
        return None
    text = without_control_characters(str(value)).strip()
    return text or None


def _label(customer: Mapping[str, Any]) -> str:
    return str(customer.get("entityId") or customer.get("id") or "(no id)")


def _without_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    """Null/empty source values never overwrite Zuora values, so they are not sent at all."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


def _check_lengths(values: Mapping[str, Any], limits: Mapping[str, int], *, where: str) -> None:
    for field, limit in limits.items():
        value = values.get(field)
        if isinstance(value, str) and len(value) > limit:
            raise MappingError(
                "VALUE_TOO_LONG",
                f"{where} '{field}' is {len(value)} characters long but Zuora accepts at most "
                f"{limit}; shorten it in NetSuite (value starts with '{value[:20]}').",
                field=field,
            )
