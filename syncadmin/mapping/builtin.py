"""The built-in mapping rows, in words, as the *Field mappings* page lists them.

Each row names the rule function that implements it, so a reader goes from the page to the
code in one step. Keep this list in step with zuora_to_netsuite.py and netsuite_to_zuora.py:
tests/test_mapping_builtin_rows.py checks every named function exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinRow:
    source: str  # as a finance admin knows the field, API name in brackets
    destination: str
    rule: str  # the rule in words
    function: str  # the rule function in the direction's mapping module


ZUORA_TO_NETSUITE: tuple[BuiltinRow, ...] = (
    BuiltinRow(
        "Account Number (accountNumber) or Name",
        "Customer ID (entityId)",
        "Per “Customer Account Number Mapping”; changed on update only when the number update "
        "behavior allows it.",
        "customer_number",
    ),
    BuiltinRow("Name (name)", "Company Name (companyName)", "Required.", "account_name"),
    BuiltinRow("Notes (notes)", "Comments (comments)", "Copied.", "customer_payload"),
    BuiltinRow(
        "CustomerType__NS",
        "Type (isPerson), First/Last Name",
        "“Individual” makes a person customer named after the Bill To contact.",
        "person_fields",
    ),
    BuiltinRow(
        "Bill To work email and phone",
        "Email (email), Phone (phone)",
        "Copied from the Bill To contact.",
        "email_and_phone",
    ),
    BuiltinRow(
        "Currency (currency)",
        "Currency (currency)",
        "ISO code looked up in NetSuite (through the currency lookup table when names differ); "
        "NetSuite's base currency when Multiple Currencies is off.",
        "currency_ref",
    ),
    BuiltinRow(
        "Payment Term (paymentTerm)",
        "Terms (terms)",
        "NetSuite term of the same name, or the one the payment term lookup table names.",
        "terms_ref",
    ),
    BuiltinRow(
        "Subsidiary__NS or the default subsidiary",
        "Subsidiary (subsidiary)",
        "Full name “Parent : Child”, through the subsidiary lookup table when names differ; "
        "on create only.",
        "subsidiary_ref",
    ),
    BuiltinRow(
        "Default department, class, location",
        "Department, Class, Location",
        "Preference defaults, on create only.",
        "classification_refs",
    ),
    BuiltinRow("Parent (parentId)", "Child Of (parent)", "When hierarchies are on.", "parent_ref"),
    BuiltinRow(
        "Id (id)", "External ID (externalId)", "On create; the recovery key.", "external_id"
    ),
    BuiltinRow(
        "Id, number, CRM id, dates, bill cycle day, batch, auto pay, payment term, "
        "Bill To / Sold To ids and emails",
        "Zuora informational fields (custentity_zuora_*)",
        "Read-only copies for finance.",
        "informational_fields",
    ),
    BuiltinRow(
        "Sales Rep (salesRepName)",
        "Zuora Sales Rep (custentity_zuora_sales_rep)",
        "Copied as text.",
        "sales_rep",
    ),
    BuiltinRow(
        "Customer Service Rep Name (customerServiceRepName)",
        "Zuora Customer Service Rep Name (custentity_zuora_customer_service_rep)",
        "Copied.",
        "customer_service_rep",
    ),
    BuiltinRow(
        "Purchase Order Number (purchaseOrderNumber)",
        "Zuora Purchase Order Number (custentity_zuora_purchase_order_number)",
        "Copied.",
        "purchase_order_number",
    ),
    BuiltinRow(
        "MRR (mrr)",
        "AccountMRR (custentity_zuora_mrr)",
        "Amount to the cent; 0 is sent.",
        "monthly_recurring_revenue",
    ),
    BuiltinRow(
        "Tax Exempt Status (taxExemptStatus)",
        "Zuora Tax Exempt Status (custentity_zuora_tax_exempt_status)",
        "Copied.",
        "tax_exempt_status",
    ),
    BuiltinRow(
        "Tax Exempt Status (taxExemptStatus)",
        "Taxable (isTaxable)",
        "“Yes” (exempt) clears Taxable, “No” sets it; pending verification or no status "
        "leaves NetSuite's box as it is.",
        "taxable",
    ),
    BuiltinRow(
        "Tax Exempt Certificate ID (taxExemptCertificateID)",
        "Zuora Tax Exempt Certificate ID (custentity_zuora_tax_exempt_certificate_id)",
        "Copied there only: Tax Reg. Number (vatRegNumber) is never synced, nor is the VAT ID.",
        "tax_exempt_certificate_id",
    ),
    BuiltinRow(
        "Status (status)",
        "Inactive (isInactive)",
        "Never sent: the sync never inactivates a NetSuite customer, even for a Canceled account.",
        "customer_payload",
    ),
    BuiltinRow(
        "Bill To contact",
        "Address “Zuora Bill To Address” (default billing)",
        "Addressee = company name, attention = contact name; state only for US addresses "
        "(two-letter code); only this line is touched.",
        "address_line",
    ),
    BuiltinRow(
        "Sold To contact",
        "Address “Zuora Sold To Address” (default shipping)",
        "As the Bill To line.",
        "address_line",
    ),
)

NETSUITE_TO_ZUORA: tuple[BuiltinRow, ...] = (
    BuiltinRow(
        "Customer ID (entityId) or Company Name",
        "Account Number (accountNumber)",
        "Per “Customer Account Number Mapping”.",
        "account_number",
    ),
    BuiltinRow(
        "Company Name, or First + Last Name for individuals",
        "Name (name)",
        "Required.",
        "account_name",
    ),
    BuiltinRow("Comments (comments)", "Notes (notes)", "Copied.", "account_payload"),
    BuiltinRow("Child Of (parent)", "Parent (parentId)", "When hierarchies are on.", "parent_id"),
    BuiltinRow(
        "Currency (currency)",
        "Currency (currency)",
        "ISO code; Zuora Default Currency when empty on create.",
        "currency",
    ),
    BuiltinRow(
        "custentity_zuora_bill_cycle_day",
        "Bill Cycle Day (billCycleDay)",
        "1-31; the default on create.",
        "bill_cycle_day",
    ),
    BuiltinRow(
        "custentity_zuora_batch", "Batch (batch)", "Batch1-Batch50; the default on create.", "batch"
    ),
    BuiltinRow(
        "Terms (terms) or custentity_zuora_payment_term",
        "Payment Term (paymentTerm)",
        "Must exist in Zuora; the default on create.",
        "payment_term",
    ),
    BuiltinRow("Customer ID (entityId)", "CustomerId__NS", "Copied.", "account_payload"),
    BuiltinRow("Internal ID (id)", "IntegrationId__NS", "The link.", "account_payload"),
    BuiltinRow(
        "Default billing address",
        "Bill To contact",
        "Addressee split into first and last name; email and phone from the customer.",
        "contact",
    ),
    BuiltinRow(
        "Fax (fax)",
        "Bill To and Sold To contact Fax (fax)",
        "Copied to both contacts.",
        "contact_fax",
    ),
    BuiltinRow(
        "(none)",
        "Bill To / Sold To contact Description (description)",
        "“Bill To Contact” / “Sold To Contact”, on create only: a description written in "
        "Zuora later is kept.",
        "contact_description",
    ),
    BuiltinRow(
        "Tax Reg. Number (vatRegNumber), tax registrations",
        "(nothing)",
        "Never synced.",
        "contact",
    ),
    BuiltinRow(
        "Default shipping address (or billing)",
        "Sold To contact",
        "As the Bill To contact.",
        "contact",
    ),
)

BY_DIRECTION: dict[str, tuple[BuiltinRow, ...]] = {
    "zuora_to_netsuite": ZUORA_TO_NETSUITE,
    "netsuite_to_zuora": NETSUITE_TO_ZUORA,
}
