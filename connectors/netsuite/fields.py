"""Custom entity fields of the NetSuite customer record used by the sync (script ids).

Informational copies of Zuora values live on the customer so finance can see them in NetSuite;
ZUORA_ID doubles as the cross-reference the sync uses to recover a create it did not record.
"""

ZUORA_ID = "custentity_zuora_id"
ZUORA_ACCOUNT_NUMBER = "custentity_zuora_account_number"
ZUORA_CRM_ID = "custentity_zuora_crm_id"
ZUORA_CREATED = "custentity_zuora_created_date"
ZUORA_UPDATED = "custentity_zuora_updated_date"
ZUORA_BILL_CYCLE_DAY = "custentity_zuora_bill_cycle_day"
ZUORA_BATCH = "custentity_zuora_batch"
ZUORA_AUTO_PAY = "custentity_zuora_auto_pay"
ZUORA_PAYMENT_TERM = "custentity_zuora_payment_term"
ZUORA_BILL_TO_ID = "custentity_zuora_bill_to_id"
ZUORA_BILL_TO_EMAIL = "custentity_zuora_bill_to_email"
ZUORA_SOLD_TO_ID = "custentity_zuora_sold_to_id"
ZUORA_SOLD_TO_EMAIL = "custentity_zuora_sold_to_email"
ZUORA_SALES_REP = "custentity_zuora_sales_rep"
ZUORA_CUSTOMER_SERVICE_REP = "custentity_zuora_customer_service_rep"
ZUORA_PURCHASE_ORDER_NUMBER = "custentity_zuora_purchase_order_number"
ZUORA_MRR = "custentity_zuora_mrr"  # the incumbent's "AccountMRR"
ZUORA_TAX_EXEMPT_STATUS = "custentity_zuora_tax_exempt_status"
ZUORA_TAX_EXEMPT_CERTIFICATE_ID = "custentity_zuora_tax_exempt_certificate_id"
SEND_TO_ZUORA = "custentity_zuora_send_to_zuora"  # checkbox for NetSuite-master sync

# Text fields hold up to 300 characters, like NetSuite's free-form text custom fields.
TEXT_FIELDS = (
    ZUORA_ID,
    ZUORA_ACCOUNT_NUMBER,
    ZUORA_CRM_ID,
    ZUORA_CREATED,
    ZUORA_UPDATED,
    ZUORA_BILL_CYCLE_DAY,
    ZUORA_BATCH,
    ZUORA_PAYMENT_TERM,
    ZUORA_BILL_TO_ID,
    ZUORA_BILL_TO_EMAIL,
    ZUORA_SOLD_TO_ID,
    ZUORA_SOLD_TO_EMAIL,
    ZUORA_SALES_REP,
    ZUORA_CUSTOMER_SERVICE_REP,
    ZUORA_PURCHASE_ORDER_NUMBER,
    ZUORA_TAX_EXEMPT_STATUS,
    ZUORA_TAX_EXEMPT_CERTIFICATE_ID,
)
# Currency fields hold an amount (a JSON number on the record API, a string in SuiteQL).
CURRENCY_FIELDS = (ZUORA_MRR,)
CHECKBOX_FIELDS = (ZUORA_AUTO_PAY, SEND_TO_ZUORA)
ALL = TEXT_FIELDS + CURRENCY_FIELDS + CHECKBOX_FIELDS

# Copies of Zuora values only the Zuora -> NetSuite sync writes and nothing reads back: the
# NetSuite -> Zuora selection leaves them out, so it works in an account without them.
ZUORA_TO_NETSUITE_ONLY = (
    ZUORA_SALES_REP,
    ZUORA_CUSTOMER_SERVICE_REP,
    ZUORA_PURCHASE_ORDER_NUMBER,
    ZUORA_MRR,
    ZUORA_TAX_EXEMPT_STATUS,
    ZUORA_TAX_EXEMPT_CERTIFICATE_ID,
)
# Informational copies a write can do without: one NetSuite refuses (a field not created yet,
# or created with another type) is left out of the run's writes, and the run says which to fix.
# Not the Zuora ID, which doubles as the cross-reference.
OPTIONAL_COPIES = tuple(
    name for name in TEXT_FIELDS + CURRENCY_FIELDS + (ZUORA_AUTO_PAY,) if name != ZUORA_ID
)

# The type each custom field is created with in NetSuite (Customization > Entity Fields).
KIND: dict[str, str] = {
    **dict.fromkeys(TEXT_FIELDS, "Free-Form Text"),
    **dict.fromkeys(CURRENCY_FIELDS, "Currency"),
    **dict.fromkeys(CHECKBOX_FIELDS, "Check Box"),
}

ADDRESS_LABEL_BILL_TO = "Zuora Bill To Address"
ADDRESS_LABEL_SOLD_TO = "Zuora Sold To Address"
