"""A local NetSuite that behaves like the documented SuiteTalk REST API (see
/work/shared/reference/netsuite-api.md): TBA and OAuth 2.0 auth verified for real, the customer
record API with NetSuite's validation and merge rules, and SuiteQL executed as real SQL on an
in-memory sqlite database holding NetSuite's table and column names.

Run it standalone: python -m connectors.sandboxes netsuite --port 8766 --customers 200
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jwt
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from connectors.netsuite import fields
from connectors.sandboxes.hooks import HookSettings
from connectors.sandboxes.seed import SeedAccount, generate_accounts
from connectors.sandboxes.server import Request, Response, SandboxConfig, SandboxServer

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "1234567_SB1"
DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
DEFAULT_TOKEN_ID = "sandbox-token-id"
DEFAULT_TOKEN_SECRET = "sandbox-token-secret"
MAX_ROWS = 100_000  # rows one SuiteQL query can reach through paging
MAX_LIMIT = 1000
TIMESTAMP_WINDOW = 300  # seconds a TBA timestamp may be off; nonces are kept that long
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
RECORD_PATH = "/services/rest/record/v1"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DATE_FORMAT = "YYYY-MM-DD HH24:MI:SS"
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # internal: microseconds keep every write strictly ordered

CURRENCIES = [
    (1, "USD", "US Dollar", "T", 1.0),
    (2, "EUR", "Euro", "F", 1.08),
    (3, "GBP", "British Pound", "F", 1.27),
    (4, "CAD", "Canadian Dollar", "F", 0.74),
    (5, "JPY", "Japanese Yen", "F", 0.0067),
    (6, "AUD", "Australian Dollar", "F", 0.66),
]
SUBSIDIARIES = [
    (1, "Parent Company", "Parent Company", None),
    (2, "US Sub", "Parent Company : US Sub", 1),
    (3, "EU Sub", "Parent Company : EU Sub", 1),
]
TERMS = [(1, "Net 15", 15), (2, "Net 30", 30), (3, "Net 45", 45), (4, "Net 60", 60)]
TERMS.append((5, "Due Upon Receipt", 0))
CUSTOMER_CATEGORIES = [
    (1, "Direct"),
    (2, "Reseller"),
    (3, "Gold Partner"),
    (4, "Silver Partner"),
    (5, "Bronze Partner"),
]
# Custom entity fields this account's own admins made (not the sync's): script id ->
# (label, JSON Schema type, format, max length). The demo and the tests of added mappings use them.
TENANT_CUSTOM_FIELDS: dict[str, tuple[str, str, str | None, int | None]] = {
    "custentity_region": ("Region", "string", None, 300),
    "custentity_renewal_date": ("Renewal Date", "string", "date", None),
}
# How the metadata catalog titles the standard fields (the labels of the customer form).
FIELD_TITLES = {
    "id": "Internal ID",
    "entityId": "Customer ID",
    "companyName": "Company Name",
    "firstName": "First Name",
    "lastName": "Last Name",
    "email": "Email",
    "phone": "Phone",
    "comments": "Comments",
    "externalId": "External ID",
    "isPerson": "Type (Individual)",
    "isInactive": "Inactive",
    "subsidiary": "Primary Subsidiary",
    "currency": "Currency",
    "terms": "Terms",
    "parent": "Child Of",
    "category": "Category",
    "addressBook": "Address",
    "lastModifiedDate": "Date Last Modified",
    "dateCreated": "Date Created",
}

STRING_FIELDS = {  # record field -> (column, max length)
    "entityId": ("entityid", 83),
    "companyName": ("companyname", 83),
    "firstName": ("firstname", 32),
    "lastName": ("lastname", 32),
    "email": ("email", 254),
    "phone": ("phone", 32),
    "fax": ("fax", 32),
    "comments": ("comments", 999),
    "externalId": ("externalid", 255),
    "vatRegNumber": ("vatregnumber", 20),  # Tax Reg. Number: the sync never writes it
}
BOOL_FIELDS = {"isPerson": "isperson", "isInactive": "isinactive", "isTaxable": "taxable"}
REF_FIELDS = {  # record field -> (column, table)
    "subsidiary": ("subsidiary", "subsidiary"),
    "currency": ("currency", "currency"),
    "terms": ("terms", "term"),
    "parent": ("parent", "customer"),
    "category": ("category", "customercategory"),
}
READ_ONLY = {"id", "links", "lastModifiedDate", "dateCreated", "entityStatus", "refName"}
ADDRESS_FIELDS = {  # addressBookAddress field -> (column, max length)
    "addressee": ("addressee", 150),
    "attention": ("attention", 150),
    "addr1": ("addr1", 150),
    "addr2": ("addr2", 150),
    "city": ("city", 50),
    "state": ("state", 30),
    "zip": ("zip", 36),
    "country": ("country", 2),
    "addrPhone": ("addrphone", 32),
}
# A line is keyed by its internal id, sent as "id" (or "internalId"): a PATCH updates the lines
# whose key matches, field by field, adds the lines without a key and keeps every other line;
# ?replace=addressBook removes the lines the request does not name.
LINE_FIELDS = {
    "id",
    "internalId",
    "label",
    "defaultBilling",
    "defaultShipping",
    "addressBookAddress",
}
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
RAW_STAMP_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2}:\d{2}\.\d{6}$")
TO_DATE_RE = re.compile(r"\bTO_DATE\s*\(\s*'([^']*)'\s*,\s*'([^']*)'\s*\)", re.IGNORECASE)
TO_CHAR_RE = re.compile(r"\bTO_CHAR\s*\(\s*([A-Za-z_][\w.]*)\s*,\s*'([^']*)'\s*\)", re.IGNORECASE)

SCHEMA = f"""
CREATE TABLE customer (
    id INTEGER PRIMARY KEY, entityid TEXT, companyname TEXT, isperson TEXT NOT NULL DEFAULT 'F',
    firstname TEXT, lastname TEXT, email TEXT, phone TEXT, fax TEXT, comments TEXT,
    externalid TEXT, vatregnumber TEXT, taxable TEXT NOT NULL DEFAULT 'F',
    isinactive TEXT NOT NULL DEFAULT 'F', subsidiary INTEGER, currency INTEGER, terms INTEGER,
    parent INTEGER, datecreated TEXT, lastmodifieddate TEXT, entitystatus INTEGER DEFAULT 13,
    stage TEXT DEFAULT 'CUSTOMER', category INTEGER,
    {", ".join(f"{name} TEXT" for name in (*fields.ALL, *TENANT_CUSTOM_FIELDS))}
);
CREATE UNIQUE INDEX customer_externalid ON customer(externalid);
CREATE INDEX customer_lastmodified ON customer(lastmodifieddate, id);
CREATE INDEX customer_entityid ON customer(entityid);
CREATE INDEX customer_zuora_id ON customer({fields.ZUORA_ID});
CREATE TABLE customeraddressbook (
    internalid INTEGER PRIMARY KEY, entity INTEGER NOT NULL, label TEXT,
    defaultbilling TEXT NOT NULL DEFAULT 'F', defaultshipping TEXT NOT NULL DEFAULT 'F',
    addressbookaddress INTEGER NOT NULL
);
CREATE INDEX customeraddressbook_entity ON customeraddressbook(entity);
CREATE TABLE customeraddressbookentityaddress (
    nkey INTEGER PRIMARY KEY, addressee TEXT, attention TEXT, addr1 TEXT, addr2 TEXT, city TEXT,
    state TEXT, zip TEXT, country TEXT, addrphone TEXT, lastmodifieddate TEXT
);
CREATE TABLE currency (
    id INTEGER PRIMARY KEY, symbol TEXT, name TEXT, isbasecurrency TEXT, exchangerate REAL,
    isinactive TEXT DEFAULT 'F'
);
CREATE TABLE subsidiary (
    id INTEGER PRIMARY KEY, name TEXT, fullname TEXT, parent INTEGER, isinactive TEXT DEFAULT 'F'
);
CREATE TABLE customercategory (id INTEGER PRIMARY KEY, name TEXT, isinactive TEXT DEFAULT 'F');
CREATE TABLE term (
    id INTEGER PRIMARY KEY, name TEXT, daysuntilnetdue INTEGER, isinactive TEXT DEFAULT 'F'
);
"""
TABLES = (
    "customer",
    "customeraddressbook",
    "customeraddressbookentityaddress",
    "currency",
    "subsidiary",
    "term",
    "customercategory",
)
STATUS_SECTIONS = {400: "15.5.1", 401: "15.5.2", 403: "15.5.4", 404: "15.5.5", 405: "15.5.6"}


class Problem(Exception):
    """Raised inside handlers; becomes RFC 7807 problem details."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.path = status, code, detail, path


