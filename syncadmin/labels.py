"""The names finance admins know for the fields the sync writes, and values shown as text.

One table for the record page and its exports: "companyName" is "Company name", a NetSuite
address book is its Bill To and Sold To addresses, a reference is the name it points to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu

FIELD_LABELS: dict[str, str] = {
    # NetSuite customer (Zuora -> NetSuite)
    "entityId": "Customer number",
    "companyName": "Company name",
    "comments": "Notes",
    "isPerson": "Individual",
    "firstName": "First name",
    "lastName": "Last name",
    "email": "Email",
    "phone": "Phone",
    "currency": "Currency",
    "terms": "Payment terms",
    "subsidiary": "Subsidiary",
    "category": "Category",
    "customForm": "Form",
    "parent": "Parent customer",
    "externalId": "External id (Zuora account id)",
    "addressBook": "Addresses",
    ns.ADDRESS_LABEL_BILL_TO: "Bill To address",
    ns.ADDRESS_LABEL_SOLD_TO: "Sold To address",
    ns.ZUORA_ID: "Zuora account id",
    ns.ZUORA_ACCOUNT_NUMBER: "Zuora account number",
    ns.ZUORA_CRM_ID: "CRM id",
    ns.ZUORA_CREATED: "Created in Zuora",
    ns.ZUORA_UPDATED: "Updated in Zuora",
    ns.ZUORA_BILL_CYCLE_DAY: "Bill cycle day",
    ns.ZUORA_BATCH: "Batch",
    ns.ZUORA_AUTO_PAY: "Auto pay",
    # The term's name as in Zuora: NetSuite's own `terms` reference is matched to it by name.
    ns.ZUORA_PAYMENT_TERM: "Payment terms",
    ns.ZUORA_BILL_TO_ID: "Bill To contact id",
    ns.ZUORA_BILL_TO_EMAIL: "Bill To email",
    ns.ZUORA_SOLD_TO_ID: "Sold To contact id",
    ns.ZUORA_SOLD_TO_EMAIL: "Sold To email",
    ns.ZUORA_SALES_REP: "Sales rep",
    ns.ZUORA_CUSTOMER_SERVICE_REP: "Customer service rep",
    ns.ZUORA_PURCHASE_ORDER_NUMBER: "Purchase order number",
    ns.ZUORA_MRR: "MRR",
    ns.ZUORA_TAX_EXEMPT_STATUS: "Tax exempt status",
    ns.ZUORA_TAX_EXEMPT_CERTIFICATE_ID: "Tax exempt certificate id",
    "isTaxable": "Taxable",
    ns.SEND_TO_ZUORA: "Send to Zuora",
    # Zuora account (NetSuite -> Zuora)
    "name": "Account name",
    "accountNumber": "Account number",
    "notes": "Notes",
    "parentId": "Parent account",
    "billCycleDay": "Bill cycle day",
    "batch": "Batch",
    "paymentTerm": "Payment terms",
    zu.CUSTOMER_ID: "NetSuite customer number",
    zu.INTEGRATION_ID: "NetSuite internal id",
    zu.INTEGRATION_STATUS: "Integration status",
    zu.SUBSIDIARY: "Subsidiary",
    zu.CUSTOMER_TYPE: "Customer type",
    zu.SYNC_TO_NETSUITE: "Sync to NetSuite",
}

CONTACT_LABELS = {"billToContact": "Bill To", "soldToContact": "Sold To"}
CONTACT_FIELD_LABELS = {
    "firstName": "first name",
    "lastName": "last name",
    "workEmail": "email",
    "workPhone": "phone",
    "address1": "address line 1",
    "address2": "address line 2",
    "city": "city",
    "state": "state",
    "zipCode": "postal code",
    "postalCode": "postal code",
    "country": "country",
    "fax": "fax",
    "description": "description",
}
ADDRESS_PARTS = ("addressee", "attention", "addr1", "addr2", "city", "state", "zip", "country")


def field_label(name: str, added: Mapping[str, str] | None = None) -> str:
    """The finance name of a field, "billToContact.city" included, the destination fields of
    added mappings by the label `added` gives them ("custentity_region" -> "Region"); unknown
    names as they are."""
    if added and name in added:
        return added[name]
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    contact, _, part = name.partition(".")
    if contact in CONTACT_LABELS and part:
        return f"{CONTACT_LABELS[contact]} {CONTACT_FIELD_LABELS.get(part, part)}"
    return name


def value_text(value: Any) -> str:
    """A stored value as a person reads it: a reference by its name, an address on one line,
    yes/no for a checkbox, "—" for nothing."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        if "refName" in value:
            return str(value["refName"])
        if set(value) == {"id"}:
            return f"internal id {value['id']}"
        if "addressBookAddress" in value:
            return address_text(value["addressBookAddress"])
        if any(part in value for part in ADDRESS_PARTS):
            return address_text(value)
        return "; ".join(f"{field_label(k)}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(value_text(item) for item in value)
    return str(value)


def address_text(address: dict[str, Any]) -> str:
    parts = [str(address[key]) for key in ADDRESS_PARTS if address.get(key)]
    return ", ".join(parts) or "—"


def change_rows(
    changes: dict[str, Any], added: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(field, before, after) in finance words (`added`: the labels of added mappings'
    destination fields). A NetSuite address book becomes one row per address line (Bill To
    address, Sold To address) instead of the whole book."""
    rows: list[tuple[str, str, str]] = []
    for name, pair in changes.items():
        if name == "terms" and ns.ZUORA_PAYMENT_TERM in changes:
            continue  # the same change, by the term's name rather than NetSuite's id
        before, after = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        if name == "addressBook":
            rows.extend(_address_book_rows(before, after))
        else:
            rows.append((field_label(name, added), value_text(before), value_text(after)))
    return rows


def _address_book_rows(before: Any, after: Any) -> list[tuple[str, str, str]]:
    def lines(book: Any) -> dict[str, str]:
        items = book.get("items", []) if isinstance(book, dict) else book or []
        found: dict[str, str] = {}
        for item in items:
            if isinstance(item, dict):
                label = item.get("label") or ("Bill To" if item.get("defaultBilling") else "")
                found[FIELD_LABELS.get(label, label or "Address")] = value_text(item)
        return found

    old, new = lines(before), lines(after)
    return [
        (label, old.get(label, "—"), new.get(label, "—"))
        for label in dict.fromkeys([*new, *old])
        if old.get(label) != new.get(label)
    ]


def changes_text(changes: dict[str, Any] | None, added: Mapping[str, str] | None = None) -> str:
    """The before -> after table on one line, for a CSV cell."""
    rows = change_rows(changes or {}, added)
    return "; ".join(f"{label}: {old} → {new}" for label, old, new in rows)
