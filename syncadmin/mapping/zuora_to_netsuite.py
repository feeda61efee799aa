"""Zuora account -> NetSuite customer payload (Zuora is the master).

One small function per rule of sync-rules.md, "Zuora -> NetSuite field mapping";
`customer_payload` only assembles them. Pure: no I/O, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu
from syncadmin.mapping import countries
from syncadmin.mapping.types import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    NumberMode,
    without_control_characters,
)

# Rewritten on every write-back (the Zuora account's UpdatedDate moves when we store the link),
# so a change here alone must not trigger another NetSuite update.
VOLATILE_FIELDS: frozenset[str] = frozenset({ns.ZUORA_UPDATED})

# NetSuite rejects longer values; we refuse rather than truncate so nobody loses data silently.
MAX_LENGTH: dict[str, int] = {
    "entityId": 83,
    "companyName": 83,
    "email": 254,
    "phone": 32,
    "comments": 999,
    "addr1": 150,
    "addr2": 150,
    "city": 50,
    "zip": 36,
    "addressee": 150,
    "attention": 150,
    "addrPhone": 32,  # a phone field like `phone`
    **dict.fromkeys(ns.TEXT_FIELDS, 300),  # free-form text custom fields
}


def customer_payload(
    account: Mapping[str, Any],
    *,
    options: MappingOptions,
    lookups: NetSuiteLookups,
    parent_id: str | None,
    is_create: bool,
) -> dict[str, Any]:
    """NetSuite REST customer body for a Zuora Object Query account (with billTo/soldTo).

    Raises MappingError when the record cannot be sent as is (unknown currency, term or
    subsidiary, value too long for NetSuite, ...). Never contains None or "" values, so a PATCH
    with it never clears a NetSuite field.
    """
    name = account_name(account)
    payload: dict[str, Any] = {
        "entityId": customer_number(account, options=options, is_create=is_create),
        "companyName": name,
        "comments": _text(account.get("notes")),
        **person_fields(account),
        **email_and_phone(account),
        "currency": currency_ref(account, options=options, lookups=lookups),
        "terms": terms_ref(account, lookups=lookups),
        "subsidiary": subsidiary_ref(
            account, options=options, lookups=lookups, is_create=is_create
        ),
        **classification_refs(options=options, is_create=is_create),
        "parent": parent_ref(parent_id, options=options),
        "externalId": external_id(account) if is_create else None,
        **informational_fields(account),
        "addressBook": address_book(account, company_name=name),
    }
    payload = _without_empty(payload)
    _check_lengths(payload)
    return payload


# --- identity and names -------------------------------------------------------------------


def account_name(account: Mapping[str, Any]) -> str:
    """companyName <- Name; also the addressee of every address line, so it is required."""
    name = _text(account.get("name"))
    if not name:
        raise MappingError(
            "MISSING_NAME",
            f"Zuora account {_label(account)} has no name; set the account name in Zuora.",
            field="name",
        )
    return name


def customer_number(
    account: Mapping[str, Any], *, options: MappingOptions, is_create: bool
) -> str | None:
    """entityId per "Customer Account Number Mapping"; updates change it only if allowed."""
    if not is_create and not options.update_number:
        return None
    if options.number_mode == NumberMode.SOURCE_NUMBER:
        return _text(account.get("accountNumber"))
    if options.number_mode == NumberMode.SOURCE_NAME:
        return _text(account.get("name"))
    return None  # destination auto-number: NetSuite assigns it


def external_id(account: Mapping[str, Any]) -> str | None:
    """externalId = Zuora account id: the upsert key that lets a crashed create be recovered."""
    return _text(account.get("id"))


def is_individual(account: Mapping[str, Any]) -> bool:
    """CustomerType__NS "Individual" makes a person customer; anything else is a company."""
    return (_text(account.get(zu.CUSTOMER_TYPE)) or "").casefold() == "individual"


def person_fields(account: Mapping[str, Any]) -> dict[str, Any]:
    """isPerson always; firstName/lastName (from the bill-to contact) only for individuals."""
    if not is_individual(account):
        return {"isPerson": False}
    bill_to = _contact(account, "billTo")
    return {
        "isPerson": True,
        "firstName": _text(bill_to.get("firstName")),
        "lastName": _text(bill_to.get("lastName")),
    }


def email_and_phone(account: Mapping[str, Any]) -> dict[str, Any]:
    """Customer email/phone come from the Bill To contact's work email/phone."""
    bill_to = _contact(account, "billTo")
    return {"email": _text(bill_to.get("workEmail")), "phone": _text(bill_to.get("workPhone"))}


