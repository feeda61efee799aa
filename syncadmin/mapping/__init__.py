"""Field mapping between Zuora accounts and NetSuite customers: pure functions, no I/O.

Where each rule lives:
- Zuora -> NetSuite: zuora_to_netsuite.py (one function per rule, assembled by customer_payload)
- NetSuite -> Zuora: netsuite_to_zuora.py (assembled by account_payload)
- Country codes <-> names: countries.py
- "Only send what changed": diff.py
- Preferences, lookup tables, MappingError: types.py
"""

from syncadmin.mapping.countries import to_code as country_code
from syncadmin.mapping.countries import to_name as country_name
from syncadmin.mapping.diff import changed_fields, payload_hash, update_payload
from syncadmin.mapping.netsuite_to_zuora import account_payload, account_update
from syncadmin.mapping.types import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    NumberMode,
    ZuoraLookups,
)
from syncadmin.mapping.zuora_to_netsuite import VOLATILE_FIELDS, customer_payload

__all__ = [
    "VOLATILE_FIELDS",
    "MappingError",
    "MappingOptions",
    "NetSuiteLookups",
    "NumberMode",
    "ZuoraLookups",
    "account_payload",
    "changed_fields",
    "country_code",
    "country_name",
    "customer_payload",
    "payload_hash",
    "account_update",
    "update_payload",
]