def problem_response(
    status: int, code: str, detail: str, path: str | None = None, headers: dict | None = None
) -> Response:
    error: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        error["o:errorPath"] = path
    section = STATUS_SECTIONS.get(status, "15.6.1" if status >= 500 else "15.5.1")
    kind = (
        "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"
        if status == 429
        else f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"
    )
    body = {
        "type": kind,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "o:errorDetails": [error],
    }
    return Response(
        status,
        body,
        headers or {},
        content_type="application/vnd.oracle.resource+json; type=error",
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STAMP)


def _iso(stamp: str | None) -> str | None:
    return f"{stamp[:19].replace(' ', 'T')}Z" if stamp else None


def _nvl(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


class NetSuiteSandbox(SandboxServer):
    name = "netsuite"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        token_id: str = DEFAULT_TOKEN_ID,
        token_secret: str = DEFAULT_TOKEN_SECRET,
        oauth2_clients: dict[str, dict[str, str]] | None = None,
        token_ttl: int = 3600,
        one_world: bool = True,
        multi_currency: bool = True,
        max_rows: int = MAX_ROWS,
        state_file: str | None = None,
        clock: Callable[[], datetime] | None = None,
        time_zone: str | tzinfo = UTC,
        hook: HookSettings | None = None,
    ) -> None:
        super().__init__(
            host=host, port=port, config=config or SandboxConfig(concurrency_limit=5), hook=hook
        )
        self.account_id = account_id.upper()
        self.one_world = one_world
        self.multi_currency = multi_currency
        self.max_rows = max_rows
        self.token_ttl = token_ttl
        self.state_file = state_file
        self._clock = clock or (lambda: datetime.now(UTC))
        # The integration user's time zone preference: SuiteQL's TO_CHAR gives dates as wall
        # clock times in it, without an offset, and reads TO_DATE literals in it. Stamps are
        # kept in UTC; the record API answers in UTC whatever the preference.
        if isinstance(time_zone, str):
            time_zone = UTC if time_zone.upper() == "UTC" else ZoneInfo(time_zone)
        self.time_zone: tzinfo = time_zone
        self._auth_lock = threading.Lock()
        self._consumers: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # token id -> (consumer key, secret)
        self.register_tba_token(consumer_key, consumer_secret, token_id, token_secret)
        self._oauth2_clients: dict[str, dict[str, str]] = {
            client: dict(keys) for client, keys in (oauth2_clients or {}).items()
        }
        self._access_tokens: dict[str, tuple[str, float]] = {}
        self.tokens_issued = 0
        self._nonces: set[tuple[str, str]] = set()
        self._nonce_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._last_stamp = ""
        self._next_entity_number = 1
        # Custom fields of the customer this account lacks (remove_custom_field).
        self.missing_custom_fields: set[str] = set()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self._counts: dict[str, tuple[int, int]] = {}  # SQL -> (data version, rows)
        self.db.create_function("NVL", 2, _nvl, deterministic=True)
        self.db.create_function("NS_WALL_CLOCK", 1, self._wall_clock)
        self._reset_database()
        if state_file and os.path.exists(state_file):
            self.load(state_file)
        api = RECORD_PATH + "/customer"
        self.route("POST", TOKEN_PATH, "auth.token", self._token_endpoint)
        self.route(
            "POST", r"/services/rest/query/v1/suiteql", "query.suiteql", self._api(self._suiteql)
        )
        self.route("POST", api, "record.customer.create", self._api(self._create))
        self.route("GET", api + r"/(?P<key>[^/]+)", "record.customer.get", self._api(self._get))
        self.route(
            "PATCH", api + r"/(?P<key>[^/]+)", "record.customer.update", self._api(self._patch)
        )
        self.route("PUT", api + r"/(?P<key>[^/]+)", "record.customer.upsert", self._api(self._put))
        self.route(
            "GET",
            RECORD_PATH + r"/metadata-catalog/(?P<record>[^/]+)",
            "record.metadata",
            self._api(self._metadata),
        )
        self.route("POST", r"/_sandbox/seed", "sandbox.seed", self._seed_endpoint)
        self.route("POST", r"/_sandbox/save", "sandbox.save", self._save_endpoint)
        self.route(
            "POST",
            r"/_sandbox/ui/customer/(?P<key>\d+)/address",
            "sandbox.ui",
            self._ui_address_edit,
        )
        self.route("POST", r"/_sandbox/ui/customer/(?P<key>\d+)", "sandbox.ui", self._ui_edit)

    # -- vendor-shaped answers ----------------------------------------------------------------
    def throttled(self, reason: str, retry_after: int) -> Response:
        return problem_response(
            429,
            "CONCURRENCY_LIMIT_EXCEEDED",
            f"Concurrent request limit exceeded ({reason}). Request blocked.",
            headers={"Retry-After": str(retry_after)},
        )

    def server_error(self) -> Response:
        return problem_response(
            503,
            "UNEXPECTED_ERROR",
            "An unexpected error occurred. Service temporarily unavailable.",
            headers={"Retry-After": str(self.config.retry_after_seconds)},
        )

    def not_found(self, request: Request) -> Response:
        return problem_response(
            404, "INVALID_PARAMETER", f"Invalid URL: {request.method} {request.path}"
        )

    def inspect(self) -> dict[str, Any]:
        with self.state_lock:
            counts = {
                table: self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in TABLES
            }
        return {"account_id": self.account_id, "tables": counts, "last_stamp": self._last_stamp}

    # -- credentials -----------------------------------------------------------------------------
    def register_tba_token(
        self, consumer_key: str, consumer_secret: str, token_id: str, token_secret: str
    ) -> None:
        with self._auth_lock:
            self._consumers[consumer_key] = consumer_secret
            self._tokens[token_id] = (consumer_key, token_secret)

    def register_oauth2_client(
        self, client_id: str, certificate_id: str, public_key_pem: str
    ) -> None:
        with self._auth_lock:
            self._oauth2_clients.setdefault(client_id, {})[certificate_id] = public_key_pem

    def _api(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            try:
                self._authenticate(request)
                return handler(request)
            except Problem as problem:
                return problem_response(problem.status, problem.code, problem.detail, problem.path)

        return wrapped

    def _authenticate(self, request: Request) -> None:
        header = request.header("Authorization") or ""
        if header.startswith("Bearer "):
            token = header[7:].strip()
            with self._auth_lock:
                known = self._access_tokens.get(token)
            if known is None or known[1] <= time.time():
                raise self._invalid_login()
            return
        if header.startswith("OAuth "):
            self._verify_tba(request, header)
            return
        raise self._invalid_login()

    @staticmethod
    def _invalid_login() -> Problem:
        return Problem(
            401,
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite "
            "UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        )

    def _verify_tba(self, request: Request, header: str) -> None:
        params = {
            k: oauth_utils.unescape(v) for k, v in oauth_utils.parse_authorization_header(header)
        }
        if params.get("realm") != self.account_id:
            raise self._invalid_login()
        if params.get("oauth_signature_method") != "HMAC-SHA256":
            raise self._invalid_login()  # HMAC-SHA1 is no longer accepted
        if params.get("oauth_version", "1.0") != "1.0":
            raise self._invalid_login()
        consumer_key = params.get("oauth_consumer_key", "")
        token_id = params.get("oauth_token", "")
        nonce = params.get("oauth_nonce", "")
        with self._auth_lock:
            consumer_secret = self._consumers.get(consumer_key)
            token = self._tokens.get(token_id)
        if consumer_secret is None or token is None or token[0] != consumer_key or not nonce:
            raise self._invalid_login()
        try:
            timestamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            raise self._invalid_login() from None
        now = time.time()
        if abs(now - timestamp) > TIMESTAMP_WINDOW:
            raise self._invalid_login()
        content_type = request.header("Content-Type") or ""
        body = None
        if "application/x-www-form-urlencoded" in content_type and request.body:
            body = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
            body = [(k, v) for k, values in body.items() for v in values]
        collected = oauth_signature.collect_parameters(
            uri_query=urlsplit(request.url).query,
            body=body,
            headers={"Authorization": header},
            exclude_oauth_signature=True,
            with_realm=False,
        )
        base_string = oauth_signature.signature_base_string(
            request.method,
            oauth_signature.base_string_uri(request.url),
            oauth_signature.normalize_parameters(collected),
        )
        expected = oauth_signature.sign_hmac_sha256_with_client(
            base_string,
            SimpleNamespace(client_secret=consumer_secret, resource_owner_secret=token[1]),
        )
        if not oauth_signature.safe_string_equals(expected, params.get("oauth_signature", "")):
            raise self._invalid_login()
        key = (consumer_key, nonce)
        with self._auth_lock:
            while self._nonce_order and self._nonce_order[0][0] < now - 2 * TIMESTAMP_WINDOW:
                self._nonces.discard(self._nonce_order.popleft()[1])
            if key in self._nonces:
                raise self._invalid_login()  # a replayed request
            self._nonces.add(key)
            self._nonce_order.append((now, key))

    def _token_endpoint(self, request: Request) -> Response:
        def refuse(error: str, description: str, status: int = 400) -> Response:
            return Response(status, {"error": error, "error_description": description})

        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return refuse("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            return refuse("invalid_request", "client_assertion_type must be jwt-bearer")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return refuse("invalid_request", "client_assertion is not a JWT")
        algorithm = header.get("alg")
        if algorithm not in ("PS256", "ES256"):
            return refuse("invalid_grant", "only PS256 and ES256 assertions are accepted")
        with self._auth_lock:
            keys = self._oauth2_clients.get(str(unverified.get("iss")), {})
            public_key = keys.get(str(header.get("kid")))
        if public_key is None:
            return refuse("invalid_client", "unknown client or certificate id", 401)
        parts = urlsplit(request.url)
        token_url = f"{parts.scheme}://{parts.netloc}{TOKEN_PATH}"
        try:
            claims = jwt.decode(
                assertion,
                public_key,
                algorithms=[algorithm],
                audience=token_url,
                options={"require": ["exp", "iat", "iss", "aud"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            return refuse("invalid_grant", f"client_assertion refused: {exc}")
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            return refuse("invalid_grant", "exp must be at most iat + 3600")
        if int(claims["iat"]) > time.time() + 60:
            return refuse("invalid_grant", "iat is in the future")
        scope = claims.get("scope")
        scopes = scope if isinstance(scope, list) else re.split(r"[\s,]+", str(scope or ""))
        if "rest_webservices" not in scopes:
            return refuse("invalid_scope", "scope must include rest_webservices")
        token = secrets.token_urlsafe(32)
        with self._auth_lock:
            now = time.time()
            self._access_tokens = {t: v for t, v in self._access_tokens.items() if v[1] > now}
            self._access_tokens[token] = (str(claims["iss"]), now + self.token_ttl)
            self.tokens_issued += 1
        return Response(
            200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"}
        )

    # -- database ------------------------------------------------------------------------------
    def _reset_database(self) -> None:
        with self.state_lock:
            for table in TABLES:
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
            self.db.executescript(SCHEMA)
            self.db.executemany("INSERT INTO currency VALUES (?, ?, ?, ?, ?, 'F')", CURRENCIES)
            self.db.executemany("INSERT INTO subsidiary VALUES (?, ?, ?, ?, 'F')", SUBSIDIARIES)
            self.db.executemany("INSERT INTO term VALUES (?, ?, ?, 'F')", TERMS)
            self.db.executemany(
                "INSERT INTO customercategory VALUES (?, ?, 'F')", CUSTOMER_CATEGORIES
            )
            self.db.commit()
            self._next_entity_number = 1
            self.missing_custom_fields = set()

    def _tick(self) -> str:
        """A write timestamp strictly after every earlier one, even within a microsecond."""
        stamp = _stamp(self._clock())
        if stamp <= self._last_stamp:
            last = datetime.strptime(self._last_stamp, STAMP)
            stamp = (last + timedelta(microseconds=1)).strftime(STAMP)
        self._last_stamp = stamp
        return stamp

    def sql(self, query: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        """Unrestricted SQL on the sandbox's tables, for tests and operators."""
        with self.state_lock:
            cursor = self.db.execute(query, params)
            names = [d[0] for d in cursor.description or []]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            self.db.commit()
            return rows

    def remove_custom_field(self, name: str) -> None:
        """Take a custom entity field off the customer, as an account where it was never
        created: SuiteQL no longer knows the column, the metadata catalog leaves it out and the
        record API refuses it."""
        if name not in fields.ALL:
            raise ValueError(f"{name} is not a custom field of the customer")
        with self.state_lock:
            if name in self.missing_custom_fields:
                return
            for (index,) in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customer'"
                " AND sql LIKE ?",
                (f"%{name}%",),
            ).fetchall():
                self.db.execute(f'DROP INDEX "{index}"')
            self.db.execute(f'ALTER TABLE customer DROP COLUMN "{name}"')
            self.db.commit()
            self.missing_custom_fields.add(name)

    def rename_column(self, table: str, column: str, new_name: str) -> None:
        """Give a SuiteQL column another name, as in an account whose column is named
        differently: queries naming the old one fail the way NetSuite fails them. For tests
        of what reads SuiteQL; the record API may not write that column afterwards."""
        if table not in TABLES or not re.fullmatch(r"[a-z_][a-z0-9_]*", new_name):
            raise ValueError(f"cannot rename {table}.{column} to {new_name}")
        with self.state_lock:
            self.db.execute(f'ALTER TABLE {table} RENAME COLUMN "{column}" TO "{new_name}"')
            self.db.commit()
            self._counts.clear()

    def customers_count(self) -> int:
        return self.sql("SELECT COUNT(*) AS n FROM customer")[0]["n"]

    def customer(self, key: str | int, *, expand: bool = True) -> dict[str, Any] | None:
        """The customer as GET (with expandSubResources) shows it, or None."""
        with self.state_lock:
            internal_id = self._resolve(str(key))
            return None if internal_id is None else self._record(internal_id, expand, "")

    def find_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        return self.customer(f"eid:{external_id}")

    def set_last_modified(self, ids: list[int | str], when: datetime) -> None:
        """Backdate customers (tests of windows and caps); does not move the write clock."""
        with self.state_lock:
            self.db.executemany(
                "UPDATE customer SET lastmodifieddate = ? WHERE id = ?",
                [(_stamp(when), int(i)) for i in ids],
            )
            self.db.commit()

    # -- seeding and persistence -------------------------------------------------------------
    def seed(
        self, *, customers: int = 20, seed: int = 42, counterparts: Sequence[SeedAccount] = ()
    ) -> list[int]:
        """Replace all customers with `customers` Active seed accounts, then one customer per
        account of `counterparts` (see seed.probable_counterparts); returns their ids."""
        rng = random.Random(seed)
        # Fields added later draw from their own generator, so earlier fields keep their values.
        extra = random.Random(seed * 31 + 7)
        accounts = [
            a for a in generate_accounts(customers * 2 + 10, seed=seed) if a.status == "Active"
        ][:customers] + list(counterparts)
        currency_ids = {symbol: cid for cid, symbol, *_ in CURRENCIES}
        term_ids = {name: tid for tid, name, _ in TERMS}
        ids: dict[int, int] = {}
        with self.state_lock:
            self._reset_database()
            for number, account in enumerate(accounts, start=1):
                stamp = _stamp(account.updated + timedelta(microseconds=number))
                values = {
                    "id": number,
                    "entityid": f"CUS-{number:06d}",
                    "companyname": None if account.is_person else account.name,
                    "isperson": "T" if account.is_person else "F",
                    "firstname": account.first_name,
                    "lastname": account.last_name,
                    "email": account.bill_to.work_email,
                    "phone": account.bill_to.work_phone,
                    "comments": account.notes,
                    "isinactive": "F",
                    "subsidiary": 2 if account.bill_to.country_code == "US" else 3,
                    "currency": currency_ids[account.currency],
                    "terms": term_ids[account.payment_term],
                    "parent": ids.get(account.parent_index)
                    if account.parent_index is not None
                    else None,
                    "datecreated": _stamp(account.created),
                    "lastmodifieddate": stamp,
                    fields.SEND_TO_ZUORA: "T" if rng.random() < 0.95 else "F",
                    fields.ZUORA_AUTO_PAY: "F",
                    "fax": f"+1 555 01{number % 100:02d}" if extra.random() < 0.4 else None,
                    "taxable": "T" if extra.random() < 0.8 else "F",
                    "vatregnumber": f"EU{number:09d}"
                    if account.bill_to.country_code != "US" and extra.random() < 0.5
                    else None,
                }
                self._insert("customer", values)
                ids[account.index] = number
                same = account.sold_to == account.bill_to
                lines = [(fields.ADDRESS_LABEL_BILL_TO, account.bill_to, True, same)]
                if not same:
                    lines.append((fields.ADDRESS_LABEL_SOLD_TO, account.sold_to, False, True))
                for label, address, billing, shipping in lines:
                    nkey = self._insert(
                        "customeraddressbookentityaddress",
                        {
                            "addressee": account.name,
                            "attention": f"{address.first_name} {address.last_name}",
                            "addr1": address.address1,
                            "addr2": address.address2,
                            "city": address.city,
                            "state": address.state,
                            "zip": address.postal_code,
                            "country": address.country_code,
                            "addrphone": address.work_phone,
                            "lastmodifieddate": stamp,
                        },
                    )
                    self._insert(
                        "customeraddressbook",
                        {
                            "entity": number,
                            "label": label,
                            "defaultbilling": "T" if billing else "F",
                            "defaultshipping": "T" if shipping else "F",
                            "addressbookaddress": nkey,
                        },
                    )
                self._last_stamp = max(self._last_stamp, stamp)
            self._next_entity_number = len(accounts) + 1
            self.db.commit()
        return list(ids.values())

    def _insert(self, table: str, values: dict[str, Any]) -> int:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.db.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values())
        )
        return int(cursor.lastrowid or 0)

    def save(self, path: str | None = None) -> str:
        target = path or self.state_file
        if not target:
            raise ValueError("no state file configured")
        with self.state_lock:
            state = {
                "account_id": self.account_id,
                "last_stamp": self._last_stamp,
                "next_entity_number": self._next_entity_number,
                "tables": {table: self.sql(f"SELECT * FROM {table}") for table in TABLES},
            }
        tmp = f"{target}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, ensure_ascii=False)
        os.replace(tmp, target)  # a crash mid-write never leaves half a state file
        return target

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        with self.state_lock:
            for table in TABLES:
                if table not in state["tables"]:
                    continue  # saved before the table existed: keep its reference rows
                self.db.execute(f"DELETE FROM {table}")
                for row in state["tables"][table]:
                    self._insert(table, row)
            self._last_stamp = state.get("last_stamp", "")
            self._next_entity_number = int(state.get("next_entity_number", 1))
            self.db.commit()

    def _seed_endpoint(self, request: Request) -> Response:
        body = request.json() or {}
        ids = self.seed(customers=int(body.get("customers", 20)), seed=int(body.get("seed", 42)))
        return Response(200, {"customers": len(ids)})

    def _save_endpoint(self, request: Request) -> Response:
        try:
            return Response(200, {"saved": self.save((request.json() or {}).get("path"))})
        except (ValueError, OSError) as exc:
            return Response(400, {"message": str(exc)})

    def _ui_address_edit(self, request: Request) -> Response:
        """An edit in NetSuite's address subrecord UI: only the address row's timestamp moves."""
        body = request.json() or {}
        try:
            with self.state_lock:
                rows = self.sql(
                    "SELECT addressbookaddress FROM customeraddressbook"
                    " WHERE entity = ? AND defaultbilling = 'T'",
                    (int(request.params["key"]),),
                )
                if not rows:
                    raise Problem(404, "NONEXISTENT_ID", "no default billing address")
                values = self._address_values(body, "address")
                values["lastmodifieddate"] = self._tick()
                sets = ", ".join(f"{c} = ?" for c in values)
                self.db.execute(
                    f"UPDATE customeraddressbookentityaddress SET {sets} WHERE nkey = ?",
                    [*values.values(), rows[0]["addressbookaddress"]],
                )
                self.db.commit()
                self._user_event(int(request.params["key"]), "edit")
        except Problem as problem:
            return problem_response(problem.status, problem.code, problem.detail, problem.path)
        return Response(204)

    def user_edit(self, internal_id: int, changes: dict[str, Any], *, inline: bool = False) -> None:
        """A NetSuite user's save of the customer in the UI (record API field names): the
        user event script fires "edit", or "xedit" for an inline edit in a list. Not an API
        call: no latency, no concurrency slot. Raises ValueError when NetSuite would refuse."""
        ui = Request(method="PATCH", path="", query={}, headers={}, body=b"", url="")
        try:
            with self.state_lock:
                internal_id = self._require(str(internal_id))
                self._write(ui, internal_id, changes, replace=False)
                self._user_event(internal_id, "xedit" if inline else "edit")
        except Problem as problem:
            raise ValueError(problem.detail) from None

    def _ui_edit(self, request: Request) -> Response:
        try:
            changes = request.json() or {}
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of the fields to change")
            inline = (request.arg("inline") or "").lower() in ("1", "true")
            self.user_edit(int(request.params["key"]), changes, inline=inline)
        except ValueError as exc:
            return problem_response(400, "USER_ERROR", str(exc))
        return Response(204)

    def _user_event(self, internal_id: int, event_type: str) -> None:
        """Queue the call the syncadmin user event script makes after a customer is saved."""
        self.hooks.notify(
            {
                "recordType": "customer",
                "id": str(internal_id),
                "eventType": event_type,
                "eventId": uuid.uuid4().hex,  # two saves in one second are two calls
            }
        )

    # -- metadata ------------------------------------------------------------------------------
    def _metadata(self, request: Request) -> Response:
        """The metadata catalog of a record: its JSON Schema when asked for with Accept:
        application/schema+json (fields, custom ones marked x-ns-custom-field), else the
        catalog entry with links to its forms."""
        record = request.params["record"]
        if record != "customer":
            raise Problem(404, "NONEXISTENT_ID", f"Record type '{record}' was not found.")
        href = f"{self._base(request)}{RECORD_PATH}/metadata-catalog/customer"
        if "application/schema+json" not in (request.header("Accept") or "").lower():
            links = [
                {"rel": "canonical", "href": href, "mediaType": "application/json"},
                {"rel": "alternate", "href": href, "mediaType": "application/schema+json"},
            ]
            return Response(200, {"name": "customer", "links": links})

        def title(key: str) -> str:
            return FIELD_TITLES.get(key, key)

        properties: dict[str, Any] = {
            "id": {"title": "Internal ID", "type": "string", "nullable": True, "readOnly": True},
            "lastModifiedDate": {
                "title": title("lastModifiedDate"),
                "type": "string",
                "format": "date-time",
                "readOnly": True,
            },
            "dateCreated": {
                "title": title("dateCreated"),
                "type": "string",
                "format": "date-time",
                "readOnly": True,
            },
            "addressBook": {"title": title("addressBook"), "type": "object"},
        }
        for key, (_, limit) in STRING_FIELDS.items():
            properties[key] = {
                "title": title(key),
                "type": "string",
                "maxLength": limit,
                "nullable": True,
            }
        for key in BOOL_FIELDS:
            properties[key] = {"title": title(key), "type": "boolean"}
        for key, (_, table) in REF_FIELDS.items():
            # A reference: an object with the record's id, and a link to the catalog of the
            # record type it points to (NetSuite's JSON Schema $ref).
            properties[key] = {
                "title": title(key),
                "type": "object",
                "properties": {
                    "id": {"title": "Internal identifier", "type": "string"},
                    "refName": {"title": "Reference Name", "type": "string"},
                },
                "$ref": f"{RECORD_PATH}/metadata-catalog/{table}",
                "nullable": True,
            }
        for name in fields.ALL:
            if name not in self.missing_custom_fields:
                checkbox = name in fields.CHECKBOX_FIELDS
                amount = name in fields.CURRENCY_FIELDS
                properties[name] = {
                    "title": name,
                    "type": "boolean" if checkbox else "number" if amount else "string",
                    "nullable": not checkbox,
                    "x-ns-custom-field": True,
                }
                if not (checkbox or amount):
                    properties[name]["maxLength"] = 300
        for name, (label, kind, fmt, limit) in TENANT_CUSTOM_FIELDS.items():
            properties[name] = {
                "title": label,
                "type": kind,
                "nullable": True,
                "x-ns-custom-field": True,
            }
            if fmt:
                properties[name]["format"] = fmt
            if limit:
                properties[name]["maxLength"] = limit
        return Response(
            200,
            {"type": "object", "properties": properties},
            content_type="application/schema+json",
        )

    # -- SuiteQL ---------------------------------------------------------------------------------
    def _suiteql(self, request: Request) -> Response:
        if "transient" not in (request.header("Prefer") or "").lower():
            raise Problem(400, "INVALID_PARAMETER", "The header 'Prefer: transient' is required.")
        limit = self._int_param(request, "limit", MAX_LIMIT)
        offset = self._int_param(request, "offset", 0)
        if not 1 <= limit <= MAX_LIMIT:
            raise Problem(400, "INVALID_PARAMETER", f"limit must be 1..{MAX_LIMIT}.", "limit")
        if offset < 0 or offset % limit:
            raise Problem(400, "INVALID_PARAMETER", "offset must be a multiple of limit.", "offset")
        if offset + limit > self.max_rows:
            raise Problem(
                400,
                "INVALID_PARAMETER",
                f"Paging beyond {self.max_rows} rows is not supported; narrow the query.",
                "offset",
            )
        try:
            body = request.json() or {}
        except ValueError:
            raise Problem(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None
        query = body.get("q") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise Problem(400, "INVALID_CONTENT", 'The body must be {"q": "SELECT ..."}.', "q")
        names, page, total = self._run_suiteql(query, limit=limit, offset=offset)
        items = []
        for row in page:
            item: dict[str, Any] = {"links": []}
            for name, value in zip(names, row, strict=True):
                if value is not None:
                    item[name] = self._suiteql_value(value)
            items.append(item)
        has_more = offset + len(page) < total
        parts = urlsplit(request.url)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}"

        def link(rel: str, at: int) -> dict[str, str]:
            return {"rel": rel, "href": f"{base}?{urlencode({'limit': limit, 'offset': at})}"}

        links = []
        if offset > 0:
            links.append(link("previous", max(0, offset - limit)))
        links.append(link("first", 0))
        if has_more:
            links.append(link("next", offset + limit))
        links.append(link("last", max(0, (total - 1) // limit * limit)))
        links.append(link("self", offset))
        return Response(
            200,
            {
                "links": links,
                "count": len(items),
                "hasMore": has_more,
                "items": items,
                "offset": offset,
                "totalResults": total,
            },
        )

    @staticmethod
    def _int_param(request: Request, name: str, default: int) -> int:
        value = request.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise Problem(400, "INVALID_PARAMETER", f"{name} must be an integer.", name) from None

    @staticmethod
    def _suiteql_value(value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        text = str(value)
        raw = RAW_STAMP_RE.match(text)
        if raw:
            # An un-formatted date column follows the user's date preference (M/D/YYYY).
            year, month, day = raw.groups()
            return f"{int(month)}/{int(day)}/{year}"
        return text

    def _wall_clock(self, stamp: str | None) -> str | None:
        """A stored UTC stamp as the user's wall clock time (TO_CHAR's answer)."""
        if not stamp:
            return None
        moment = datetime.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return moment.astimezone(self.time_zone).strftime("%Y-%m-%d %H:%M:%S")

    def _translate(self, query: str) -> str:
        def to_date(match: re.Match[str]) -> str:
            value, fmt = match.groups()
            if fmt.upper() != DATE_FORMAT:
                raise Problem(400, "INVALID_PARAMETER", f"Unsupported date format '{fmt}'.")
            try:
                local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise Problem(
                    400, "INVALID_PARAMETER", f"'{value}' does not match format '{fmt}'."
                ) from None
            # A literal is the user's wall clock time: compared as the UTC stamp it stands for.
            moment = local.replace(tzinfo=self.time_zone).astimezone(UTC)
            return f"'{moment.strftime('%Y-%m-%d %H:%M:%S')}'"

        def to_char(match: re.Match[str]) -> str:
            column, fmt = match.groups()
            if fmt.upper() == "YYYY-MM-DD":  # a date field's value (dates have no time zone)
                return f"substr({column}, 1, 10)"
            if fmt.upper() != DATE_FORMAT:
                raise Problem(400, "INVALID_PARAMETER", f"Unsupported date format '{fmt}'.")
            if self.time_zone is UTC:
                return f"substr({column}, 1, 19)"
            return f"NS_WALL_CLOCK({column})"

        return TO_CHAR_RE.sub(to_char, TO_DATE_RE.sub(to_date, query))

    def _run_suiteql(
        self, query: str, *, limit: int, offset: int
    ) -> tuple[list[str], list[tuple], int]:
        """(column names, the page's rows, the query's row count). SQLite pages and counts:
        reading every row for each page made a 100,000-row selection quadratic."""
        text = query.strip().rstrip(";").strip()
        if not re.match(r"(?is)^select\b", text):
            raise Problem(400, "INVALID_PARAMETER", "Only SELECT queries are supported.", "q")
        sql = self._translate(text)

        def authorize(action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
            if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION):
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_READ and arg1 in TABLES:
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY

        with self.state_lock:
            self.db.set_authorizer(authorize)
            try:
                cursor = self.db.execute(f"{sql} LIMIT ? OFFSET ?", (limit, offset))
                rows = cursor.fetchall()
                described = [d[0] for d in cursor.description or []]
                if rows and len(rows) < limit:
                    total = offset + len(rows)
                else:
                    # Counted once per query while the data stays the same (the pages of one
                    # selection), not once per page.
                    version = self.db.total_changes
                    known = self._counts.get(sql)
                    if known is not None and known[0] == version:
                        total = known[1]
                    else:
                        total = self.db.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0]
                        if len(self._counts) > 100:
                            self._counts.clear()
                        self._counts[sql] = (version, total)
            except (sqlite3.Error, sqlite3.Warning) as exc:
                message = str(exc)
                found = re.match(r"no such (table|column): (\S+)", message)
                if found:
                    what = "Record" if found.group(1) == "table" else "Field"
                    message = f"{what} '{found.group(2)}' was not found."
                raise Problem(
                    400,
                    "INVALID_PARAMETER",
                    "Invalid search query. Detailed unprocessed description follows. "
                    f"Search error occurred: {message}",
                    "q",
                ) from None
            finally:
                self.db.set_authorizer(None)
        names = [
            name.lower() if re.fullmatch(r"[A-Za-z_]\w*", name) else f"expr{index + 1}"
            for index, name in enumerate(described)
        ]
        return names, rows, total

    # -- record API ------------------------------------------------------------------------------
    def _resolve(self, key: str) -> int | None:
        if key.startswith("eid:"):
            rows = self.db.execute(
                "SELECT id FROM customer WHERE externalid = ?", (key[4:],)
            ).fetchall()
        elif key.isdigit():
            rows = self.db.execute("SELECT id FROM customer WHERE id = ?", (int(key),)).fetchall()
        else:
            rows = []
        return int(rows[0][0]) if rows else None

    def _require(self, key: str) -> int:
        internal_id = self._resolve(key)
        if internal_id is None:
            raise Problem(
                404,
                "NONEXISTENT_ID",
                f"The record instance does not exist. Provide a valid record instance ID ({key}).",
                "id",
            )
        return internal_id

    def _base(self, request: Request) -> str:
        parts = urlsplit(request.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _record(self, internal_id: int, expand: bool, base: str) -> dict[str, Any]:
        row = self.sql("SELECT * FROM customer WHERE id = ?", (internal_id,))[0]
        href = f"{base}{RECORD_PATH}/customer/{internal_id}"
        record: dict[str, Any] = {"links": [{"rel": "self", "href": href}], "id": str(row["id"])}
        for key, (column, _) in STRING_FIELDS.items():
            if row[column] is not None:
                record[key] = row[column]
        for key, column in BOOL_FIELDS.items():
            record[key] = row[column] == "T"
        for key, (column, table) in REF_FIELDS.items():
            if row[column] is not None:
                record[key] = {
                    "id": str(row[column]),
                    "refName": self._ref_name(table, row[column]),
                }
        record["entityStatus"] = {"id": "13", "refName": "CUSTOMER-Closed Won"}
        for name in TENANT_CUSTOM_FIELDS:
            if row.get(name) is not None:
                record[name] = row[name]
        for name in fields.ALL:
            if name not in row:
                continue  # a custom field this account lacks
            if name in fields.CHECKBOX_FIELDS:
                record[name] = row[name] == "T"
            elif name in fields.CURRENCY_FIELDS and row[name] is not None:
                record[name] = float(row[name])
            elif row[name] is not None:
                record[name] = row[name]
        record["dateCreated"] = _iso(row["datecreated"])
        record["lastModifiedDate"] = _iso(row["lastmodifieddate"])
        if expand:
            items = []
            for line in self._lines(internal_id):
                address = {
                    key: line[column]
                    for key, (column, _) in ADDRESS_FIELDS.items()
                    if line[column] is not None
                }
                item = {
                    "links": [],
                    "id": line["internalid"],
                    "internalId": line["internalid"],
                    "defaultBilling": line["defaultbilling"] == "T",
                    "defaultShipping": line["defaultshipping"] == "T",
                    "addressBookAddress": {"links": [], **address},
                }
                if line["label"] is not None:
                    item["label"] = line["label"]
                items.append(item)
            record["addressBook"] = {
                "links": [{"rel": "self", "href": f"{href}/addressBook"}],
                "items": items,
            }
        return record

    def _ref_name(self, table: str, ref_id: int) -> str:
        if table == "customer":
            row = self.db.execute(
                "SELECT entityid, companyname, firstname, lastname FROM customer WHERE id = ?",
                (ref_id,),
            ).fetchone()
            if row is None:
                return ""
            name = row[1] or " ".join(p for p in (row[2], row[3]) if p)
            return f"{row[0]} {name}".strip()
        column = "fullname" if table == "subsidiary" else "name"
        row = self.db.execute(f"SELECT {column} FROM {table} WHERE id = ?", (ref_id,)).fetchone()
        return row[0] if row else ""

    def _lines(self, internal_id: int) -> list[dict[str, Any]]:
        return self.sql(
            "SELECT ab.internalid, ab.label, ab.defaultbilling, ab.defaultshipping,"
            " ab.addressbookaddress, a.* FROM customeraddressbook ab"
            " JOIN customeraddressbookentityaddress a ON a.nkey = ab.addressbookaddress"
            " WHERE ab.entity = ? ORDER BY ab.internalid",
            (internal_id,),
        )

    def _get(self, request: Request) -> Response:
        expand = (request.arg("expandSubResources") or "").lower() == "true"
        with self.state_lock:
            internal_id = self._require(request.params["key"])
            return Response(200, self._record(internal_id, expand, self._base(request)))

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise Problem(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise Problem(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        return body

    def _created(self, request: Request, internal_id: int) -> Response:
        location = f"{self._base(request)}{RECORD_PATH}/customer/{internal_id}"
        return Response(204, None, {"Location": location})

    def _create(self, request: Request) -> Response:
        body = self._body(request)
        with self.state_lock:
            internal_id = self._write(request, None, body, replace=True)
            self._user_event(internal_id, "create")
        return self._created(request, internal_id)

    def _patch(self, request: Request) -> Response:
        body = self._body(request)
        replace = "addressbook" in (request.arg("replace") or "").lower().split(",")
        with self.state_lock:
            internal_id = self._require(request.params["key"])
            self._write(request, internal_id, body, replace=replace)
            self._user_event(internal_id, "edit")
        return Response(204)

    def _put(self, request: Request) -> Response:
        key = request.params["key"]
        if not key.startswith("eid:"):
            raise Problem(
                400, "INVALID_PARAMETER", "PUT (upsert) needs an external id: /customer/eid:X."
            )
        external_id = key[4:]
        if not EXTERNAL_ID_RE.match(external_id):
            raise Problem(400, "INVALID_CONTENT", "Invalid external id.", "externalId")
        body = self._body(request)
        if body.get("externalId", external_id) != external_id:
            raise Problem(
                400,
                "INVALID_CONTENT",
                "externalId in the body differs from the one in the URL.",
                "externalId",
            )
        body = {**body, "externalId": external_id}
        replace = "addressbook" in (request.arg("replace") or "").lower().split(",")
        with self.state_lock:
            existing = self._resolve(key)
            internal_id = self._write(request, existing, body, replace=replace)
            self._user_event(internal_id, "create" if existing is None else "edit")
        return self._created(request, internal_id)

    # -- validation and writes -------------------------------------------------------------------
    @staticmethod
    def _string(value: Any, path: str, limit: int) -> str:
        if not isinstance(value, str):
            raise Problem(400, "INVALID_CONTENT", f"Invalid value type for {path}.", path)
        if len(value) > limit:
            raise Problem(
                400,
                "USER_ERROR",
                f"Invalid value for {path}: the value exceeds {limit} characters.",
                path,
            )
        return value

    def _address_values(self, address: Any, path: str) -> dict[str, Any]:
        if not isinstance(address, dict):
            raise Problem(400, "INVALID_CONTENT", "addressBookAddress must be an object.", path)
        values: dict[str, Any] = {}
        for key, value in address.items():
            if key in ("links", "addrText"):
                continue
            if key not in ADDRESS_FIELDS:
                raise Problem(400, "INVALID_CONTENT", f"Unknown field '{key}'.", f"{path}.{key}")
            column, limit = ADDRESS_FIELDS[key]
            if value is None:
                values[column] = None
                continue
            if key == "country":
                if isinstance(value, dict):
                    value = value.get("id")
                if not isinstance(value, str) or not COUNTRY_RE.match(value):
                    raise Problem(
                        400,
                        "INVALID_CONTENT",
                        f"Invalid country '{value}': use an ISO 3166 two-letter code.",
                        f"{path}.country",
                    )
            values[column] = self._string(value, f"{path}.{key}", limit)
        return values

    def _write(
        self, request: Request, internal_id: int | None, body: dict[str, Any], *, replace: bool
    ) -> int:
        """Validate everything first, then write the customer and its address book."""
        strict = (request.header("X-NetSuite-PropertyNameValidation") or "Error").lower()
        values: dict[str, Any] = {}
        address_book: Any = None
        for key, value in body.items():
            if key in READ_ONLY:
                continue
            if key == "addressBook":
                address_book = value
            elif key in STRING_FIELDS:
                column, limit = STRING_FIELDS[key]
                values[column] = None if value is None else self._string(value, key, limit)
            elif key in BOOL_FIELDS:
                if value is not None and not isinstance(value, bool):
                    raise Problem(400, "INVALID_CONTENT", f"{key} must be a boolean.", key)
                values[BOOL_FIELDS[key]] = "T" if value else "F"
            elif key in REF_FIELDS:
                values[REF_FIELDS[key][0]] = self._reference(key, value)
            elif key in self.missing_custom_fields:
                if strict == "error":
                    raise Problem(400, "INVALID_CONTENT", f"Unknown field '{key}'.", key)
            elif key in fields.CHECKBOX_FIELDS:
                if value is not None and not isinstance(value, bool):
                    raise Problem(400, "INVALID_CONTENT", f"{key} must be a boolean.", key)
                values[key] = "T" if value else "F"
            elif key in fields.CURRENCY_FIELDS:
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise Problem(400, "INVALID_CONTENT", f"{key} must be a number.", key)
                values[key] = None if value is None else f"{value:.2f}"
            elif key in fields.TEXT_FIELDS:
                values[key] = None if value is None else self._string(str(value), key, 300)
            elif key in TENANT_CUSTOM_FIELDS:
                values[key] = None if value is None else self._tenant_custom(key, value)
            elif strict == "error":
                raise Problem(400, "INVALID_CONTENT", f"Unknown field '{key}'.", key)
        current = (
            self.sql("SELECT * FROM customer WHERE id = ?", (internal_id,))[0]
            if internal_id is not None
            else {}
        )
        merged = {**current, **values}
        email = merged.get("email")
        if values.get("email") is not None and not EMAIL_RE.match(email or ""):
            raise Problem(400, "INVALID_CONTENT", f"Invalid email address: {email}", "email")
        external_id = values.get("externalid")
        if external_id is not None:
            if not EXTERNAL_ID_RE.match(external_id):
                raise Problem(
                    400,
                    "INVALID_CONTENT",
                    "External ids may contain only letters, digits, '_' and '-'.",
                    "externalId",
                )
            clash = self._resolve(f"eid:{external_id}")
            if clash is not None and clash != internal_id:
                raise Problem(
                    400,
                    "USER_ERROR",
                    f"A record with external id {external_id} already exists.",
                    "externalId",
                )
        if self.one_world and merged.get("subsidiary") is None:
            raise Problem(400, "USER_ERROR", "Please enter value(s) for: Subsidiary", "subsidiary")
        if not self.one_world and merged.get("subsidiary") is None:
            merged["subsidiary"] = 1
        if merged.get("currency") is None:
            merged["currency"] = 1
        elif not self.multi_currency and merged["currency"] != 1:
            raise Problem(400, "USER_ERROR", "Multiple currencies are not enabled.", "currency")
        if merged.get("isperson", "F") != "T" and not merged.get("companyname"):
            raise Problem(
                400, "USER_ERROR", "Please enter value(s) for: Company Name", "companyName"
            )
        parent = merged.get("parent")
        if parent is not None and internal_id is not None:
            seen, cursor = set(), parent
            while cursor is not None and cursor not in seen:
                if cursor == internal_id:
                    raise Problem(
                        400, "USER_ERROR", "A customer cannot be its own ancestor.", "parent"
                    )
                seen.add(cursor)
                row = self.db.execute(
                    "SELECT parent FROM customer WHERE id = ?", (cursor,)
                ).fetchone()
                cursor = row[0] if row else None
        entity_id = merged.get("entityid")
        if entity_id:
            clash = self.db.execute(
                "SELECT id FROM customer WHERE entityid = ? AND id IS NOT ?",
                (entity_id, internal_id),
            ).fetchone()
            if clash:
                raise Problem(
                    400,
                    "USER_ERROR",
                    "This entity ID is already used by another customer; choose another.",
                    "entityId",
                )
        plan = self._plan_address_book(internal_id, address_book, replace)

        stamp = self._tick()
        merged["lastmodifieddate"] = stamp
        if internal_id is None:
            merged["datecreated"] = stamp
            merged.setdefault("isperson", "F")
            merged.setdefault("isinactive", "F")
            merged.pop("id", None)
            internal_id = self._insert("customer", merged)
        else:
            merged.pop("id", None)
            sets = ", ".join(f"{c} = ?" for c in merged)
            self.db.execute(
                f"UPDATE customer SET {sets} WHERE id = ?", [*merged.values(), internal_id]
            )
        if not merged.get("entityid"):
            self.db.execute(
                "UPDATE customer SET entityid = ? WHERE id = ?",
                (self._next_entity_id(), internal_id),
            )
        self._apply_address_book(internal_id, plan, stamp)
        self.db.commit()
        return internal_id

    @staticmethod
    def _iso_date(value: str, path: str) -> None:
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise Problem(
                400, "INVALID_CONTENT", f"Invalid date value for {path}: {value}", path
            ) from None

    def _next_entity_id(self) -> str:
        while True:
            candidate = f"CUS-{self._next_entity_number:06d}"
            self._next_entity_number += 1
            taken = self.db.execute(
                "SELECT 1 FROM customer WHERE entityid = ?", (candidate,)
            ).fetchone()
            if not taken:
                return candidate

    def _tenant_custom(self, key: str, value: Any) -> str:
        _, _, kind, limit = TENANT_CUSTOM_FIELDS[key]
        if kind == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise Problem(
                    400, "INVALID_CONTENT", f"Invalid date value for {key}: use YYYY-MM-DD.", key
                )
            return value
        return self._string(str(value), key, limit or 300)

    def _reference(self, key: str, value: Any) -> int | None:
        if value is None:
            return None
        column, table = REF_FIELDS[key]
        ref = value.get("id") if isinstance(value, dict) else None
        if ref is None or not str(ref).isdigit():
            raise Problem(
                400, "INVALID_CONTENT", f'Invalid reference for {key}: use {{"id": ...}}.', key
            )
        found = self.db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (int(ref),)).fetchone()
        if not found:
            raise Problem(
                400,
                "INVALID_CONTENT",
                f"Invalid {key} reference key {ref}.",
                key,
            )
        return int(ref)

    def _plan_address_book(
        self, internal_id: int | None, address_book: Any, replace: bool
    ) -> list[dict[str, Any]] | None:
        """The address lines after this write (validated), or None when untouched."""
        if address_book is None:
            return None
        items = address_book.get("items") if isinstance(address_book, dict) else None
        if not isinstance(items, list):
            raise Problem(
                400, "INVALID_CONTENT", 'addressBook must be {"items": [...]}.', "addressBook"
            )
        existing = {
            line["internalid"]: line
            for line in (self._lines(internal_id) if internal_id is not None else [])
        }
        result: dict[Any, dict[str, Any]] = (
            {}
            if replace
            else {
                key: {"line": line, "values": {}, "changed": False}
                for key, line in existing.items()
            }
        )
        for index, item in enumerate(items):
            path = f"addressBook.items[{index}]"
            if not isinstance(item, dict):
                raise Problem(400, "INVALID_CONTENT", "Address lines must be objects.", path)
            unknown = set(item) - LINE_FIELDS - {"links"}
            if unknown:
                name = sorted(unknown)[0]
                raise Problem(400, "INVALID_CONTENT", f"Unknown field '{name}'.", f"{path}.{name}")
            for flag in ("defaultBilling", "defaultShipping"):
                if flag in item and not isinstance(item[flag], bool):
                    raise Problem(
                        400, "INVALID_CONTENT", f"{flag} must be a boolean.", f"{path}.{flag}"
                    )
            label = item.get("label")
            if label is not None:
                self._string(label, f"{path}.label", 50)
            values = self._address_values(
                item.get("addressBookAddress", {}), f"{path}.addressBookAddress"
            )
            sent_keys = {item[k] for k in ("id", "internalId") if item.get(k) is not None}
            if len({str(k) for k in sent_keys}) > 1:
                raise Problem(
                    400, "INVALID_CONTENT", "id and internalId name different lines.", f"{path}.id"
                )
            key = next(iter(sent_keys), None)
            if key is not None:
                shown = key
                try:
                    key = int(key)
                except (TypeError, ValueError):
                    key = None
                if key not in existing:
                    raise Problem(
                        400,
                        "INVALID_CONTENT",
                        f"Address book line {shown} does not exist.",
                        f"{path}.id",
                    )
                if key in result and result[key].get("item") is not None:
                    raise Problem(
                        400, "INVALID_CONTENT", f"Address book line {shown} is sent twice.", path
                    )
                line = existing[key]
            else:
                key, line = ("new", index), None
            result[key] = {"line": line, "values": values, "item": item, "changed": True}
        for flag, column in (
            ("defaultBilling", "defaultbilling"),
            ("defaultShipping", "defaultshipping"),
        ):
            # One default billing and one default shipping line at most: a line sent as the
            # default takes the flag from the others.
            chosen = [k for k, e in result.items() if e.get("item", {}).get(flag) is True]
            for key, entry in result.items():
                if chosen and key != chosen[-1]:
                    entry[column] = "F"
                elif chosen:
                    entry[column] = "T"
                elif "item" in entry and flag in entry["item"]:
                    entry[column] = "F"
        return list(result.values())

    def _apply_address_book(
        self, internal_id: int, plan: list[dict[str, Any]] | None, stamp: str
    ) -> None:
        if plan is None:
            return
        keep: set[int] = set()
        for entry in plan:
            line, values, item = entry["line"], entry["values"], entry.get("item", {})
            if line is None:
                nkey = self._insert(
                    "customeraddressbookentityaddress", {**values, "lastmodifieddate": stamp}
                )
                book = self._insert(
                    "customeraddressbook",
                    {
                        "entity": internal_id,
                        "label": item.get("label"),
                        "defaultbilling": entry.get("defaultbilling", "F"),
                        "defaultshipping": entry.get("defaultshipping", "F"),
                        "addressbookaddress": nkey,
                    },
                )
                keep.add(book)
                continue
            keep.add(line["internalid"])
            changed = {c: v for c, v in values.items() if line.get(c) != v}
            if changed:
                changed["lastmodifieddate"] = stamp
                sets = ", ".join(f"{c} = ?" for c in changed)
                self.db.execute(
                    f"UPDATE customeraddressbookentityaddress SET {sets} WHERE nkey = ?",
                    [*changed.values(), line["addressbookaddress"]],
                )
            book_values = {
                "label": item["label"] if "label" in item else line["label"],
                "defaultbilling": entry.get("defaultbilling", line["defaultbilling"]),
                "defaultshipping": entry.get("defaultshipping", line["defaultshipping"]),
            }
            self.db.execute(
                "UPDATE customeraddressbook SET label = ?, defaultbilling = ?,"
                " defaultshipping = ? WHERE internalid = ?",
                [*book_values.values(), line["internalid"]],
            )
        for line in self._lines(internal_id):
            if line["internalid"] not in keep:
                self.db.execute(
                    "DELETE FROM customeraddressbook WHERE internalid = ?", (line["internalid"],)
                )
                self.db.execute(
                    "DELETE FROM customeraddressbookentityaddress WHERE nkey = ?",
                    (line["addressbookaddress"],),
                )