# --- references (currency, terms, subsidiary, classifications, parent) --------------------


def currency_ref(
    account: Mapping[str, Any], *, options: MappingOptions, lookups: NetSuiteLookups
) -> dict[str, str] | None:
    """Currency ISO code -> NetSuite currency; without multi-currency, NetSuite's base currency."""
    if not options.netsuite_multi_currency:
        return {"id": lookups.default_currency_id} if lookups.default_currency_id else None
    code = _text(account.get("currency"))
    if not code:
        return None
    internal_id = lookups.currencies.get(code.upper())
    if internal_id is None:
        raise MappingError(
            "UNKNOWN_CURRENCY",
            f"Currency '{code}' does not exist in NetSuite; enable the currency in NetSuite "
            "or change the account's currency in Zuora.",
            field="currency",
        )
    return {"id": internal_id}


def terms_ref(account: Mapping[str, Any], *, lookups: NetSuiteLookups) -> dict[str, str] | None:
    """PaymentTerm -> NetSuite term of exactly the same name."""
    term = _text(account.get("paymentTerm"))
    if not term:
        return None
    internal_id = lookups.terms.get(term)
    if internal_id is None:
        raise MappingError(
            "UNKNOWN_PAYMENT_TERM",
            f"Payment term '{term}' does not exist in NetSuite; add the term in NetSuite or "
            "change the account's payment term in Zuora.",
            field="paymentTerm",
        )
    return {"id": internal_id}


def subsidiary_ref(
    account: Mapping[str, Any],
    *,
    options: MappingOptions,
    lookups: NetSuiteLookups,
    is_create: bool,
) -> dict[str, str] | None:
    """Subsidiary__NS, else the default subsidiary; required on OneWorld, sent on create only.

    NetSuite does not let a customer move between subsidiaries freely, so updates leave it.
    """
    if not options.netsuite_one_world or not is_create:
        return None
    name = _text(account.get(zu.SUBSIDIARY)) or _text(options.default_subsidiary)
    if not name:
        raise MappingError(
            "MISSING_SUBSIDIARY",
            f"Zuora account {_label(account)} has no subsidiary and no default subsidiary is "
            f"set; NetSuite OneWorld needs one. Fill {zu.SUBSIDIARY} on the account or set the "
            "default subsidiary preference.",
            field=zu.SUBSIDIARY,
        )
    internal_id = lookups.subsidiaries.get(name)
    if internal_id is None:
        raise MappingError(
            "UNKNOWN_SUBSIDIARY",
            f"Subsidiary '{name}' does not exist in NetSuite; use the full hierarchical name "
            "('Parent : Child') of an existing subsidiary.",
            field=zu.SUBSIDIARY,
        )
    return {"id": internal_id}


def classification_refs(*, options: MappingOptions, is_create: bool) -> dict[str, Any]:
    """Default department/class/location on create only, so later NetSuite edits survive."""
    if not is_create:
        return {}
    return {
        "department": _ref(options.default_department_id),
        "class": _ref(options.default_class_id),
        "location": _ref(options.default_location_id),
    }


def parent_ref(parent_id: str | None, *, options: MappingOptions) -> dict[str, str] | None:
    """Hierarchy: parent only when the engine resolved one and hierarchies are enabled."""
    if not options.hierarchies_enabled:
        return None
    return _ref(parent_id)


# --- informational copies -----------------------------------------------------------------


def informational_fields(account: Mapping[str, Any]) -> dict[str, Any]:
    """Read-only copies of Zuora values so finance can see them on the NetSuite customer."""
    bill_to = _contact(account, "billTo")
    sold_to = _contact(account, "soldTo")
    return {
        ns.ZUORA_ID: _text(account.get("id")),
        ns.ZUORA_ACCOUNT_NUMBER: _text(account.get("accountNumber")),
        ns.ZUORA_CRM_ID: _text(account.get("crmId")),
        ns.ZUORA_CREATED: _text(account.get("createdDate")),
        ns.ZUORA_UPDATED: _text(account.get("updatedDate")),
        ns.ZUORA_BILL_CYCLE_DAY: _text(account.get("billCycleDay")),
        ns.ZUORA_BATCH: _text(account.get("batch")),
        ns.ZUORA_AUTO_PAY: account.get("autoPay")
        if isinstance(account.get("autoPay"), bool)
        else None,
        ns.ZUORA_PAYMENT_TERM: _text(account.get("paymentTerm")),
        ns.ZUORA_BILL_TO_ID: _text(bill_to.get("id")) or _text(account.get("billToId")),
        ns.ZUORA_BILL_TO_EMAIL: _text(bill_to.get("workEmail")),
        ns.ZUORA_SOLD_TO_ID: _text(sold_to.get("id")) or _text(account.get("soldToId")),
        ns.ZUORA_SOLD_TO_EMAIL: _text(sold_to.get("workEmail")),
    }


