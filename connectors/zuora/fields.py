"""Custom fields of the Zuora NetSuite connector on the Zuora Account object (API names)."""

INTEGRATION_ID = "IntegrationId__NS"  # NetSuite internal id of the linked customer
INTEGRATION_STATUS = "IntegrationStatus__NS"  # "Sync Complete", "Ignore", ...
SYNC_DATE = "SyncDate__NS"
SYNC_TO_NETSUITE = "SynctoNetSuite__NS"  # "Yes" / "No"; null means Yes
SUBSIDIARY = "Subsidiary__NS"  # full hierarchical name, "Parent : Child"
CUSTOMER_TYPE = "CustomerType__NS"  # "Company" / "Individual"
CUSTOMER_ID = "CustomerId__NS"  # NetSuite entityId (NetSuite-master sync)

ALL = (
    INTEGRATION_ID,
    INTEGRATION_STATUS,
    SYNC_DATE,
    SYNC_TO_NETSUITE,
    SUBSIDIARY,
    CUSTOMER_TYPE,
    CUSTOMER_ID,
)

STATUS_SYNC_COMPLETE = "Sync Complete"
STATUS_CREATING = "Creating Customer"
STATUS_ERROR_CREATING = "Error Creating Customer"
STATUS_IGNORE = "Ignore"
