"""A local Zuora tenant faithful to the documented API subset the sync uses.

Strict where Zuora is strict, so that a client bug shows up here rather than in production:
form-encoded OAuth, bearer on every call, lowercase Object Query filter fields, page sizes
1..99, opaque cursors, error envelopes with HTTP 200, Idempotency-Key replays, contact edits
that leave the account's updatedDate alone, timestamps in the tenant's offset, ZOQL (the
Actions query) without select *, ORDER BY, joins or parentheses, batches of at most 2000.

Run standalone: python -m connectors.sandboxes zuora --port 8081 --accounts 500
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import logging
import operator
import os
import random
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from connectors.sandboxes.hooks import HookSettings
from connectors.sandboxes.seed import generate_accounts
from connectors.sandboxes.server import Request, Response, SandboxConfig, SandboxServer
from connectors.zuora import fields as zf

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"

CURRENCIES = ["USD", "CAD", "GBP", "EUR", "JPY", "AUD", "CHF", "SEK"]
PAYMENT_TERMS = ["Due Upon Receipt", "Net 15", "Net 30", "Net 45", "Net 60"]
SUBSIDIARIES = ["Parent Company : US Sub", "Parent Company : EU Sub", "Parent Company"]

COUNTRIES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "JP": "Japan",
    "BR": "Brazil",
    "AU": "Australia",
    "MX": "Mexico",
    "ES": "Spain",
    "IT": "Italy",
    "NL": "Netherlands",
    "BE": "Belgium",
    "CH": "Switzerland",
    "AT": "Austria",
    "SE": "Sweden",
    "NO": "Norway",
    "DK": "Denmark",
    "FI": "Finland",
    "IE": "Ireland",
    "PT": "Portugal",
    "PL": "Poland",
    "IN": "India",
    "CN": "China",
    "SG": "Singapore",
    "NZ": "New Zealand",
    "ZA": "South Africa",
    "KR": "South Korea",
    "AR": "Argentina",
    "IL": "Israel",
}
COUNTRY_BY_NAME = {name.lower(): name for name in COUNTRIES.values()}
ISO3 = {"USA": "US", "CAN": "CA", "GBR": "GB", "DEU": "DE", "FRA": "FR", "JPN": "JP"}

# Reason codes: "5" + object (5 digits) + category (2 digits), like 53100020.
OBJ_GENERIC, OBJ_ACCOUNT, OBJ_CONTACT, OBJ_QUERY = 0, 31000, 31003, 60000


# The Actions API (POST /v1/action/update and /query) speaks the SOAP API's shapes: PascalCase
# standard fields, custom fields by their API names, SaveResults with error codes by name.
# PascalCase name -> the name the sandbox stores it under.
# Custom fields this tenant's own admins made in Extension Studio (not the NetSuite
# connector's): API name -> (label, type, picklist options, max length). The demo and the
# tests of added field mappings use them.
TENANT_CUSTOM_FIELDS: dict[str, tuple[str, str, tuple[str, ...], int | None]] = {
    "Region__c": ("Region", "text", (), 255),
    "Tier__c": ("Tier", "picklist", ("Gold", "Silver", "Bronze"), None),
    "RenewalDate__c": ("Renewal Date", "date", (), None),
}
CUSTOM_FIELDS = (*zf.ALL, *TENANT_CUSTOM_FIELDS)
REGIONS = {"US": "Americas", "CA": "Americas", "BR": "Americas", "JP": "APAC", "AU": "APAC"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ZOQL_ACCOUNT_FIELDS = {
    "Id": "id",
    "AccountNumber": "accountNumber",
    "Name": "name",
    "Status": "status",
    "Currency": "currency",
    "ParentId": "parentId",
    "BillToId": "billToId",
    "SoldToId": "soldToId",
    "CrmId": "crmId",
    "Batch": "batch",
    "BillCycleDay": "billCycleDay",
    "AutoPay": "autoPay",
    "PaymentTerm": "paymentTerm",
    "Notes": "notes",
    "DefaultPaymentMethodId": "defaultPaymentMethodId",
    "SalesRepName": "salesRepName",
    "CustomerServiceRepName": "customerServiceRepName",
    "PurchaseOrderNumber": "purchaseOrderNumber",
    # No Mrr: Object Query has mrr, the SOAP Account (ZOQL, describe) is not documented to.
    "TaxExemptStatus": "taxExemptStatus",
    "TaxExemptCertificateID": "taxExemptCertificateID",
    "VATId": "vATId",
    "CreatedDate": "createdDate",
    "UpdatedDate": "updatedDate",
    **{name: name for name in CUSTOM_FIELDS},
}
ZOQL_CONTACT_FIELDS = {
    "Id": "id",
    "AccountId": "accountId",
    "FirstName": "firstName",
    "LastName": "lastName",
    "NickName": "nickname",
    "WorkEmail": "workEmail",
    "PersonalEmail": "personalEmail",
    "WorkPhone": "workPhone",
    "MobilePhone": "mobilePhone",
    "Fax": "fax",
    "Address1": "address1",
    "Address2": "address2",
    "City": "city",
    "State": "state",
    "PostalCode": "postalCode",
    "Country": "country",
    "County": "county",
    "TaxRegion": "taxRegion",
    "Description": "description",
    "CreatedDate": "createdDate",
    "UpdatedDate": "updatedDate",
}
ACTION_MAX_OBJECTS = 50
# The fields POST /v1/action/update may write (custom fields come on top).
ACTION_ACCOUNT_FIELDS = {
    name: ZOQL_ACCOUNT_FIELDS[name]
    for name in (
        "Name",
        "AccountNumber",
        "Notes",
        "Batch",
        "CrmId",
        "PaymentTerm",
        "BillCycleDay",
        "AutoPay",
        "ParentId",
    )
}
ACTION_ERROR_CODES = {
    20: "INVALID_VALUE",
    21: "INVALID_FIELD",
    22: "MISSING_REQUIRED_VALUE",
    30: "INVALID_VALUE",
    40: "INVALID_ID",
    50: "LOCK_COMPETITION",
    61: "TEMPORARY_ERROR",
}


def reason_code(obj: int, category: int) -> int:
    return int(f"5{obj:05d}{category:02d}")


ACCOUNT_FIELDS = [
    "id",
    "accountNumber",
    "name",
    "status",
    "currency",
    "parentId",
    "billToId",
    "soldToId",
    "crmId",
    "batch",
    "billCycleDay",
    "autoPay",
    "paymentTerm",
    "notes",
    "defaultPaymentMethodId",
    "salesRepName",
    "customerServiceRepName",
    "purchaseOrderNumber",
    "mrr",  # computed by Zuora from the subscriptions: read-only
    "taxExemptStatus",  # Yes / No / PendingVerification
    "taxExemptCertificateID",
    "vATId",  # Object Query's spelling of the VAT id
    "createdDate",
    "updatedDate",
    *CUSTOM_FIELDS,
]
CONTACT_FIELDS = [
    "id",
    "accountId",
    "firstName",
    "lastName",
    "nickname",
    "workEmail",
    "personalEmail",
    "workPhone",
    "mobilePhone",
    "fax",
    "address1",
    "address2",
    "city",
    "state",
    "postalCode",
    "country",
    "county",
    "taxRegion",
    "description",
    "createdDate",
    "updatedDate",
]
DATE_FIELDS = {"createdDate", "updatedDate"}
INT_FIELDS = {"billCycleDay"}
BOOL_FIELDS = {"autoPay"}

# v1 contact input: field -> max length ("zipCode" is stored as postalCode).
CONTACT_LIMITS = {
    "firstName": 100,
    "lastName": 100,
    "nickname": 100,
    "workEmail": 80,
    "personalEmail": 80,
    "workPhone": 40,
    "mobilePhone": 40,
    "fax": 40,
    "address1": 255,
    "address2": 255,
    "city": 40,
    "state": 100,
    "zipCode": 20,
    "country": 64,
    "county": 32,
    "taxRegion": 32,
    "description": 100,
}
ACCOUNT_INPUT = {
    "name",
    "accountNumber",
    "currency",
    "billCycleDay",
    "billToContact",
    "soldToContact",
    "parentId",
    "crmId",
    "batch",
    "paymentTerm",
    "notes",
    "autoPay",
    "hpmCreditCardPaymentMethodId",
    "invoiceDeliveryPrefsEmail",
    "invoiceDeliveryPrefsPrint",
    "salesRep",  # stored (and read through Object Query) as salesRepName
    "customerServiceRepName",
    "purchaseOrderNumber",
    "taxInfo",  # {exemptStatus, exemptCertificateId, VATId}
    # Create only: the Sold To is the Bill To contact itself, so updating one updates both.
    "soldToSameAsBillTo",
    *CUSTOM_FIELDS,
}
# How the describe API (GET /v1/describe/{object}) lists each field: (label, type).
DESCRIBE_TYPES = {
    "Id": ("Account ID", "text"),
    "AccountNumber": ("Account Number", "text"),
    "Name": ("Account Name", "text"),
    "Status": ("Status", "picklist"),
    "Currency": ("Currency", "picklist"),
    "ParentId": ("Parent Account ID", "text"),
    "BillToId": ("Bill To Contact ID", "text"),
    "SoldToId": ("Sold To Contact ID", "text"),
    "CrmId": ("CRM Account ID", "text"),
    "Batch": ("Batch", "picklist"),
    "BillCycleDay": ("Bill Cycle Day", "integer"),
    "AutoPay": ("Auto Pay", "boolean"),
    "PaymentTerm": ("Payment Term", "text"),
    "Notes": ("Notes", "text"),
    "DefaultPaymentMethodId": ("Default Payment Method ID", "text"),
    "SalesRepName": ("Sales Rep", "text"),
    "CustomerServiceRepName": ("Customer Service Rep Name", "text"),
    "PurchaseOrderNumber": ("PO Number", "text"),
    "TaxExemptStatus": ("Tax Exempt Status", "picklist"),
    "TaxExemptCertificateID": ("Tax Exempt Certificate ID", "text"),
    "VATId": ("VAT ID", "text"),
    "CreatedDate": ("Created Date", "datetime"),
    "UpdatedDate": ("Updated Date", "datetime"),
    zf.INTEGRATION_ID: ("Integration ID", "text"),
    zf.INTEGRATION_STATUS: ("Integration Status", "text"),
    zf.SYNC_DATE: ("Sync Date", "text"),
    zf.SYNC_TO_NETSUITE: ("Sync to NetSuite", "picklist"),
    zf.SUBSIDIARY: ("Subsidiary", "text"),
    zf.CUSTOMER_TYPE: ("Customer Type", "picklist"),
    zf.CUSTOMER_ID: ("Customer ID", "text"),
}
TAX_EXEMPT_STATUSES = ("Yes", "No", "PendingVerification")
# v1 account input: field -> (stored name, max length).
ACCOUNT_TEXT_INPUT = {
    "salesRep": ("salesRepName", 50),
    "customerServiceRepName": ("customerServiceRepName", 50),
    "purchaseOrderNumber": ("purchaseOrderNumber", 100),
}
# v1 taxInfo input: field -> (stored name, max length).
TAX_INFO_INPUT = {
    "exemptStatus": ("taxExemptStatus", 19),
    "exemptCertificateId": ("taxExemptCertificateID", 32),
    "VATId": ("vATId", 25),
}
DESCRIBE_LIMITS = {"AccountNumber": 50, "Name": 255, "CrmId": 100, "Notes": 65535}
DESCRIBE_OPTIONS = {
    "Status": ("Draft", "Active", "Canceled"),
    "Currency": tuple(CURRENCIES),
    "Batch": tuple(f"Batch{n}" for n in range(1, 51)),
    "TaxExemptStatus": TAX_EXEMPT_STATUSES,
    zf.SYNC_TO_NETSUITE: ("Yes", "No"),
    zf.CUSTOMER_TYPE: ("Company", "Individual"),
}
IDEMPOTENCY_TTL = 24 * 3600
SNAPSHOT_TTL = 15 * 60  # seconds a query's cursor stays valid, like ZOQL's query locator
FILTER_RE = re.compile(r"^([A-Za-z0-9_]+)\.(EQ|NE|LT|GT|LE|GE|SW|IN):(.*)$", re.S)


class ApiFailure(Exception):
    """Raised inside handlers; becomes Zuora's error envelope."""

    def __init__(self, status: int, obj: int, category: int, message: str) -> None:
        super().__init__(message)
        self.status, self.obj, self.category, self.message = status, obj, category, message


