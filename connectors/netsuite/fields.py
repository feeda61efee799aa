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
)
CHECKBOX_FIELDS = (ZUORA_AUTO_PAY, SEND_TO_ZUORA)
ALL = TEXT_FIELDS + CHECKBOX_FIELDS

ADDRESS_LABEL_BILL_TO = "Zuora Bill To Address"
ADDRESS_LABEL_SOLD_TO = "Zuora Sold To Address"
