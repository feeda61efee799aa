"""Zuora account -> NetSuite customer payload (Zuora is the master).

One small function per rule of sync-rules.md, "Zuora -> NetSuite field mapping";
`customer_payload` only assembles them. Pure: no I/O, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu
from syncadmin.mapping import countries, us_states
from syncadmin.mapping.added import NameTranslations
from syncadmin.mapping.translations import first_known, netsuite_candidates
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

# No lookup table: names are matched exactly.
EXACT_NAMES = NameTranslations()

# Customer fields the sync never writes, whatever the incumbent does: the sync never
# inactivates a destination record (not even for a Canceled account), and Tax Reg Number is
# never synced (not from the certificate id, not from the VAT id).
NEVER_SENT: frozenset[str] = frozenset({"isInactive", "vatRegNumber", "taxRegistration"})

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
        "terms": terms_ref(account, lookups=lookups, translations=options.translations),
        "subsidiary": subsidiary_ref(
            account, options=options, lookups=lookups, is_create=is_create
        ),
        **classification_refs(options=options, is_create=is_create),
        "parent": parent_ref(parent_id, options=options),
        "externalId": external_id(account) if is_create else None,
        **informational_fields(account),
        ns.ZUORA_SALES_REP: sales_rep(account),
        ns.ZUORA_CUSTOMER_SERVICE_REP: customer_service_rep(account),
        ns.ZUORA_PURCHASE_ORDER_NUMBER: purchase_order_number(account),
        ns.ZUORA_MRR: monthly_recurring_revenue(account),
        ns.ZUORA_TAX_EXEMPT_STATUS: tax_exempt_status(account),
        "isTaxable": taxable(account),
        ns.ZUORA_TAX_EXEMPT_CERTIFICATE_ID: tax_exempt_certificate_id(account),
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
    """Currency ISO code -> NetSuite currency (the name the currency lookup table gives, else
    the same code); without multi-currency, NetSuite's base currency."""
    if not options.netsuite_multi_currency:
        return {"id": lookups.default_currency_id} if lookups.default_currency_id else None
    code = _text(account.get("currency"))
    if not code:
        return None
    candidates = netsuite_candidates(options.translations.currencies, code)
    name = first_known([c.upper() for c in candidates], lookups.currencies)
    internal_id = lookups.currencies.get(name) if name else None
    if internal_id is None:
        raise MappingError(
            "UNKNOWN_CURRENCY",
            f"Currency '{code}' does not exist in NetSuite; enable the currency in NetSuite "
            "or change the account's currency in Zuora.",
            field="currency",
        )
    return {"id": internal_id}