def _offset(text: str) -> timezone:
    found = re.fullmatch(r"([+-])(\d\d):(\d\d)", text)
    if not found:
        raise ValueError(f"bad UTC offset {text!r}; use like -08:00")
    sign = -1 if found.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(found.group(2)), minutes=int(found.group(3))))


# -- ZOQL, the language of POST /v1/action/query ---------------------------------------------------
ZOQL_MAX_BATCH = 2000  # records per answer: the default and the most Zuora allows
ZOQL_MAX_CONDITIONS = 200
ZOQL_OBJECTS = {
    "account": ("Account", ZOQL_ACCOUNT_FIELDS),
    "contact": ("Contact", ZOQL_CONTACT_FIELDS),
}
ZOQL_TOKEN_RE = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)(?![A-Za-z_])"
    r"|(?P<op><=|>=|!=|=|<|>)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[,*()])|(?P<other>\S))",
    re.S,
)
ZOQL_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
# Words that end a field list or a condition, so they are never taken for a field name.
ZOQL_KEYWORDS = {"select", "from", "where", "and", "or", "true", "false", "null"}
# SQL that ZOQL lacks: named in the error so that the caller sees why, not just "unexpected".
ZOQL_UNSUPPORTED = {
    "order": "ORDER BY is not supported: ZOQL answers in no guaranteed order",
    "group": "GROUP BY is not supported",
    "limit": "LIMIT is not supported: use conf.batchSize and queryMore",
    "join": "joins are not supported: query one object at a time",
    "not": "NOT is not supported: use !=",
    "like": "LIKE is not supported by the Actions query",
    "in": "IN is not supported: combine = conditions with or",
    "is": "IS [NOT] NULL is not supported: use = null or != null",
    "between": "BETWEEN is not supported: use >= and <=",
}


class ZoqlError(Exception):
    """A query Zuora would refuse; `category` is the reason code's last two digits."""

    def __init__(self, category: int, message: str) -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class ZoqlQuery:
    object_name: str  # "Account" or "Contact"
    fields: tuple[tuple[str, str], ...]  # (PascalCase name, stored name), in the order selected
    where: tuple[tuple[Callable[[dict[str, Any]], bool], ...], ...]  # or of ands; () is all

    def matches(self, record: dict[str, Any]) -> bool:
        if not self.where:
            return True
        return any(all(test(record) for test in group) for group in self.where)


def parse_zoql(text: str, tenant_tz: timezone) -> ZoqlQuery:
    """Parse one ZOQL query as the Actions API reads it, or raise ZoqlError.

    `tenant_tz` places a datetime literal written without an offset, as Zuora does.
    """
    return _ZoqlParser(text, tenant_tz).parse()


class _ZoqlParser:
    def __init__(self, text: str, tenant_tz: timezone) -> None:
        self.tz = tenant_tz
        self.tokens: list[tuple[str, str]] = []
        for found in ZOQL_TOKEN_RE.finditer(text):
            kind = found.lastgroup
            if kind is None:  # trailing blanks
                continue
            value = found.group(kind)
            if kind == "other":
                if value == "'":
                    raise ZoqlError(20, "a string literal is not closed (a missing ')")
                raise ZoqlError(20, f"unexpected character {value!r}")
            if kind == "punct" and value in "()":
                raise ZoqlError(20, "parentheses are not supported: and binds tighter than or")
            self.tokens.append((kind, value))
        self.pos = 0

    # -- tokens -------------------------------------------------------------------------------
    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, expected: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ZoqlError(20, f"the query ends where {expected} was expected")
        self.pos += 1
        return token

    def _is_word(self, token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "name" and token[1].lower() in words

    def _expect_word(self, word: str) -> None:
        token = self._next(f"'{word}'")
        if not self._is_word(token, word):
            self._unexpected(token, f"'{word}'")

    def _unexpected(self, token: tuple[str, str], expected: str) -> None:
        word = token[1].lower()
        if token[0] == "name" and word in ZOQL_UNSUPPORTED:
            raise ZoqlError(20, ZOQL_UNSUPPORTED[word])
        raise ZoqlError(20, f"expected {expected} but found {token[1]!r}")

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> ZoqlQuery:
        self._expect_word("select")
        selected = self._field_list()
        self._expect_word("from")
        token = self._next("an object name")
        if token[0] != "name" or token[1].lower() in ZOQL_KEYWORDS:
            self._unexpected(token, "an object name")
        if token[1].lower() not in ZOQL_OBJECTS:
            known = ", ".join(name for name, _ in ZOQL_OBJECTS.values())
            raise ZoqlError(20, f"cannot query object '{token[1]}' (the sandbox knows {known})")
        object_name, names = ZOQL_OBJECTS[token[1].lower()]
        by_lower = {name.lower(): name for name in names}
        fields: dict[str, tuple[str, str]] = {}
        for raw in selected:
            name = self._field(raw, object_name, by_lower)
            fields.setdefault(name, (name, names[name]))
        where: list[tuple[Callable[[dict[str, Any]], bool], ...]] = []
        after = self._peek()
        if after is not None and after[0] == "punct" and after[1] == ",":
            raise ZoqlError(20, "joins are not supported: query one object at a time")
        if self._is_word(after, "where"):
            self.pos += 1
            where = self._where(object_name, names, by_lower)
        token = self._peek()
        if token is not None:
            self._unexpected(token, "the end of the query")
        return ZoqlQuery(object_name, tuple(fields.values()), tuple(where))

    def _field_list(self) -> list[str]:
        selected = []
        while True:
            token = self._next("a field name")
            if token == ("punct", "*"):
                raise ZoqlError(20, "select * is not supported: name the fields to return")
            if token[0] != "name" or token[1].lower() in ZOQL_KEYWORDS:
                self._unexpected(token, "a field name")
            selected.append(token[1])
            after = self._peek()
            if after is None or after != ("punct", ","):
                return selected
            self.pos += 1

    def _field(self, raw: str, object_name: str, by_lower: dict[str, str]) -> str:
        name = by_lower.get(raw.lower())
        if name is None:
            raise ZoqlError(21, f"invalid field for query: {object_name}.{raw}")
        return name

    def _where(
        self, object_name: str, names: dict[str, str], by_lower: dict[str, str]
    ) -> list[tuple[Callable[[dict[str, Any]], bool], ...]]:
        groups: list[tuple[Callable[[dict[str, Any]], bool], ...]] = []
        group: list[Callable[[dict[str, Any]], bool]] = []
        count = 0
        while True:
            count += 1
            if count > ZOQL_MAX_CONDITIONS:
                raise ZoqlError(20, f"at most {ZOQL_MAX_CONDITIONS} conditions are allowed")
            group.append(self._condition(object_name, names, by_lower))
            token = self._peek()
            if self._is_word(token, "and"):
                self.pos += 1
            elif self._is_word(token, "or"):
                self.pos += 1
                groups.append(tuple(group))
                group = []
            else:
                groups.append(tuple(group))
                return groups

    def _condition(
        self, object_name: str, names: dict[str, str], by_lower: dict[str, str]
    ) -> Callable[[dict[str, Any]], bool]:
        token = self._next("a condition")
        if token[0] != "name" or token[1].lower() in ZOQL_KEYWORDS:
            self._unexpected(token, "a field name")
        name = self._field(token[1], object_name, by_lower)
        token = self._next(f"an operator after {name}")
        if token[0] != "op":
            self._unexpected(token, f"an operator (=, !=, <, >, <=, >=) after {name}")
        op = token[1]
        token = self._next(f"a value after {name} {op}")
        value = self._literal(name, names[name], op, token)
        return _zoql_test(names[name], op, value)

    def _literal(self, name: str, stored: str, op: str, token: tuple[str, str]) -> Any:
        kind, text = token
        where = f"{name} {op} {text}"
        word = text.lower() if kind == "name" else None
        if word == "null":
            if op not in ("=", "!="):
                raise ZoqlError(20, f"null works only with = and !=: {where}")
            return None
        if kind == "name" and word not in ("true", "false"):
            if word in ZOQL_KEYWORDS or word in ZOQL_UNSUPPORTED:
                self._unexpected(token, f"a value after {name} {op}")
            raise ZoqlError(20, f"comparing two fields is not supported: {where}")
        if kind not in ("string", "number", "name"):
            self._unexpected(token, f"a value after {name} {op}")
        if stored in DATE_FIELDS:
            if kind != "string":
                raise ZoqlError(20, f"{name} takes a quoted date-time like '2024-01-01T00:00:00Z'")
            return self._datetime(name, _unquote(text))
        if stored in INT_FIELDS:
            if kind != "number":
                raise ZoqlError(20, f"{name} is a number; compare it with a number: {where}")
            number = float(text)
            return int(number) if number.is_integer() else number
        if stored in BOOL_FIELDS:
            if word not in ("true", "false"):
                raise ZoqlError(20, f"{name} is a boolean; compare it with true or false: {where}")
            if op not in ("=", "!="):
                raise ZoqlError(20, f"booleans work only with = and !=: {where}")
            return word == "true"
        if kind != "string":
            raise ZoqlError(20, f"{name} is a string; quote the value: {where}")
        return _unquote(text)

    def _datetime(self, name: str, text: str) -> datetime:
        raw = text.strip()
        if raw[-1:] in ("Z", "z"):
            raw = raw[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ZoqlError(20, f"invalid date-time for {name}: '{text}'") from None
        # A date-time without offset is in the tenant's zone, as in Zuora.
        return value if value.tzinfo else value.replace(tzinfo=self.tz)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1], flags=re.S)