# --- address book -------------------------------------------------------------------------


def address_book(account: Mapping[str, Any], *, company_name: str) -> dict[str, Any] | None:
    """Bill To -> default billing line, Sold To -> default shipping line (no contact records).

    Sent whole: the engine replaces NetSuite's address book with it on update.
    """
    items = []
    if bill_to := _contact(account, "billTo"):
        items.append(
            address_line(
                bill_to, company_name=company_name, label=ns.ADDRESS_LABEL_BILL_TO, billing=True
            )
        )
    if sold_to := _contact(account, "soldTo"):
        items.append(
            address_line(
                sold_to, company_name=company_name, label=ns.ADDRESS_LABEL_SOLD_TO, billing=False
            )
        )
    return {"items": items} if items else None


def address_line(
    contact: Mapping[str, Any], *, company_name: str, label: str, billing: bool
) -> dict[str, Any]:
    """One address book line; tax registration numbers (taxRegion, VAT ids) are never copied."""
    country = country_code(contact)
    address = {
        "addressee": company_name,
        "attention": attention(contact),
        "addr1": _text(contact.get("address1")),
        "addr2": _text(contact.get("address2")),
        "city": _text(contact.get("city")),
        "state": us_state(contact, country_code=country),
        "zip": _text(contact.get("postalCode")) or _text(contact.get("zipCode")),
        "country": country,
        "addrPhone": _text(contact.get("workPhone")),
    }
    return {
        "defaultBilling": billing,
        "defaultShipping": not billing,
        "label": label,
        "addressBookAddress": _without_empty(address),
    }


def attention(contact: Mapping[str, Any]) -> str | None:
    """attention = "FirstName LastName" of the contact."""
    parts = [_text(contact.get("firstName")), _text(contact.get("lastName"))]
    return " ".join(part for part in parts if part) or None


def country_code(contact: Mapping[str, Any]) -> str | None:
    """Zuora's full country name -> the ISO code NetSuite wants; unknown names are an error."""
    value = _text(contact.get("country"))
    if not value:
        return None
    code = countries.to_code(value)
    if code is None:
        raise MappingError(
            "UNKNOWN_COUNTRY",
            f"Country '{value}' on contact {contact.get('id') or ''} is not a known country; "
            "correct the contact's country in Zuora.",
            field="country",
        )
    return code


def us_state(contact: Mapping[str, Any], *, country_code: str | None) -> str | None:
    """State is only populated on NetSuite addresses for United States addresses."""
    return _text(contact.get("state")) if country_code == "US" else None


# --- helpers ------------------------------------------------------------------------------


def _contact(account: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return account.get(key) or {}


def _ref(internal_id: str | None) -> dict[str, str] | None:
    return {"id": str(internal_id)} if internal_id not in (None, "") else None


def _text(value: Any) -> str | None:
    """Source value as text; None for null, empty or blank so it is never sent."""
    if value is None or isinstance(value, bool):
        return None
    text = without_control_characters(str(value)).strip()
    return text or None


def _label(account: Mapping[str, Any]) -> str:
    return str(account.get("accountNumber") or account.get("id") or "(no id)")


def _without_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    """Null/empty source values never overwrite NetSuite values, so they are not sent at all."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


def _check_lengths(payload: Mapping[str, Any]) -> None:
    for field, value in _text_values(payload):
        limit = MAX_LENGTH.get(field)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise MappingError(
                "VALUE_TOO_LONG",
                f"'{field}' is {len(value)} characters long but NetSuite accepts at most "
                f"{limit}; shorten it in Zuora (value starts with '{value[:20]}').",
                field=field,
            )


def _text_values(payload: Mapping[str, Any]):
    """(field, value) pairs of the body and of every address line."""
    yield from payload.items()
    for item in (payload.get("addressBook") or {}).get("items", []):
        yield from item["addressBookAddress"].items()