def terms_ref(
    account: Mapping[str, Any],
    *,
    lookups: NetSuiteLookups,
    translations: NameTranslations = EXACT_NAMES,
) -> dict[str, str] | None:
    """PaymentTerm -> the NetSuite term the payment term lookup table names (Zuora "Net 45"
    -> NetSuite "45 Days"), else the term of exactly the same name."""
    term = _text(account.get("paymentTerm"))
    if not term:
        return None
    name = first_known(netsuite_candidates(translations.payment_terms, term), lookups.terms)
    internal_id = lookups.terms.get(name) if name else None
    if internal_id is None:
        raise MappingError(
            "UNKNOWN_PAYMENT_TERM",
            f"Payment term '{term}' does not exist in NetSuite; add the term in NetSuite or "
            "change the account's payment term in Zuora. A term named differently in NetSuite "
            "goes in the payment term lookup table on the Field mappings page.",
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
    known = first_known(
        netsuite_candidates(options.translations.subsidiaries, name), lookups.subsidiaries
    )
    internal_id = lookups.subsidiaries.get(known) if known else None
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


def sales_rep(account: Mapping[str, Any]) -> str | None:
    """Sales Rep -> "Zuora Sales Rep" (text: NetSuite's own sales rep is an employee record)."""
    return _text(account.get("salesRepName"))


def customer_service_rep(account: Mapping[str, Any]) -> str | None:
    """Customer Service Rep Name -> "Zuora Customer Service Rep Name"."""
    return _text(account.get("customerServiceRepName"))


def purchase_order_number(account: Mapping[str, Any]) -> str | None:
    """Purchase Order Number -> "Zuora Purchase Order Number"."""
    return _text(account.get("purchaseOrderNumber"))


def monthly_recurring_revenue(account: Mapping[str, Any]) -> float | None:
    """MRR -> the "AccountMRR" currency field, to the cent; 0 is a value and is sent."""
    value = account.get("mrr")
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise MappingError(
            "INVALID_MRR",
            f"Zuora account {_label(account)} has an MRR of '{value}', which is not an amount; "
            "Zuora computes MRR from the subscriptions, so check them in Zuora.",
            field="mrr",
        )
    return float(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# Zuora's Tax Exempt Status -> NetSuite's Taxable box: exempt customers are not taxable.
# "PendingVerification" decides nothing, so NetSuite keeps what it has.
TAXABLE_BY_EXEMPT_STATUS: dict[str, bool] = {"yes": False, "no": True}


def tax_exempt_status(account: Mapping[str, Any]) -> str | None:
    """Tax Exempt Status (Yes / No / PendingVerification) -> "Zuora Tax Exempt Status"."""
    return _text(account.get("taxExemptStatus"))


def taxable(account: Mapping[str, Any]) -> bool | None:
    """Tax Exempt Status -> Taxable (isTaxable): "Yes" (exempt) is not taxable, "No" is
    taxable; pending verification or no status sends nothing, so NetSuite's box stays."""
    status = (tax_exempt_status(account) or "").casefold()
    return TAXABLE_BY_EXEMPT_STATUS.get(status)


def tax_exempt_certificate_id(account: Mapping[str, Any]) -> str | None:
    """Tax Exempt Certificate ID -> "Zuora Tax Exempt Certificate ID" only.

    The incumbent also copies it (and the VAT id) into Tax Reg. Number (vatRegNumber); we never
    do: Tax Reg Number is never synced.
    """
    return _text(account.get("taxExemptCertificateID"))


# --- address book -------------------------------------------------------------------------


# Our two lines: the label each carries and the default flag it gets when the sync adds it.
OUR_LINES: tuple[tuple[str, str], ...] = (
    (ns.ADDRESS_LABEL_BILL_TO, "defaultBilling"),
    (ns.ADDRESS_LABEL_SOLD_TO, "defaultShipping"),
)


def address_book(account: Mapping[str, Any], *, company_name: str) -> dict[str, Any] | None:
    """Bill To -> default billing line, Sold To -> default shipping line (no contact records).

    Sent whole only on create; an update goes through address_book_update, which touches our
    two lines alone.
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
    """State is only populated on NetSuite addresses for United States addresses, as the
    two-letter USPS code NetSuite keeps ("California" in Zuora -> "CA")."""
    value = _text(contact.get("state"))
    if country_code != "US" or not value:
        return None
    code = us_states.usps_code(value)
    if code is None:
        raise MappingError(
            "UNKNOWN_US_STATE",
            f"State '{value}' on contact {contact.get('id') or ''} is not a US state, district "
            "or territory; correct the contact's state in Zuora (a full name such as "
            "California, or its two-letter code CA).",
            field="state",
        )
    return code


def line_id(line: Mapping[str, Any]) -> str | None:
    """An address book line's id, as the record API ("id") or SuiteQL ("internalId") reads it."""
    value = line.get("id", line.get("internalId"))
    return None if value in (None, "") else str(value)


def our_lines(
    lines: Sequence[Mapping[str, Any]], known: Mapping[str, str], *, adopt_defaults: bool
) -> dict[str, Mapping[str, Any]]:
    """label -> the customer's line that carries our Bill To / Sold To; each line claimed once.

    First by the line id stored when the sync last wrote it, so a line a user relabelled, or
    whose default flag a user gave to another line, is still ours. Then by our label. Then,
    on a customer the sync linked rather than made (`adopt_defaults`), the default billing /
    shipping line, which the Zuora contacts replaced by rule. A role left without a line gets
    a new one: a user's line is never taken over on a customer we made.
    """
    ours: dict[str, Mapping[str, Any]] = {}
    claimed: set[str | None] = {None}

    def claim(label: str, line: Mapping[str, Any] | None) -> None:
        if label not in ours and line is not None and line_id(line) not in claimed:
            ours[label] = line
            claimed.add(line_id(line))

    by_id = {line_id(line): line for line in lines}
    for label, _ in OUR_LINES:
        claim(label, by_id.get(known.get(label)) if known.get(label) else None)
    for label, _ in OUR_LINES:
        claim(
            label,
            next(
                (ln for ln in lines if ln.get("label") == label and line_id(ln) not in claimed),
                None,
            ),
        )
    if adopt_defaults:
        for label, flag in OUR_LINES:
            claim(
                label,
                next(
                    (ln for ln in lines if ln.get(flag) is True and line_id(ln) not in claimed),
                    None,
                ),
            )
    return ours


def address_book_update(
    wanted: Mapping[str, Any] | None,
    current: Sequence[Mapping[str, Any]],
    *,
    known: Mapping[str, str],
    sent: Mapping[str, Any] | None = None,
    adopt_defaults: bool = False,
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(addressBook for a PATCH without ?replace, or None; label -> id of each line of ours).

    `wanted` is customer_payload()'s addressBook, `current` the customer's lines as just read,
    `known` the line ids stored for our labels, `sent` the addressBook we last wrote. A line of
    ours is updated in place by its id with only the fields that differ from what it holds and
    that changed in Zuora since we last wrote them, so a NetSuite user's correction stays until
    Zuora changes that field; a contact without a line gets a whole new line with our label and
    its default flag. Lines not sent are kept by NetSuite, and empty values are never sent.
    """
    ours = our_lines(current, known, adopt_defaults=adopt_defaults)
    before = {
        item.get("label"): item.get("addressBookAddress") or {}
        for item in (sent or {}).get("items", [])
    }
    items: list[dict[str, Any]] = []
    for item in (wanted or {}).get("items", []):
        label = item["label"]
        line = ours.get(label)
        if line is None:
            items.append(dict(item))
            continue
        holds = line.get("addressBookAddress") or {}
        last = before.get(label)
        fields = {
            key: value
            for key, value in item["addressBookAddress"].items()
            if value not in (None, "")
            and holds.get(key) != value
            and (last is None or last.get(key) != value)
        }
        if fields:
            key = line_id(line) or ""
            items.append({"id": int(key) if key.isdigit() else key, "addressBookAddress": fields})
    ids = {label: line_id(line) or "" for label, line in ours.items()}
    return ({"items": items} if items else None), ids


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