def _zoql_test(stored: str, op: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    if value is None:
        want_null = op == "="
        return lambda record: (record.get(stored) is None) == want_null
    compare = ZOQL_COMPARE[op]

    # As in SQL, a null field satisfies no comparison but "= null" (not even "!= 'x'"): code
    # that relies on nulls matching != would silently miss records in a real tenant.
    def test(record: dict[str, Any]) -> bool:
        current = record.get(stored)
        if current is None:
            return False
        try:
            return compare(current, value)
        except TypeError:
            return False

    return test


@dataclass
class _ZoqlSnapshot:
    """What a query matched when it ran: the selected values, copied, so that queryMore pages
    never see later changes (no record repeats or vanishes while a caller pages)."""

    born: float  # time.monotonic()
    keys: tuple[str, ...]  # PascalCase names of the selected fields
    rows: list[tuple[Any, ...]]  # one tuple of stored values per matching record
    batch_size: int


SALES_REPS = ["Dana Whitfield", "Marco Ruiz", "Priya Natarajan", "Tom Becker"]
SERVICE_REPS = ["Lena Okafor", "Sam Lindqvist", "Ines Duarte"]


def _seed_sales_and_tax(rng: random.Random, acc: Any) -> dict[str, Any]:
    """Sales rep, service rep, PO number, MRR and tax exemption of a seeded account, as Zuora
    holds them: every account has an MRR and a tax exempt status ("No" unless set)."""
    roll = rng.random()
    status = "Yes" if roll < 0.12 else "PendingVerification" if roll < 0.18 else "No"
    mrr = round(rng.uniform(20, 5000), 2) if acc.status == "Active" and rng.random() < 0.8 else 0
    return {
        "salesRepName": rng.choice(SALES_REPS) if rng.random() < 0.5 else None,
        "customerServiceRepName": rng.choice(SERVICE_REPS) if rng.random() < 0.3 else None,
        "purchaseOrderNumber": f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else None,
        "mrr": mrr,
        "taxExemptStatus": status,
        "taxExemptCertificateID": f"EXM-{rng.randint(10000, 99999)}" if status != "No" else None,
        "vATId": f"VAT{rng.randint(10**8, 10**9 - 1)}"
        if acc.bill_to.country_code != "US" and rng.random() < 0.4
        else None,
    }


def _index_integration(index: dict[Any, set[str]], account: dict[str, Any]) -> None:
    value = account.get(zf.INTEGRATION_ID)
    if value is not None:
        index.setdefault(value, set()).add(account["id"])


class ZuoraSandbox(SandboxServer):
    name = "zuora"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
        clients: dict[str, str] | None = None,
        token_ttl: int = 3599,
        tenant_utc_offset: str = "-08:00",
        state_file: str | os.PathLike[str] | None = None,
        hook: HookSettings | None = None,
    ) -> None:
        super().__init__(
            host=host, port=port, config=config or SandboxConfig(concurrency_limit=40), hook=hook
        )
        self.clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
        self.token_ttl = token_ttl
        self.tz = _offset(tenant_utc_offset)
        self.state_file = Path(state_file) if state_file else None
        # Tests set 0 so that throttled retries do not sleep a whole second.
        self.retry_after_seconds: int | None = None
        # HTTP status of v1 failures: Zuora answers many of them with 200 and success false.
        self.v1_error_status = 200
        # Seconds a write holds its Idempotency-Key "in flight" (lets tests provoke the 409).
        self.write_delay = 0.0
        self.accounts: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client_id, monotonic expiry)
        self.token_count = 0
        self.idempotency: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._snapshots: dict[str, tuple[float, list[str]]] = {}
        self._zoql_snapshots: dict[str, _ZoqlSnapshot] = {}
        # Seconds a ZOQL queryLocator stays usable; tests set 0 to see one expire.
        self.query_locator_ttl: float = SNAPSHOT_TTL
        self._number_index: dict[str, str] = {}  # accountNumber -> id, see _account_by_number
        # IntegrationId__NS -> ids of accounts that carried it (None: rebuild on next use), see
        # _candidates.
        self._integration_index: dict[Any, set[str]] | None = None
        self.requests_seen: list[dict[str, Any]] = []  # headers of API calls, for tests
        self._seed = 42
        self._id_counter = 0
        self._number_counter = 0
        self._last_stamp = datetime(2000, 1, 1, tzinfo=UTC)
        # Custom fields of the Account the tenant lacks (remove_custom_field): the describe API
        # leaves them out, queries and v1 calls refuse them, the Actions update ignores them.
        self.missing_custom_fields: set[str] = set()
        self._register_routes()
        if self.state_file and self.state_file.exists():
            self.load(self.state_file)

    # -- routes -----------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        api = self._api
        self.route("POST", r"/oauth/token", "oauth.token", self._token)
        self.route("GET", r"/object-query/accounts", "query.accounts", api(self._query_accounts))
        self.route(
            "GET", r"/object-query/accounts/(?P<key>[^/]+)", "query.account", api(self._get_oq)
        )
        self.route("GET", r"/object-query/contacts", "query.contacts", api(self._query_contacts))
        self.route(
            "GET",
            r"/object-query/contacts/(?P<key>[^/]+)",
            "query.contact",
            api(self._get_oq_contact),
        )
        self.route("POST", r"/v1/accounts", "v1.account.create", api(self._create_account))
        self.route(
            "GET", r"/v1/accounts/(?P<key>[^/]+)", "v1.account.get", api(self._v1_get_account)
        )
        self.route(
            "PUT", r"/v1/accounts/(?P<key>[^/]+)", "v1.account.update", api(self._update_account)
        )
        self.route(
            "PUT", r"/v1/contacts/(?P<key>[^/]+)", "v1.contact.update", api(self._update_contact)
        )
        self.route("POST", r"/v1/action/update", "v1.action.update", api(self._action_update))
        self.route("POST", r"/v1/action/query", "v1.action.query", api(self._action_query))
        self.route(
            "POST", r"/v1/action/queryMore", "v1.action.querymore", api(self._action_query_more)
        )
        self.route("GET", r"/settings/currencies", "settings.currencies", api(self._currencies))
        self.route(
            "GET", r"/settings/payment-terms", "settings.payment_terms", api(self._payment_terms)
        )
        self.route("GET", r"/v1/describe/(?P<object>[^/]+)", "v1.describe", api(self._describe))
        self.route("POST", r"/_sandbox/seed", "sandbox.seed", self._control_seed)
        self.route(
            "POST",
            r"/_sandbox/custom-fields/(?P<name>[^/]+)/remove",
            "sandbox.custom_fields",
            self._control_remove_field,
        )
        self.route("POST", r"/_sandbox/save", "sandbox.save", self._control_save)
        self.route("POST", r"/_sandbox/tokens/revoke", "sandbox.tokens", self._control_revoke)
        self.route(
            "POST", r"/_sandbox/ui/accounts/(?P<key>[^/]+)", "sandbox.ui", self._control_ui_edit
        )

    # -- vendor-shaped answers --------------------------------------------------------------------
    def _envelope(self, obj: int, category: int, message: str) -> dict[str, Any]:
        return {
            "success": False,
            "processId": uuid.uuid4().hex[:16].upper(),
            "reasons": [{"code": reason_code(obj, category), "message": message}],
        }

    def _governance_headers(self, remaining: int | None = None) -> dict[str, str]:
        limit = self.config.concurrency_limit
        if not limit:
            return {}
        left = max(0, limit - self._in_flight) if remaining is None else remaining
        return {
            "Concurrency-Limit-Type": "Default",
            "Concurrency-Limit-Limit": str(limit),
            "Concurrency-Limit-Remaining": str(left),
        }

    def throttled(self, reason: str, retry_after: int) -> Response:
        if self.retry_after_seconds is not None:
            retry_after = self.retry_after_seconds
        limit = self.config.rate_limit_per_minute or 2500
        headers = {
            "Retry-After": str(retry_after),
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry_after),
            **self._governance_headers(remaining=0),
        }
        body = self._envelope(OBJ_GENERIC, 70, f"Too many requests: {reason}")
        return Response(429, body, headers)

    def server_error(self) -> Response:
        return Response(
            503, self._envelope(OBJ_GENERIC, 61, "Service temporarily unavailable, try later")
        )

    def not_found(self, request: Request) -> Response:
        return Response(404, self._envelope(OBJ_GENERIC, 40, f"No such resource: {request.path}"))

    def inspect(self) -> dict[str, Any]:
        with self.state_lock:
            now = time.monotonic()
            return {
                "accounts": len(self.accounts),
                "accounts_by_status": dict(Counter(a["status"] for a in self.accounts.values())),
                "contacts": len(self.contacts),
                "tokens_issued": self.token_count,
                "tokens_active": sum(1 for _, exp in self.tokens.values() if exp > now),
                "idempotency_keys": len(self.idempotency),
                "last_updated": self._fmt(self._last_stamp),
            }

    # -- clock and ids ----------------------------------------------------------------------------
    def _now(self, after: datetime | None = None) -> datetime:
        """Wall clock in ms, never before a timestamp handed out earlier, and strictly after
        `after` (the record's own last stamp, so each edit of one record moves it on). Many
        records written in one millisecond share it, as in one Zuora transaction: a global
        "strictly after" ran the stamps tens of ms ahead of the wall clock after each bulk
        write-back."""
        with self.state_lock:
            wall = datetime.now(UTC)
            stamp = max(wall.replace(microsecond=wall.microsecond // 1000 * 1000), self._last_stamp)
            if after is not None and stamp <= after:
                stamp = after + timedelta(milliseconds=1)
            self._last_stamp = stamp
            return stamp

    def _new_id(self, kind: str) -> str:
        with self.state_lock:
            self._id_counter += 1
            digest = hashlib.sha256(f"zuora:{self._seed}:{kind}:{self._id_counter}".encode())
            return "8a" + digest.hexdigest()[:30]

    def _fmt(self, value: datetime) -> str:
        return value.astimezone(self.tz).isoformat(timespec="milliseconds")

    # -- seeding and persistence ------------------------------------------------------------------
    def seed(self, count: int, seed: int = 42) -> None:
        """Replace all data with `count` deterministic accounts."""
        rng = random.Random(seed * 7919 + 1)
        # Fields added later draw from their own generator, so earlier fields keep their values.
        extra = random.Random(seed * 7919 + 2)
        generated = generate_accounts(count, seed=seed)
        with self.state_lock:
            self.accounts.clear()
            self._number_index = {}
            self._integration_index = None
            self.contacts.clear()
            self.idempotency.clear()
            self._seed = seed
            self._id_counter = 0
            ids = [self._new_id("account") for _ in generated]
            for acc, account_id in zip(generated, ids, strict=True):
                contact_ids = []
                for role, address in (("bill", acc.bill_to), ("sold", acc.sold_to)):
                    contact_id = self._new_id(f"contact-{role}")
                    contact_ids.append(contact_id)
                    self.contacts[contact_id] = {
                        "id": contact_id,
                        "accountId": account_id,
                        "firstName": address.first_name,
                        "lastName": address.last_name,
                        "workEmail": address.work_email,
                        "workPhone": address.work_phone,
                        "address1": address.address1,
                        "address2": address.address2,
                        "city": address.city,
                        "state": address.state_name,
                        "postalCode": address.postal_code,
                        "country": address.country_name,
                        "createdDate": acc.created,
                        "updatedDate": acc.updated,
                    }
                roll = rng.random()
                sync_flag = "No" if roll < 0.02 else "Yes" if roll < 0.6 else None
                record = {
                    "id": account_id,
                    "accountNumber": acc.account_number,
                    "name": acc.name,
                    "status": acc.status,
                    "currency": acc.currency,
                    "parentId": ids[acc.parent_index] if acc.parent_index is not None else None,
                    "billToId": contact_ids[0],
                    "soldToId": contact_ids[1],
                    "crmId": acc.crm_id,
                    "batch": acc.batch,
                    "billCycleDay": acc.bill_cycle_day,
                    "autoPay": acc.auto_pay,
                    "paymentTerm": acc.payment_term,
                    "notes": acc.notes,
                    "createdDate": acc.created,
                    "updatedDate": acc.updated,
                    zf.SYNC_TO_NETSUITE: sync_flag,
                    zf.CUSTOMER_TYPE: "Individual" if acc.is_person else "Company",
                    zf.SUBSIDIARY: rng.choice(SUBSIDIARIES) if rng.random() < 0.1 else None,
                    # The tenant's own fields, for added mappings: drawn from the account's
                    # index and addresses, never from rng, so every other seeded value stays.
                    "Tier__c": ("Gold", "Silver", "Bronze", None)[acc.index % 4],
                    "Region__c": REGIONS.get(acc.bill_to.country_code, "EMEA"),
                    "RenewalDate__c": (acc.created + timedelta(days=365)).date().isoformat()
                    if acc.index % 2
                    else None,
                    **_seed_sales_and_tax(extra, acc),
                }
                self.accounts[account_id] = record
            self._number_counter = count
            latest = max((a["updatedDate"] for a in self.accounts.values()), default=None)
            self._last_stamp = max(self._last_stamp, latest) if latest else self._last_stamp

    def _snapshot(self) -> dict[str, Any]:
        def enc(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}

        with self.state_lock:
            return {
                "seed": self._seed,
                "id_counter": self._id_counter,
                "number_counter": self._number_counter,
                "last_stamp": self._last_stamp.isoformat(),
                "accounts": [enc(a) for a in self.accounts.values()],
                "contacts": [enc(c) for c in self.contacts.values()],
            }

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        target = Path(path) if path else self.state_file
        if target is None:
            raise ValueError("no state file configured")
        data = self._snapshot()
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(target)  # a crash mid-write never leaves a truncated state file
        return target

    def load(self, path: str | os.PathLike[str]) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))

        def dec(record: dict[str, Any]) -> dict[str, Any]:
            out = dict(record)
            for name in DATE_FIELDS:
                if out.get(name):
                    out[name] = datetime.fromisoformat(out[name])
            return out

        with self.state_lock:
            self._seed = data.get("seed", 42)
            self._id_counter = data.get("id_counter", 0)
            self._number_counter = data.get("number_counter", 0)
            self._last_stamp = datetime.fromisoformat(data["last_stamp"])
            self.accounts = {a["id"]: dec(a) for a in data.get("accounts", [])}
            self._number_index = {}
            self._integration_index = None
            self.contacts = {c["id"]: dec(c) for c in data.get("contacts", [])}

    def remove_custom_field(self, name: str) -> None:
        """Take a custom field of the Account out of the tenant, with its values, as when it
        was never created (or was deleted) in Extension Studio."""
        if name not in CUSTOM_FIELDS:
            raise ValueError(f"{name} is not a custom field of the Account")
        with self.state_lock:
            self.missing_custom_fields.add(name)
            self._integration_index = None
            for account in self.accounts.values():
                account.pop(name, None)

    def _control_remove_field(self, request: Request) -> Response:
        try:
            self.remove_custom_field(request.params["name"])
        except ValueError as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, {"removed": request.params["name"]})

    def revoke_tokens(self) -> None:
        with self.state_lock:
            self.tokens.clear()

    def _control_seed(self, request: Request) -> Response:
        try:
            body = request.json() or {}
            self.seed(int(body.get("accounts", 100)), seed=int(body.get("seed", 42)))
        except (ValueError, TypeError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, self.inspect())

    def _control_save(self, request: Request) -> Response:
        try:
            path = self.save()
        except ValueError as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, {"saved": str(path)})

    def _control_revoke(self, request: Request) -> Response:
        self.revoke_tokens()
        return Response(200, {"revoked": True})

    # -- auth -------------------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return Response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Content-Type must be application/x-www-form-urlencoded",
                },
            )
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return Response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        expected = self.clients.get(client_id or "")
        if expected is None or not secrets.compare_digest(expected, secret or ""):
            return Response(
                401, {"error": "invalid_client", "error_description": "Bad client credentials"}
            )
        token = secrets.token_hex(16)
        with self.state_lock:
            self.tokens[token] = (client_id or "", time.monotonic() + self.token_ttl)
            self.token_count += 1
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "scope": "user.sandbox entity.sandbox service.usage.delete service.account.read",
                "jti": uuid.uuid4().hex,
            },
        )

    def _api(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Bearer check, headers, and turning ApiFailure into Zuora's envelope."""

        @functools.wraps(handler)
        def wrapped(request: Request) -> Response:
            track_id = request.header("zuora-track-id")
            with self.state_lock:
                self.requests_seen.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "track_id": track_id,
                        "entity_ids": request.header("zuora-entity-ids"),
                        "idempotency_key": request.header("idempotency-key"),
                        "authorization": bool(request.header("authorization")),
                    }
                )
                del self.requests_seen[:-2000]
            headers = {"Zuora-Request-Id": str(uuid.uuid4()), **self._governance_headers()}
            if track_id is not None:
                headers["Zuora-Track-Id"] = track_id
            auth = request.header("authorization") or ""
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            with self.state_lock:
                entry = self.tokens.get(token)
                valid = entry is not None and entry[1] > time.monotonic()
            if not valid:
                return Response(401, {"message": "Authentication error"}, headers)
            try:
                if track_id is not None and len(track_id) > 64:
                    raise ApiFailure(400, OBJ_GENERIC, 20, "Zuora-Track-Id exceeds 64 characters")
                response = handler(request)
            except ApiFailure as failure:
                response = Response(
                    failure.status, self._envelope(failure.obj, failure.category, failure.message)
                )
            response.headers = {**headers, **response.headers}
            return response

        return wrapped

    # -- rendering --------------------------------------------------------------------------------
    def _render(
        self, record: dict[str, Any], names: list[str], include_nulls: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            value = record.get(name)
            if isinstance(value, datetime):
                value = self._fmt(value)
            if value is None and not include_nulls:
                continue
            out[name] = value
        return out

    def _render_contact(self, contact: dict[str, Any], include_nulls: bool) -> dict[str, Any]:
        out = self._render(contact, CONTACT_FIELDS, include_nulls)
        # The docs name both spellings; answer with both so either reader works.
        if "postalCode" in out:
            out["zipCode"] = out["postalCode"]
        return out

    def _render_account(
        self, account: dict[str, Any], expand: set[str], include_nulls: bool
    ) -> dict[str, Any]:
        names = [n for n in ACCOUNT_FIELDS if n not in self.missing_custom_fields]
        out = self._render(account, names, include_nulls)
        for key, field_name in (("billto", "billToId"), ("soldto", "soldToId")):
            if key in expand:
                contact = self.contacts.get(account.get(field_name) or "")
                attr = "billTo" if key == "billto" else "soldTo"
                if contact is not None:
                    out[attr] = self._render_contact(contact, include_nulls)
                elif include_nulls:
                    out[attr] = None
        return out

    # -- object query -----------------------------------------------------------------------------
    def _parse_value(self, field_name: str, raw: str, where: str) -> Any:
        if field_name in DATE_FIELDS:
            text = raw.strip()
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ApiFailure(
                    400, OBJ_QUERY, 20, f"Invalid datetime value '{raw}' in filter {where}"
                ) from None
            # A datetime without offset is in the tenant's zone, as in Zuora.
            return value if value.tzinfo else value.replace(tzinfo=self.tz)
        if field_name in INT_FIELDS:
            try:
                return int(raw)
            except ValueError:
                raise ApiFailure(
                    400, OBJ_QUERY, 20, f"Invalid integer value '{raw}' in filter {where}"
                ) from None
        if field_name in BOOL_FIELDS:
            if raw.lower() not in ("true", "false"):
                raise ApiFailure(400, OBJ_QUERY, 20, f"Invalid boolean '{raw}' in filter {where}")
            return raw.lower() == "true"
        return raw

    def _compile_filters(
        self, request: Request, names: list[str]
    ) -> tuple[list[Callable[[dict[str, Any]], bool]], list[tuple[str, set[Any]]]]:
        """The filters' tests, and (field, values) of those an index could answer (EQ, IN)."""
        by_lower = {n.lower(): n for n in names}
        tests = []
        hints: list[tuple[str, set[Any]]] = []
        for text in request.query.get("filter[]", []):
            found = FILTER_RE.match(text)
            if not found:
                raise ApiFailure(400, OBJ_QUERY, 20, f"Invalid filter expression '{text}'")
            raw_field, op, raw = found.groups()
            # Zuora wants filter field names in lower case; 'updatedDate' is an unknown field.
            field_name = by_lower.get(raw_field) if raw_field == raw_field.lower() else None
            if field_name is None:
                raise ApiFailure(400, OBJ_QUERY, 21, f"Unknown field '{raw_field}' in filter")
            tests.append(self._filter_test(field_name, op, raw, text))
            if op == "IN":
                hints.append((field_name, self._in_values(field_name, raw, text)))
            elif op == "EQ" and raw != "null":
                hints.append((field_name, {self._parse_value(field_name, raw, text)}))
        return tests, hints

    def _in_values(self, field_name: str, raw: str, where: str) -> set[Any]:
        if not (raw.startswith("[") and raw.endswith("]")):
            raise ApiFailure(400, OBJ_QUERY, 20, f"IN needs [a,b,...]: {where}")
        items = [i.strip().strip("'\"") for i in raw[1:-1].split(",") if i.strip()]
        return {self._parse_value(field_name, i, where) for i in items}

    def _filter_test(
        self, field_name: str, op: str, raw: str, where: str
    ) -> Callable[[dict[str, Any]], bool]:
        if raw == "null":
            if op not in ("EQ", "NE"):
                raise ApiFailure(400, OBJ_QUERY, 20, f"null only works with EQ and NE: {where}")
            want_null = op == "EQ"
            return lambda r: (r.get(field_name) is None) == want_null
        if op == "IN":
            values = self._in_values(field_name, raw, where)
            return lambda r: r.get(field_name) in values
        value = self._parse_value(field_name, raw, where)
        if op == "SW":
            return lambda r: (
                isinstance(r.get(field_name), str) and r[field_name].startswith(str(value))
            )

        def compare(record: dict[str, Any]) -> bool:
            current = record.get(field_name)
            if op == "NE":
                return current != value
            if current is None:
                return False
            if op == "EQ":
                return current == value
            try:
                return {
                    "LT": current < value,
                    "GT": current > value,
                    "LE": current <= value,
                    "GE": current >= value,
                }[op]
            except TypeError:
                return False

        return compare

    def _page_size(self, request: Request) -> int:
        raw = request.arg("pageSize", "10")
        try:
            size = int(raw or "")
        except ValueError:
            size = 0
        if not 1 <= size <= 99:
            raise ApiFailure(
                400, OBJ_QUERY, 20, f"Invalid value for pageSize: {raw}. It must be 1 to 99"
            )
        return size

    def _sort_spec(self, request: Request, names: list[str]) -> list[tuple[str, bool]]:
        by_lower = {n.lower(): n for n in names}
        spec = []
        for text in request.query.get("sort[]", []):
            name, _, direction = text.rpartition(".")
            field_name = by_lower.get(name) if name == name.lower() else None
            if field_name is None or direction not in ("ASC", "DESC"):
                raise ApiFailure(400, OBJ_QUERY, 20, f"Invalid sort expression '{text}'")
            spec.append((field_name, direction == "DESC"))
        return spec

    @staticmethod
    def _sort_key(record: dict[str, Any], spec: list[tuple[str, bool]]) -> list[Any]:
        key: list[Any] = []
        for name, _ in spec:
            value = record.get(name)
            if isinstance(value, datetime):
                value = value.timestamp()
            key.append([0, ""] if value is None else [1, value])
        key.append([1, record["id"]])
        return key

    @staticmethod
    def _compare(a: list[Any], b: list[Any], spec: list[tuple[str, bool]]) -> int:
        directions = [desc for _, desc in spec] + [False]
        for left, right, desc in zip(a, b, directions, strict=True):
            if left == right:
                continue
            try:
                smaller = left < right
            except TypeError:
                smaller = str(left) < str(right)
            result = -1 if smaller else 1
            return -result if desc else result
        return 0

    def _run_query(
        self,
        request: Request,
        records: dict[str, dict[str, Any]],
        names: list[str],
        render: Callable[[dict[str, Any], set[str], bool], dict[str, Any]],
        allowed_expand: set[str],
    ) -> Response:
        size = self._page_size(request)
        tests, hints = self._compile_filters(request, names)
        spec = self._sort_spec(request, names)
        expand = set(request.query.get("expand[]", []))
        unknown = expand - allowed_expand
        if unknown:
            raise ApiFailure(400, OBJ_QUERY, 20, f"Invalid expand: {', '.join(sorted(unknown))}")
        include_nulls = (request.arg("includeNullFields") or "").lower() == "true"
        fingerprint = hashlib.sha256(
            json.dumps([request.query.get("filter[]"), request.query.get("sort[]")]).encode()
        ).hexdigest()[:12]
        cursor = request.arg("cursor")
        with self.state_lock:
            if cursor:
                try:
                    state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                    if state["q"] != fingerprint:
                        raise ValueError("cursor of another query")
                    ids = self._snapshots[state["snap"]][1]
                    position, snapshot = int(state["pos"]), state["snap"]
                except (ValueError, KeyError, TypeError):
                    raise ApiFailure(400, OBJ_QUERY, 20, "Invalid or expired cursor") from None
            else:
                # The query's order is fixed when its first page is read and later pages walk
                # that snapshot: paging through 100,000 accounts sorts once, not per page.
                cmp = functools.cmp_to_key(lambda a, b: self._compare(a, b, spec))
                candidates = self._candidates(records, hints)
                matching = [r for r in candidates if all(t(r) for t in tests)]
                matching.sort(key=lambda r: cmp(self._sort_key(r, spec)))
                ids = [r["id"] for r in matching]
                position, snapshot = 0, uuid.uuid4().hex
                self._remember_snapshot(snapshot, ids)
            page: list[dict[str, Any]] = []
            while position < len(ids) and len(page) < size:
                record = records.get(ids[position])
                position += 1
                # A record deleted, or changed so it no longer matches, since the first page.
                if record is not None and all(t(record) for t in tests):
                    page.append(record)
            data = [render(r, expand, include_nulls) for r in page]
            if position >= len(ids):
                self._snapshots.pop(snapshot, None)
        body: dict[str, Any] = {"data": data}
        if position < len(ids):
            token = json.dumps({"q": fingerprint, "snap": snapshot, "pos": position}).encode()
            body["nextPage"] = base64.urlsafe_b64encode(token).decode()
        return Response(200, body)

    def _remember_snapshot(self, snapshot: str, ids: list[str]) -> None:
        now = time.monotonic()
        for key, (born, _) in list(self._snapshots.items()):
            if now - born > SNAPSHOT_TTL:
                del self._snapshots[key]
        self._snapshots[snapshot] = (now, ids)

    def _query_accounts(self, request: Request) -> Response:
        names = [n for n in ACCOUNT_FIELDS if n not in self.missing_custom_fields]
        return self._run_query(
            request, self.accounts, names, self._render_account, {"billto", "soldto"}
        )

    def _query_contacts(self, request: Request) -> Response:
        return self._run_query(
            request,
            self.contacts,
            CONTACT_FIELDS,
            lambda c, _expand, nulls: self._render_contact(c, nulls),
            set(),
        )

    def _account_by_number(self, number: str) -> dict[str, Any] | None:
        """The account with this number, through an index: a scan per create made creating
        100,000 accounts quadratic. The index is rebuilt whenever it and the accounts differ in
        size (a seed, a load, a renumbered account)."""
        with self.state_lock:
            if len(self._number_index) != len(self.accounts):
                self._number_index = {a["accountNumber"]: a["id"] for a in self.accounts.values()}
            account = self.accounts.get(self._number_index.get(number, ""))
            return account if account is not None and account["accountNumber"] == number else None

    def _index_account(self, account: dict[str, Any]) -> None:
        """After every write of an account through the API."""
        self._number_index[account["accountNumber"]] = account["id"]
        if self._integration_index is not None:
            _index_integration(self._integration_index, account)

    def _candidates(
        self, records: dict[str, dict[str, Any]], hints: list[tuple[str, set[Any]]]
    ) -> Iterable[dict[str, Any]]:
        """The records a query's filters can match, as a vendor's indexes find them: by id,
        or (accounts) by IntegrationId__NS, when a filter asks for those with EQ or IN; every
        record otherwise. A scan of 100,000 accounts per existence check held the state lock
        for a tenth of a second each. Candidates are still tested against every filter (an
        index entry may be stale)."""
        for field_name, values in hints:
            if field_name == "id":
                return [records[v] for v in values if v in records]
            if field_name == zf.INTEGRATION_ID and records is self.accounts:
                if self._integration_index is None:
                    self._integration_index = {}
                    for account in self.accounts.values():
                        _index_integration(self._integration_index, account)
                ids = {i for v in values for i in self._integration_index.get(v, ())}
                return [self.accounts[i] for i in ids if i in self.accounts]
        return records.values()

    def _find_account(self, key: str, status: int = 404) -> dict[str, Any]:
        with self.state_lock:
            account = self.accounts.get(key)
            if account is None:
                account = self._account_by_number(key)
        if account is None:
            raise ApiFailure(status, OBJ_ACCOUNT, 40, f"Cannot find entity by key: '{key}'")
        return account

    def _get_oq(self, request: Request) -> Response:
        expand = set(request.query.get("expand[]", []))
        if expand - {"billto", "soldto"}:
            raise ApiFailure(400, OBJ_QUERY, 20, "Invalid expand")
        include_nulls = (request.arg("includeNullFields") or "").lower() == "true"
        with self.state_lock:
            account = self._find_account(request.params["key"])
            return Response(200, self._render_account(account, expand, include_nulls))

    def _get_oq_contact(self, request: Request) -> Response:
        with self.state_lock:
            contact = self.contacts.get(request.params["key"])
            if contact is None:
                raise ApiFailure(404, OBJ_CONTACT, 40, "Cannot find entity by key")
            return Response(200, self._render_contact(contact, False))

    # -- v1 validation ----------------------------------------------------------------------------
    def _fail(self, obj: int, category: int, message: str) -> ApiFailure:
        return ApiFailure(self.v1_error_status, obj, category, message)

    def _body(self, request: Request) -> dict[str, Any]:
        content_type = (request.header("content-type") or "").lower()
        if "json" not in content_type:
            raise self._fail(OBJ_GENERIC, 90, "Content-Type must be application/json")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            raise self._fail(OBJ_GENERIC, 90, "Malformed JSON in request body") from None
        if not isinstance(body, dict):
            raise self._fail(OBJ_GENERIC, 90, "Request body must be a JSON object")
        return body

    def _country(self, value: Any, obj: int) -> str:
        text = str(value).strip()
        upper = text.upper()
        if upper in COUNTRIES:
            return COUNTRIES[upper]
        if upper in ISO3:
            return COUNTRIES[ISO3[upper]]
        if text.lower() in COUNTRY_BY_NAME:
            return COUNTRY_BY_NAME[text.lower()]
        raise self._fail(obj, 20, f"Invalid value for field country: '{text}'")

    def _contact_changes(self, data: Any, label: str, *, creating: bool) -> dict[str, Any]:
        """Validated contact fields in stored form (postalCode, full country name)."""
        obj = OBJ_CONTACT
        if not isinstance(data, dict):
            raise self._fail(obj, 20, f"Invalid value for field {label}: must be an object")
        changes: dict[str, Any] = {}
        for name, value in data.items():
            if name not in CONTACT_LIMITS:
                raise self._fail(obj, 21, f"Unknown field {label}.{name}")
            if value is None:
                changes["postalCode" if name == "zipCode" else name] = None
                continue
            if not isinstance(value, str):
                raise self._fail(obj, 20, f"Invalid value for field {label}.{name}: not a string")
            if len(value) > CONTACT_LIMITS[name]:
                raise self._fail(
                    obj,
                    20,
                    f"Invalid value for field {label}.{name}: "
                    f"longer than {CONTACT_LIMITS[name]} characters",
                )
            if name == "country":
                value = self._country(value, obj)
            changes["postalCode" if name == "zipCode" else name] = value
        if creating:
            for required in ("firstName", "lastName"):
                if not changes.get(required):
                    raise self._fail(obj, 22, f"Missing required field {label}.{required}")
        else:
            for required in ("firstName", "lastName"):
                if required in changes and not changes[required]:
                    raise self._fail(obj, 20, f"Invalid value for field {label}.{required}")
        return changes

    def _account_changes(
        self, body: dict[str, Any], *, creating: bool, current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        """Validate everything before touching anything, so a failure changes nothing."""
        obj = OBJ_ACCOUNT
        for name in body:
            if name not in ACCOUNT_INPUT or name in self.missing_custom_fields:
                raise self._fail(obj, 21, f"Unknown field {name}")
        if creating:
            for required in ("name", "currency", "billCycleDay", "billToContact"):
                if body.get(required) in (None, ""):
                    raise self._fail(obj, 22, f"Missing required field {required}")
        changes: dict[str, Any] = {}
        for name, value in body.items():
            if name in ("billToContact", "soldToContact", "hpmCreditCardPaymentMethodId"):
                continue
            if name == "soldToSameAsBillTo":
                if not isinstance(value, bool) or not creating:
                    raise self._fail(obj, 20, f"Invalid value for field {name}")
                continue
            if name == "taxInfo":
                changes.update(self._tax_info_changes(value))
                continue
            if name in ("invoiceDeliveryPrefsEmail", "invoiceDeliveryPrefsPrint"):
                if not isinstance(value, bool):
                    raise self._fail(obj, 20, f"Invalid value for field {name}")
                continue
            if name == "name":
                if not isinstance(value, str) or not value.strip() or len(value) > 255:
                    raise self._fail(obj, 20, "Invalid value for field name")
            elif name == "accountNumber":
                if not isinstance(value, str) or not value or len(value) > 50:
                    raise self._fail(obj, 20, "Invalid value for field accountNumber")
                clash = self._account_by_number(value)
                if clash is not None and (current is None or clash["id"] != current["id"]):
                    raise self._fail(
                        obj, 30, f"The account number {value} is invalid or already in use"
                    )
            elif name == "currency":
                if value not in CURRENCIES:
                    raise self._fail(obj, 20, f"Invalid value for field currency: {value}")
            elif name == "billCycleDay":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 31:
                    raise self._fail(obj, 20, "Invalid value for field billCycleDay")
            elif name == "paymentTerm":
                if value is not None and value not in PAYMENT_TERMS:
                    raise self._fail(obj, 20, f"Invalid value for field paymentTerm: {value}")
            elif name == "autoPay":
                if not isinstance(value, bool):
                    raise self._fail(obj, 20, "Invalid value for field autoPay")
            elif name == "parentId":
                if value is not None:
                    parent = self.accounts.get(value) if isinstance(value, str) else None
                    if parent is None:
                        raise self._fail(obj, 40, f"Invalid parent account: '{value}' not found")
                    if current is not None and self._would_cycle(current["id"], value):
                        raise self._fail(obj, 30, "The parent account would create a cycle")
            elif name == "batch":
                if value is not None and not re.fullmatch(r"Batch([1-9]|[1-4]\d|50)", str(value)):
                    raise self._fail(obj, 20, f"Invalid value for field batch: {value}")
            elif name in TENANT_CUSTOM_FIELDS and value is not None:
                self._check_tenant_custom(name, value)
            elif value is not None and not isinstance(value, str):
                raise self._fail(obj, 20, f"Invalid value for field {name}")
            elif name in ACCOUNT_TEXT_INPUT:
                stored, limit = ACCOUNT_TEXT_INPUT[name]
                if value is not None and len(value) > limit:
                    raise self._fail(
                        obj, 20, f"Invalid value for field {name}: longer than {limit} characters"
                    )
                changes[stored] = value
                continue
            elif name == "notes" and value is not None and len(value) > 65535:
                raise self._fail(obj, 20, "Invalid value for field notes")
            elif name == "crmId" and value is not None and len(value) > 100:
                raise self._fail(obj, 20, "Invalid value for field crmId")
            changes[name] = value
        auto_pay = body.get("autoPay", current.get("autoPay") if current else False)
        has_method = bool(body.get("hpmCreditCardPaymentMethodId")) or bool(
            current and current.get("defaultPaymentMethodId")
        )
        if auto_pay and not has_method:
            raise self._fail(
                obj, 30, "Cannot enable autoPay: the account has no default payment method"
            )
        if body.get("hpmCreditCardPaymentMethodId"):
            changes["defaultPaymentMethodId"] = str(body["hpmCreditCardPaymentMethodId"])
        bill = sold = None
        if "billToContact" in body:
            bill = self._contact_changes(body["billToContact"], "billToContact", creating=creating)
        if "soldToContact" in body:
            sold = self._contact_changes(body["soldToContact"], "soldToContact", creating=creating)
        return changes, bill, sold

    def _check_tenant_custom(self, name: str, value: Any) -> None:
        """Zuora refuses a picklist value outside the list, a date not in yyyy-mm-dd and text
        over the field's length (custom text fields default to 255)."""
        _, kind, options, limit = TENANT_CUSTOM_FIELDS[name]
        ok = isinstance(value, str)
        if ok and kind == "picklist":
            ok = value in options
        elif ok and kind == "date":
            ok = bool(DATE_RE.match(value))
        elif ok and limit is not None:
            ok = len(value) <= limit
        if not ok:
            raise self._fail(OBJ_ACCOUNT, 20, f"Invalid value for field {name}: {value}")

    def _tax_info_changes(self, data: Any) -> dict[str, Any]:
        """A v1 taxInfo object in stored form (taxExemptStatus, taxExemptCertificateID, vATId)."""
        obj = OBJ_ACCOUNT
        if not isinstance(data, dict):
            raise self._fail(obj, 20, "Invalid value for field taxInfo: must be an object")
        changes: dict[str, Any] = {}
        for name, value in data.items():
            if name not in TAX_INFO_INPUT:
                raise self._fail(obj, 21, f"Unknown field taxInfo.{name}")
            stored, limit = TAX_INFO_INPUT[name]
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise self._fail(obj, 20, f"Invalid value for field taxInfo.{name}")
            if name == "exemptStatus" and value not in (None, *TAX_EXEMPT_STATUSES):
                raise self._fail(
                    obj,
                    20,
                    f"Invalid value for field taxInfo.exemptStatus: {value} (use "
                    + ", ".join(TAX_EXEMPT_STATUSES)
                    + ")",
                )
            changes[stored] = value
        return changes

    def _would_cycle(self, account_id: str, parent_id: str) -> bool:
        seen = set()
        current: str | None = parent_id
        while current and current not in seen:
            if current == account_id:
                return True
            seen.add(current)
            current = (self.accounts.get(current) or {}).get("parentId")
        return False

    # -- idempotency ------------------------------------------------------------------------------
    def _idempotent(self, request: Request, work: Callable[[], Response]) -> Response:
        key = request.header("idempotency-key")
        if key is None:
            return work()
        if not key or len(key) > 255:
            raise ApiFailure(400, OBJ_GENERIC, 20, "Idempotency-Key must be 1 to 255 characters")
        slot = (request.method, request.path, key)
        with self.state_lock:
            entry = self.idempotency.get(slot)
            if entry is not None and time.time() - entry["at"] > IDEMPOTENCY_TTL:
                entry = None
            if entry is not None:
                if entry["response"] is None:
                    return Response(
                        409,
                        self._envelope(
                            OBJ_GENERIC,
                            50,
                            "A request with this Idempotency-Key is still being processed",
                        ),
                    )
                status, body = entry["response"]
                return Response(status, copy.deepcopy(body), {"Idempotency-Replayed": "true"})
            self.idempotency[slot] = {"at": time.time(), "response": None}
        try:
            if self.write_delay:
                time.sleep(self.write_delay)
            response = work()
        except BaseException:
            with self.state_lock:
                self.idempotency.pop(slot, None)
            raise
        with self.state_lock:
            ok = isinstance(response.body, dict) and response.body.get("success") is True
            if ok:
                self.idempotency[slot]["response"] = (
                    response.status,
                    copy.deepcopy(response.body),
                )
            else:
                # Only a success is kept: a rejected call created nothing and may be fixed.
                self.idempotency.pop(slot, None)
        return response

    # -- v1 endpoints -----------------------------------------------------------------------------
    def _create_account(self, request: Request) -> Response:
        body = self._body(request)
        return self._idempotent(request, lambda: self._do_create(body))

    def _do_create(self, body: dict[str, Any]) -> Response:
        with self.state_lock:
            changes, bill, sold = self._account_changes(body, creating=True)
            assert bill is not None
            now = self._now()
            account_id = self._new_id("account")
            if "accountNumber" not in changes:
                number = None
                while number is None or self._account_by_number(number) is not None:
                    self._number_counter += 1
                    number = f"A{self._number_counter:08d}"
                changes["accountNumber"] = number
            contact_ids = []
            shared = body.get("soldToSameAsBillTo") is True
            for data in (bill,) if shared else (bill, sold if sold is not None else dict(bill)):
                contact_id = self._new_id("contact")
                contact_ids.append(contact_id)
                self.contacts[contact_id] = {
                    "id": contact_id,
                    "accountId": account_id,
                    **data,
                    "createdDate": now,
                    "updatedDate": now,
                }
            record: dict[str, Any] = {
                "id": account_id,
                "status": "Active",
                "autoPay": False,
                "mrr": 0,  # no subscriptions yet
                "taxExemptStatus": "No",
                "billToId": contact_ids[0],
                "soldToId": contact_ids[-1],
                **changes,
                "createdDate": now,
                "updatedDate": now,
            }
            self.accounts[account_id] = record
            self._index_account(record)
            self._callout("AccountCreated", record)
            return Response(
                200,
                {
                    "success": True,
                    "accountId": account_id,
                    "accountNumber": record["accountNumber"],
                    "billToContactId": contact_ids[0],
                    "soldToContactId": contact_ids[-1],
                },
            )

    def _update_account(self, request: Request) -> Response:
        body = self._body(request)
        key = request.params["key"]
        return self._idempotent(request, lambda: self._do_update(key, body))

    def _do_update(self, key: str, body: dict[str, Any]) -> Response:
        with self.state_lock:
            account = self._find_account(key, status=self.v1_error_status)
            changes, bill, sold = self._account_changes(body, creating=False, current=account)
            touched = [
                (self.contacts[account[key]], data)
                for key, data in (("billToId", bill), ("soldToId", sold))
                if data
            ]
            now = self._now(
                after=max([account["updatedDate"], *(c["updatedDate"] for c, _ in touched)])
            )
            for contact, data in touched:
                contact.update(data)
                contact["updatedDate"] = now
            account.update(changes)
            account["updatedDate"] = now
            self._index_account(account)
            self._callout("AccountUpdated", account)
            return Response(200, {"success": True})

    def _action_update(self, request: Request) -> Response:
        """The Actions API's update: up to 50 objects of one type, PascalCase standard fields,
        custom fields by their API names, unknown fields ignored; an array of SaveResults in
        the order sent, each object succeeding or failing on its own."""
        body = self._body(request)
        if body.get("type") != "Account":
            raise self._fail(OBJ_GENERIC, 20, f"Invalid value for type: {body.get('type')!r}")
        objects = body.get("objects")
        if (
            not isinstance(objects, list)
            or not objects
            or not all(isinstance(o, dict) for o in objects)
        ):
            raise self._fail(OBJ_GENERIC, 20, "objects must be a list of one or more objects")
        if len(objects) > ACTION_MAX_OBJECTS:
            raise self._fail(
                OBJ_GENERIC, 20, f"At most {ACTION_MAX_OBJECTS} objects are supported per call"
            )
        results = []
        with self.state_lock:
            for obj in objects:
                try:
                    results.append({"Id": self._action_update_one(obj), "Success": True})
                except ApiFailure as failure:
                    code = ACTION_ERROR_CODES.get(failure.category, "INVALID_VALUE")
                    results.append(
                        {"Errors": [{"Code": code, "Message": failure.message}], "Success": False}
                    )
        return Response(200, results)

    def _action_update_one(self, obj: dict[str, Any]) -> str:
        key = obj.get("Id")
        if not isinstance(key, str) or key not in self.accounts:
            raise ApiFailure(200, OBJ_ACCOUNT, 40, f"invalid id: {key!r}")
        account = self.accounts[key]
        fields = {
            ACTION_ACCOUNT_FIELDS.get(name, name): value
            for name, value in obj.items()
            if name in ACTION_ACCOUNT_FIELDS
            or (name in CUSTOM_FIELDS and name not in self.missing_custom_fields)
        }
        changes, _, _ = self._account_changes(fields, creating=False, current=account)
        account.update(changes)
        account["updatedDate"] = self._now(after=account["updatedDate"])
        self._index_account(account)
        self._callout("AccountUpdated", account)
        return key

    # -- actions query (ZOQL) ---------------------------------------------------------------------
    def _action_query(self, request: Request) -> Response:
        """ZOQL over accounts or contacts: up to batchSize records, "size" the total matched,
        and a queryLocator for queryMore while "done" is false."""
        body = self._body(request)
        text = body.get("queryString")
        if not isinstance(text, str) or not text.strip():
            raise self._fail(OBJ_QUERY, 22, "Missing required field queryString")
        batch_size = self._zoql_batch_size(body.get("conf"), ZOQL_MAX_BATCH)
        try:
            query = parse_zoql(text, self.tz)
            for name, _ in query.fields:
                if query.object_name == "Account" and name in self.missing_custom_fields:
                    raise ZoqlError(21, f"invalid field for query: Account.{name}")
        except ZoqlError as error:
            raise self._fail(OBJ_QUERY, error.category, f"Invalid ZOQL query: {error}") from None
        records = self.accounts if query.object_name == "Account" else self.contacts
        keys = tuple(name for name, _ in query.fields)
        stored = [name for _, name in query.fields]
        matches = query.matches
        with self.state_lock:
            # One pass, copying only the selected values: cheap even for 100,000 records.
            rows = [tuple(map(r.get, stored)) for r in records.values() if matches(r)]
            self._expire_locators()
            snapshot_id = uuid.uuid4().hex
            self._zoql_snapshots[snapshot_id] = _ZoqlSnapshot(
                time.monotonic(), keys, rows, batch_size
            )
            return self._zoql_page(snapshot_id, 0, batch_size)

    def _action_query_more(self, request: Request) -> Response:
        body = self._body(request)
        locator = body.get("queryLocator")
        found = re.fullmatch(r"([0-9a-f]{32})-(\d+)", locator) if isinstance(locator, str) else None
        with self.state_lock:
            self._expire_locators()
            snapshot = self._zoql_snapshots.get(found.group(1)) if found else None
            if found is None or snapshot is None or int(found.group(2)) >= len(snapshot.rows):
                shown = str(locator)[:80]
                raise self._fail(OBJ_QUERY, 20, f"Invalid or expired queryLocator: '{shown}'")
            batch_size = self._zoql_batch_size(body.get("conf"), snapshot.batch_size)
            return self._zoql_page(found.group(1), int(found.group(2)), batch_size)

    def _zoql_batch_size(self, conf: Any, default: int) -> int:
        if conf is None:
            return default
        if not isinstance(conf, dict):
            raise self._fail(OBJ_QUERY, 20, "conf must be an object")
        size = conf.get("batchSize", default)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= ZOQL_MAX_BATCH:
            raise self._fail(
                OBJ_QUERY,
                20,
                f"Invalid value for conf.batchSize: {size!r}. It must be 1 to {ZOQL_MAX_BATCH}",
            )
        return size

    def _expire_locators(self) -> None:
        now = time.monotonic()
        for key, snapshot in list(self._zoql_snapshots.items()):
            if now - snapshot.born >= self.query_locator_ttl:
                del self._zoql_snapshots[key]

    def _zoql_page(self, snapshot_id: str, position: int, batch_size: int) -> Response:
        """One batch from a live snapshot; the caller has checked that the snapshot is there."""
        with self.state_lock:
            snapshot = self._zoql_snapshots[snapshot_id]
            rows = snapshot.rows[position : position + batch_size]
            end = position + len(rows)
            done = end >= len(snapshot.rows)
            if done:
                # Like the Object Query cursor: the last page frees the snapshot.
                del self._zoql_snapshots[snapshot_id]
        fmt, keys = self._fmt, snapshot.keys
        records = [
            {
                key: fmt(value) if isinstance(value, datetime) else value
                for key, value in zip(keys, row, strict=True)
                if value is not None
            }
            for row in rows
        ]
        body: dict[str, Any] = {"records": records, "size": len(snapshot.rows), "done": done}
        if not done:
            body["queryLocator"] = f"{snapshot_id}-{end}"
        return Response(200, body)

    # -- callout notifications ----------------------------------------------------------------
    def _callout(self, event: str, account: dict[str, Any]) -> None:
        """Queue the callout Zuora sends for this account event (when hooks are configured)."""
        self.hooks.notify(
            {
                "event": event,
                "accountId": account["id"],
                "accountNumber": account["accountNumber"],
                "eventId": uuid.uuid4().hex,  # two saves in one second are two calls
            }
        )

    def user_edit(self, key: str, changes: dict[str, Any]) -> None:
        """An edit a Zuora user makes in the UI (v1 update body: fields, billToContact,
        soldToContact). It fires the AccountUpdated callout like an API update, but is not an
        API call: no latency, no concurrency slot. Raises ValueError when Zuora would refuse."""
        try:
            self._do_update(key, changes)
        except ApiFailure as failure:
            raise ValueError(failure.message) from None

    def _control_ui_edit(self, request: Request) -> Response:
        try:
            changes = request.json() or {}
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of the fields to change")
            self.user_edit(request.params["key"], changes)
        except ValueError as exc:
            return Response(400, {"success": False, "message": str(exc)})
        return Response(200, {"success": True})

    def _update_contact(self, request: Request) -> Response:
        body = self._body(request)
        key = request.params["key"]
        return self._idempotent(request, lambda: self._do_update_contact(key, body))

    def _do_update_contact(self, key: str, body: dict[str, Any]) -> Response:
        with self.state_lock:
            contact = self.contacts.get(key)
            if contact is None:
                raise self._fail(OBJ_CONTACT, 40, f"Cannot find entity by key: '{key}'")
            changes = self._contact_changes(body, "contact", creating=False)
            contact.update(changes)
            # Only the contact: Zuora leaves the account's updatedDate alone.
            contact["updatedDate"] = self._now(after=contact["updatedDate"])
            account = self.accounts.get(contact.get("accountId") or "")
            if account is not None:
                self._callout("ContactUpdated", account)
            return Response(200, {**self._v1_contact(contact), "success": True})

    def _v1_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        out = {
            name: contact.get(name)
            for name in CONTACT_FIELDS
            if name not in ("postalCode", "createdDate", "updatedDate")
        }
        out["zipCode"] = contact.get("postalCode")
        out["createdDate"] = self._fmt(contact["createdDate"])
        out["updatedDate"] = self._fmt(contact["updatedDate"])
        return out

    def _v1_get_account(self, request: Request) -> Response:
        with self.state_lock:
            account = self._find_account(request.params["key"], status=self.v1_error_status)
            basic = {
                "id": account["id"],
                "name": account.get("name"),
                "accountNumber": account.get("accountNumber"),
                "status": account.get("status"),
                "batch": account.get("batch"),
                "crmId": account.get("crmId"),
                "notes": account.get("notes"),
                "parentId": account.get("parentId"),
                **{name: account.get(stored) for name, (stored, _) in ACCOUNT_TEXT_INPUT.items()},
                **{
                    name: account.get(name)
                    for name in CUSTOM_FIELDS
                    if name not in self.missing_custom_fields
                },
            }
            tax_info = {name: account.get(stored) for name, (stored, _) in TAX_INFO_INPUT.items()}
            billing = {
                "billCycleDay": account.get("billCycleDay"),
                "currency": account.get("currency"),
                "paymentTerm": account.get("paymentTerm"),
                "autoPay": account.get("autoPay", False),
                "defaultPaymentMethodId": account.get("defaultPaymentMethodId"),
            }
            bill = self.contacts.get(account.get("billToId") or "")
            sold = self.contacts.get(account.get("soldToId") or "")
            return Response(
                200,
                {
                    "basicInfo": basic,
                    "billingAndPayment": billing,
                    "metrics": {"contractedMrr": account.get("mrr")},
                    "taxInfo": tax_info,
                    "billToContact": self._v1_contact(bill) if bill else None,
                    "soldToContact": self._v1_contact(sold) if sold else None,
                    "success": True,
                },
            )

    def _describe(self, request: Request) -> Response:
        """The fields of an object as XML (<object><fields><field>...), custom fields of this
        tenant included; an object the tenant does not have is a 400 envelope. Besides name,
        label, type, options and contexts, each field carries the legacy elements Zuora still
        sends (createable, updateable, custom, maxlength when the field has a limit)."""
        wanted = request.params["object"]
        described: dict[str, tuple[str, str, tuple[str, ...], int | None, bool]] = {}
        if wanted.lower() == "account":
            for name, stored in ZOQL_ACCOUNT_FIELDS.items():
                if name in self.missing_custom_fields:
                    continue
                if name in TENANT_CUSTOM_FIELDS:
                    label, kind, options, limit = TENANT_CUSTOM_FIELDS[name]
                else:
                    label, kind = DESCRIBE_TYPES.get(name, (name, "text"))
                    options, limit = DESCRIBE_OPTIONS.get(name, ()), DESCRIBE_LIMITS.get(name)
                described[name] = (label, kind, options, limit, stored in ACCOUNT_INPUT)
            object_name, label = "Account", "Account"
        elif wanted.lower() == "contact":
            for name, stored in ZOQL_CONTACT_FIELDS.items():
                key = "zipCode" if stored == "postalCode" else stored
                limit = CONTACT_LIMITS.get(key)
                words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
                described[name] = (words, "text", (), limit, key in CONTACT_LIMITS)
            object_name, label = "Contact", "Contact"
        else:
            raise self._fail(OBJ_GENERIC, 40, f"Invalid object name: {wanted}")
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f"<object><name>{object_name}</name><label>{label}</label><fields>",
        ]
        for name, (field_label, kind, options, limit, writable) in described.items():
            listed = "".join(f"<option>{o}</option>" for o in options)
            flag = "true" if writable else "false"
            parts.append(
                f"<field><name>{name}</name><label>{field_label}</label><type>{kind}</type>"
                + (f"<options>{listed}</options>" if listed else "")
                + "<contexts><context>soap</context><context>export</context></contexts>"
                + f"<selectable>true</selectable><createable>{flag}</createable>"
                + f"<updateable>{flag}</updateable>"
                + (f"<maxlength>{limit}</maxlength>" if limit else "")
                + f"<custom>{'true' if name in CUSTOM_FIELDS else 'false'}</custom></field>"
            )
        parts.append("</fields></object>")
        return Response(200, "".join(parts), content_type="text/xml; charset=utf-8")

    def _currencies(self, request: Request) -> Response:
        return Response(
            200,
            {
                "currencies": [
                    {"currencyCode": code, "active": True, "roundingMode": "HALF_UP"}
                    for code in CURRENCIES
                ],
                "success": True,
            },
        )

    def _payment_terms(self, request: Request) -> Response:
        terms = []
        for name in PAYMENT_TERMS:
            days = int(name.split()[1]) if name.startswith("Net") else 0
            terms.append({"name": name, "active": True, "type": "Days", "netDays": days})
        return Response(200, {"paymentTerms": terms, "success": True})
