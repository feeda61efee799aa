"""NetSuite SuiteTalk REST client: the customer record API and SuiteQL, nothing more."""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import AuthBase

from connectors.http import (
    NO_AUTH,
    ApiError,
    CircuitBreaker,
    HttpTransport,
    RunAborted,
    expect_json,
    json_problem,
)
from connectors.netsuite import fields
from connectors.netsuite.auth import TOKEN_PATH, OAuth2TokenSource, tba_auth
from connectors.netsuite.errors import NetSuiteAuthError, NetSuiteError, check

logger = logging.getLogger(__name__)

RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
MAX_PAGE = 1000
MAX_ROWS_PER_QUERY = 100_000
DATE_FORMAT = "YYYY-MM-DD HH24:MI:SS"

CUSTOMER_COLUMNS = (
    ("id", "id"),
    ("entityid", "entityId"),
    ("companyname", "companyName"),
    ("isperson", "isPerson"),
    ("firstname", "firstName"),
    ("lastname", "lastName"),
    ("email", "email"),
    ("phone", "phone"),
    ("fax", "fax"),
    ("comments", "comments"),
    ("externalid", "externalId"),
    ("isinactive", "isInactive"),
)
REFERENCE_COLUMNS = (
    ("currency", "currency"),
    ("terms", "terms"),
    ("parent", "parent"),
    ("subsidiary", "subsidiary"),
)
BOOLEAN_KEYS = {"isPerson", "isInactive"}
ADDRESS_COLUMNS = (
    ("addressee", "addressee"),
    ("attention", "attention"),
    ("addr1", "addr1"),
    ("addr2", "addr2"),
    ("city", "city"),
    ("state", "state"),
    ("zip", "zip"),
    ("country", "country"),
    ("addrphone", "addrPhone"),
)


# The reference lists the sync reads (by name, so a check can run the very same SQL).
CURRENCY_QUERY = "SELECT id, symbol, name FROM currency ORDER BY id"
SUBSIDIARY_QUERY = "SELECT id, name, fullname FROM subsidiary ORDER BY id"
TERM_QUERY = "SELECT id, name FROM term ORDER BY id"
# NetSuite's own clock, as its stamps read: the newest change to any customer is a time at or
# before NetSuite's "now", in the same wall clock as every other SuiteQL date.
NEWEST_CHANGE_QUERY = (
    f"SELECT MAX(TO_CHAR(lastmodifieddate, '{DATE_FORMAT}')) AS newest FROM customer"
)


# What each answer must hold to be usable: anything else is a garbled answer (BadAnswer).
_TOKEN = expect_json(dict, ids=("access_token",))
_RECORD = expect_json(dict, ids=("id",))


def _schema(response: requests.Response) -> str | None:
    body, problem = json_problem(response, dict)
    if problem is None and not isinstance(body.get("properties"), dict):
        problem = "no 'properties' object in the record's schema"
    return problem


def _rows(response: requests.Response) -> str | None:
    body, problem = json_problem(response, dict)
    if problem is not None:
        return problem
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return "no list of rows under 'items'"
    if not isinstance(body.get("hasMore", False), bool):
        return "'hasMore' is not true or false"
    return None


def _written(response: requests.Response) -> str | None:
    """The record API answers a write with 204 No Content (and nothing else)."""
    if response.status_code != 204:
        return "a record write answers 204 No Content"
    return None


def _written_with_id(response: requests.Response) -> str | None:
    """A create or upsert also names the record in Location (…/customer/123)."""
    problem = _written(response)
    if problem is None and not _location_id(response).isdigit():
        problem = "no record id in Location"
    return problem


def _location_id(response: requests.Response) -> str:
    return (response.headers.get("Location") or "").rstrip("/").rsplit("/", 1)[-1]


def _may_not_have_landed(error: ApiError) -> bool:
    # 429 and 503 are refusals: NetSuite did not process the request. Anything else (no
    # answer, a garbled one) may follow a create that landed, and a second try would make
    # a second customer.
    return error.status in (429, 503)


def default_base_url(account_id: str) -> str:
    slug = account_id.strip().lower().replace("_", "-")
    return f"https://{slug}.suitetalk.api.netsuite.com"


@dataclass(frozen=True)
class NetSuiteCredentials:
    account_id: str
    base_url: str | None = None
    auth_method: str = "tba"  # "tba" | "oauth2"
    consumer_key: str = ""
    consumer_secret: str = field(default="", repr=False)
    token_id: str = ""
    token_secret: str = field(default="", repr=False)
    client_id: str = ""
    certificate_id: str = ""
    private_key_pem: str = field(default="", repr=False)
    algorithm: str = "PS256"

    @property
    def url(self) -> str:
        return (self.base_url or default_base_url(self.account_id)).rstrip("/")


# SuiteQL gives dates as the integration user's wall clock time (their time zone preference)
# with no offset, and reads TO_DATE literals the same way. This client labels those times UTC:
# they compare with each other and go back into queries unchanged (to_suiteql_date), but they
# are not instants, so they are never compared with our clock or with Zuora's times.
def suiteql_time(text: str) -> datetime:
    """A SuiteQL 'YYYY-MM-DD HH24:MI:SS' text on NetSuite's clock (see above)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def to_suiteql_date(moment: datetime) -> str:
    """TO_DATE(...) literal for a time on NetSuite's clock (see suiteql_time), second
    resolution (floor)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TO_DATE('{text}', '{DATE_FORMAT}')"


def _iso(text: str | None) -> str | None:
    # SuiteQL TO_CHAR text "2024-01-15 10:30:00" -> the record API's "2024-01-15T10:30:00Z"
    # shape, still on NetSuite's clock (see suiteql_time).
    return f"{text.replace(' ', 'T')}Z" if text else None


def _amount(text: Any) -> float | None:
    """A SuiteQL currency value ("1234.5") as the record API's number; None when unreadable."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _quote_ids(ids: list[str]) -> str:
    # Ids come from NetSuite itself, but they are spliced into SQL, so only digits pass.
    clean = [str(int(i)) for i in ids]
    return ", ".join(clean)


_COLUMN = re.compile(r"[a-z][a-z0-9_]*")


@lru_cache(maxsize=32)
def extra_customer_columns(names: tuple[str, ...]) -> dict[str, str]:
    """SuiteQL column -> REST field name for customer fields the sync does not read by itself
    (the fields of added mappings: "custentity_region", "fax", "category"). A name that is not
    a plain identifier is left out: it would be spliced into SQL."""
    read = {c for c, _ in CUSTOMER_COLUMNS + REFERENCE_COLUMNS} | set(fields.ALL)
    columns: dict[str, str] = {}
    for name in names:
        column = name.lower()
        if _COLUMN.fullmatch(column) and column not in read:
            columns[column] = name
    return columns


# SuiteQL answers a date in the user's own date format ("1/15/2027"): a date or date-time
# column of an added mapping is selected in one unambiguous format instead.
DATE_ONLY_FORMAT = "YYYY-MM-DD"


def customer_selection_query(
    since: datetime,
    extra_where: str = "",
    extra_columns: Iterable[str] = (),
    formats: Mapping[str, str] | None = None,
) -> str:
    """The SuiteQL that selects customers changed since `since` (every column the sync reads,
    the custom fields it reads included, and `extra_columns`), oldest change first. `formats`
    gives a TO_CHAR format for extra date columns, by field name."""
    formats = formats or {}
    extra = [
        f"TO_CHAR({column}, '{formats[name]}') AS {column}" if name in formats else column
        for column, name in extra_customer_columns(tuple(extra_columns)).items()
    ]
    read = [name for name in fields.ALL if name not in fields.ZUORA_TO_NETSUITE_ONLY]
    custom = ", ".join([*read, *extra])
    columns = ", ".join(c for c, _ in CUSTOMER_COLUMNS + REFERENCE_COLUMNS)
    where = f"lastmodifieddate >= {to_suiteql_date(since)}"
    if extra_where:
        where += f" AND ({extra_where})"
    return (
        f"SELECT {columns}, {custom}, "
        f"TO_CHAR(lastmodifieddate, '{DATE_FORMAT}') AS lastmodified, "
        f"TO_CHAR(datecreated, '{DATE_FORMAT}') AS created "
        f"FROM customer WHERE {where} ORDER BY lastmodifieddate, id"
    )


def address_book_query(customer_ids: list[str]) -> str:
    """The SuiteQL that reads these customers' address book lines."""
    return (
        "SELECT ab.entity, ab.internalid, ab.label, ab.defaultbilling, ab.defaultshipping, "
        + ", ".join(f"a.{c}" for c, _ in ADDRESS_COLUMNS)
        + " FROM customeraddressbook ab JOIN customeraddressbookentityaddress a"
        " ON a.nkey = ab.addressbookaddress"
        f" WHERE ab.entity IN ({_quote_ids(list(customer_ids))})"
        " ORDER BY ab.entity, ab.internalid"
    )


def address_change_query(since: datetime, after: int = 0) -> str:
    """The SuiteQL that finds customers (ids above `after`) with an address line changed
    since `since`, with the newest change of each."""
    return (
        "SELECT ab.entity,"
        f" MAX(TO_CHAR(a.lastmodifieddate, '{DATE_FORMAT}')) AS changed"
        " FROM customeraddressbook ab"
        " JOIN customeraddressbookentityaddress a ON a.nkey = ab.addressbookaddress"
        f" WHERE a.lastmodifieddate >= {to_suiteql_date(since)} AND ab.entity > {int(after)}"
        " GROUP BY ab.entity ORDER BY ab.entity"
    )


class NetSuiteClient:
    """A thread-safe SuiteTalk REST client. Calls are counted by kind: token, query, read,
    write (see calls_by_kind()). `pool_size` is the number of calls made at once: the
    connection's configured concurrency (5 on NetSuite's standard tier)."""

    # Customer fields read with every customer beyond the sync's own (REST names): the fields of
    # the run's added mappings. Still one query: they are columns of the same SELECT.
    extra_customer_fields: tuple[str, ...] = ()
    # Those among them that are dates, with the TO_CHAR format to read them in
    # (DATE_ONLY_FORMAT, or DATE_FORMAT for a date and time).
    extra_customer_formats: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        credentials: NetSuiteCredentials,
        *,
        timeout: float = 30,
        max_attempts: int | None = None,
        retry_budget: float = 90,
        on_throttle: Callable[[float | None], None] | None = None,
        backoff_base: float = 0.5,
        pool_size: int = 5,
        max_rows_per_query: int = MAX_ROWS_PER_QUERY,
        gate: AbstractContextManager[Any] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.credentials = credentials
        self.max_rows_per_query = max_rows_per_query
        self._tokens: OAuth2TokenSource | None = None
        method = credentials.auth_method.lower()
        if method == "tba":
            auth: AuthBase = tba_auth(
                credentials.account_id,
                credentials.consumer_key,
                credentials.consumer_secret,
                credentials.token_id,
                credentials.token_secret,
            )
        elif method == "oauth2":
            auth = self._tokens = OAuth2TokenSource(
                client_id=credentials.client_id,
                certificate_id=credentials.certificate_id,
                private_key_pem=credentials.private_key_pem,
                token_url=f"{credentials.url}{TOKEN_PATH}",
                algorithm=credentials.algorithm,
                fetch=self._fetch_token,
            )
        else:
            raise ValueError(f"unknown NetSuite auth method {credentials.auth_method!r}")
        self.transport = HttpTransport(
            base_url=credentials.url,
            name="NetSuite",
            timeout=timeout,
            max_attempts=max_attempts,
            retry_budget=retry_budget,
            backoff_base=backoff_base,
            pool_size=pool_size,
            user_agent="syncadmin-netsuite",
            auth=auth,
            on_throttle=on_throttle,
            gate=gate,
            breaker=breaker,
        )

    def __repr__(self) -> str:
        return (
            f"<NetSuiteClient account={self.credentials.account_id} "
            f"auth={self.credentials.auth_method} url={self.credentials.url}>"
        )

    def calls_by_kind(self) -> dict[str, int]:
        return self.transport.calls_by_kind()

    # -- plumbing ------------------------------------------------------------------------------
    def _fetch_token(self, form: dict[str, str]) -> dict[str, Any]:
        response = self.transport.request(
            "POST", TOKEN_PATH, kind="token", check=check, data=form, expect=_TOKEN, auth=NO_AUTH
        )
        return response.json()

    def _call(self, method: str, path: str, *, kind: str, **kwargs: Any) -> Any:
        for again in (False, True):
            try:
                return self.transport.request(method, path, kind=kind, check=check, **kwargs)
            except NetSuiteAuthError as error:
                if error.retryable:
                    raise  # the token endpoint is throttled or out, not refusing
                if again or self._tokens is None:  # a signature refused is refused again
                    raise self._refused(error) from error
                # A cached token the server no longer honours (revoked, clock skew): one
                # fresh grant, one more try; a second refusal is real.
                self._tokens.invalidate()
        raise AssertionError("unreachable")

    def _refused(self, error: NetSuiteError) -> RunAborted:
        """Refused credentials stop the run: every other call would be refused as well."""
        if self._tokens is None:
            what = "the consumer key and secret and the token id and secret"
        else:
            what = "the client id, the certificate id and the private key"
        return self.transport.breaker.open(
            RunAborted(
                f"NetSuite refused the credentials for account {self.credentials.account_id} "
                f"at {self.credentials.url} ({error.code}): check {what} of the NetSuite "
                "connection, and that its role may still use web services, then run again.",
                code="CREDENTIALS_REFUSED",
                retryable=False,
                status=error.status,
            )
        )

    # -- SuiteQL -------------------------------------------------------------------------------
    def _page(self, query: str, limit: int, offset: int) -> dict[str, Any]:
        response = self._call(
            "POST",
            SUITEQL,
            kind="query",
            params={"limit": limit, "offset": offset},
            json={"q": query},
            headers={"Prefer": "transient"},
            expect=_rows,
        )
        return response.json()

    def _pages(
        self, query: str, page_size: int, *, stop_at_cap: bool = False, parallel: int = 1
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Pages of (items, more) where `more` means rows remain past this page. With
        stop_at_cap the last page before the row cap ends the iteration with more=True.

        With `parallel` above one, the pages after the first are read that many at once (the
        first answer's totalResults says how many there are), still yielded in order: a
        selection of 100,000 rows is 100 pages, and one after the other they cost seconds."""
        # A page never reaches past the row cap, so the first page of a query is always legal.
        limit = max(1, min(MAX_PAGE, page_size, self.max_rows_per_query))
        body = self._page(query, limit, 0)
        offset = 0
        pool: ThreadPoolExecutor | None = None
        ahead: deque[Future[dict[str, Any]]] = deque()
        readable = 0  # offsets below this are read ahead
        total = body.get("totalResults")
        if parallel > 1 and isinstance(total, int):
            # Offsets a page may start at: rows that exist, and pages within the row cap.
            readable = min(total, self.max_rows_per_query - limit + 1)
        next_ahead = limit
        try:
            while True:
                items = [
                    {k: v for k, v in item.items() if k != "links"}
                    for item in body.get("items", [])
                ]
                more = bool(body.get("hasMore"))
                offset += limit
                capped = more and offset + limit > self.max_rows_per_query
                if capped and not stop_at_cap:
                    yield items, False
                    raise NetSuiteError(
                        f"SuiteQL query has more than {self.max_rows_per_query} rows; "
                        "narrow it or re-window it",
                        retryable=False,
                        code="ROW_CAP",
                    )
                yield items, more
                if not more or capped:
                    return
                if offset < readable:
                    if pool is None:
                        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="pages")
                    while next_ahead < readable and len(ahead) < parallel:
                        ahead.append(pool.submit(self._page, query, limit, next_ahead))
                        next_ahead += limit
                    body = ahead.popleft().result()
                else:
                    body = self._page(query, limit, offset)
        finally:
            if pool is not None:
                for future in ahead:
                    future.cancel()
                pool.shutdown(wait=True)

    def suiteql(self, query: str, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Rows of a SuiteQL query, every page (values are strings; null columns absent).
        The query needs a unique ORDER BY, or rows repeat or vanish between pages."""
        for items, _ in self._pages(query, page_size):
            yield from items

    def suiteql_first_page(
        self, query: str, *, page_size: int = 1000
    ) -> tuple[list[dict[str, Any]], bool]:
        """The first page of a SuiteQL query's rows, and whether more rows follow it."""
        for items, more in self._pages(query, page_size):
            return items, more
        return [], False

    def iter_customers_changed_since(
        self,
        since: datetime,
        *,
        extra_where: str = "",
        page_size: int = 1000,
        address_books: bool = True,
        parallel: int = 1,
    ) -> Iterator[dict[str, Any]]:
        """Customers whose lastmodifieddate >= since, oldest first, in the record API's shape
        (with addressBook, read by a second query per page, unless `address_books` is False),
        pages read `parallel` at once. Past the per-query row cap the query restarts at the
        last timestamp seen, skipping the ids it already yielded at that timestamp."""
        window_start = since
        seen_at_last: set[str] = set()
        last_stamp: str | None = None
        while True:
            query = customer_selection_query(
                window_start,
                extra_where,
                self.extra_customer_fields,
                self.extra_customer_formats,
            )
            progressed = False
            capped = False
            pages = self._pages(query, page_size, stop_at_cap=True, parallel=parallel)
            for items, more in pages:
                fresh = []
                for row in items:
                    stamp = row.get("lastmodified")
                    if stamp == last_stamp and row["id"] in seen_at_last:
                        continue  # already yielded by the previous window
                    if stamp != last_stamp:
                        last_stamp, seen_at_last = stamp, set()
                    seen_at_last.add(row["id"])
                    fresh.append(row)
                if fresh:
                    progressed = True
                    if address_books:
                        yield from self._with_address_books(fresh)
                    else:
                        for row in fresh:
                            record = self._customer_from_row(row)
                            del record["addressBook"]
                            yield record
                capped = more
            if not capped:
                return
            if not progressed or last_stamp is None:
                raise NetSuiteError(
                    f"more than {self.max_rows_per_query} customers share the timestamp "
                    f"{last_stamp}; cannot re-window",
                    retryable=False,
                    code="ROW_CAP",
                )
            logger.info("SuiteQL row cap reached; re-windowing from %s", last_stamp)
            window_start = suiteql_time(last_stamp)

    def _with_address_books(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = [self._customer_from_row(row) for row in rows]
        books = self.address_books([record["id"] for record in records])
        for record in records:
            record["addressBook"]["items"] = books.get(record["id"], [])
        return records

    def address_books(self, customer_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The address book lines of these customers (in the record API's addressBook item
        shape), by customer id: one query, whatever the number of customers."""
        books: dict[str, list[dict[str, Any]]] = {}
        if not customer_ids:
            return books
        for line in self.suiteql(address_book_query(customer_ids)):
            books.setdefault(line.get("entity", ""), []).append(
                {
                    "internalId": int(line["internalid"]),
                    "label": line.get("label"),
                    "defaultBilling": line.get("defaultbilling") == "T",
                    "defaultShipping": line.get("defaultshipping") == "T",
                    "addressBookAddress": {
                        key: line[col] for col, key in ADDRESS_COLUMNS if col in line
                    },
                }
            )
        return books

    def _customer_from_row(self, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for column, name in extra_customer_columns(self.extra_customer_fields).items():
            if column in row:
                record[name] = row[column]
        for column, key in CUSTOMER_COLUMNS:
            if column in row:
                value = row[column]
                record[key] = value == "T" if key in BOOLEAN_KEYS else value
        for key in BOOLEAN_KEYS:
            record.setdefault(key, False)
        for column, key in REFERENCE_COLUMNS:
            if column in row:
                record[key] = {"id": row[column]}
        for name in fields.ALL:
            if name in fields.CHECKBOX_FIELDS:
                record[name] = row.get(name) == "T"
            elif name in fields.CURRENCY_FIELDS and name in row:
                record[name] = _amount(row[name])  # a number, as the record API reads it
            elif name in row:
                record[name] = row[name]
        record["lastModifiedDate"] = _iso(row.get("lastmodified"))
        record["dateCreated"] = _iso(row.get("created"))
        record["addressBook"] = {"items": []}
        return record

    def iter_address_changes_since(
        self, since: datetime, *, page_size: int = 1000
    ) -> Iterator[str]:
        """Ids of customers with an address row modified at or after `since`; address
        subrecord edits do not bump the customer's own lastmodifieddate."""
        for entity, _ in self.iter_address_change_times_since(since, page_size=page_size):
            yield entity

    def iter_address_change_times_since(
        self, since: datetime, *, page_size: int = 1000
    ) -> Iterator[tuple[str, datetime]]:
        """(customer id, newest address change at or after `since`), by customer id. The time
        lets a sync move its watermark past an address-only edit instead of re-reading it."""
        after = 0
        while True:
            query = address_change_query(since, after)
            capped = False
            for items, more in self._pages(query, page_size, stop_at_cap=True):
                for row in items:
                    after = int(row["entity"])
                    yield row["entity"], suiteql_time(row["changed"])
                capped = more
            if not capped:
                return

    def newest_customer_change(self) -> datetime | None:
        """The newest last-modified time of any customer, on NetSuite's clock (see
        suiteql_time): a lower bound of NetSuite's "now" that compares with its stamps."""
        for row in self.suiteql(NEWEST_CHANGE_QUERY):
            return suiteql_time(row["newest"]) if row.get("newest") else None
        return None

    def list_currencies(self) -> list[dict[str, str]]:
        return [
            {"id": r["id"], "symbol": r.get("symbol", ""), "name": r.get("name", "")}
            for r in self.suiteql(CURRENCY_QUERY)
        ]

    def list_subsidiaries(self) -> list[dict[str, str]]:
        return [
            {"id": r["id"], "name": r.get("fullname") or r.get("name", "")}
            for r in self.suiteql(SUBSIDIARY_QUERY)
        ]

    def list_terms(self) -> list[dict[str, str]]:
        return [{"id": r["id"], "name": r.get("name", "")} for r in self.suiteql(TERM_QUERY)]

    def customer_record_fields(self) -> dict[str, dict[str, Any]]:
        """The customer record's fields as this role sees them, custom fields included (the
        REST metadata catalog's JSON Schema): {"custentity_zuora_id": {"title", "type",
        "x-ns-custom-field": true, ...}, ...}."""
        response = self._call(
            "GET",
            f"{RECORD}/metadata-catalog/customer",
            kind="read",
            headers={"Accept": "application/schema+json"},
            expect=_schema,
        )
        return response.json()["properties"]

    # -- customer record -------------------------------------------------------------------------
    @staticmethod
    def _key(key: str) -> str:
        key = str(key)
        if key.startswith("eid:"):
            return "eid:" + quote(key[4:], safe="")
        return quote(key, safe="")

    def get_customer(self, key: str, *, expand: bool = True) -> dict[str, Any]:
        """A customer by internal id or "eid:<externalId>"; NetSuiteError NONEXISTENT_ID."""
        params = {"expandSubResources": "true"} if expand else None
        response = self._call(
            "GET", f"{RECORD}/customer/{self._key(key)}", kind="read", params=params, expect=_RECORD
        )
        return response.json()

    def create_customer(self, payload: dict[str, Any]) -> str:
        """POST a new customer; returns its internal id.

        Retried only when NetSuite certainly did not process it (429, 503): after a timeout,
        a dropped connection or a garbled answer the record may exist, and retrying blindly
        would duplicate it, so that error is raised for the caller to recover
        (upsert_customer is safe)."""
        response = self._call(
            "POST",
            f"{RECORD}/customer",
            kind="write",
            json=payload,
            expect=_written_with_id,
            retry_if=_may_not_have_landed,
        )
        return _location_id(response)

    def upsert_customer(
        self, external_id: str, payload: dict[str, Any], *, replace_address_book: bool = True
    ) -> str:
        """PUT /customer/eid:{external_id}: creates or updates; idempotent, so retried freely."""
        params = {"replace": "addressBook"} if replace_address_book else None
        body = {k: v for k, v in payload.items() if k != "externalId"}
        response = self._call(
            "PUT",
            f"{RECORD}/customer/{self._key('eid:' + external_id)}",
            kind="write",
            json=body,
            params=params,
            expect=_written_with_id,
        )
        return _location_id(response)

    def update_customer(
        self, internal_id: str, payload: dict[str, Any], *, replace_address_book: bool = False
    ) -> None:
        """PATCH: omitted fields stay, null clears; address lines merge unless replaced."""
        params = {"replace": "addressBook"} if replace_address_book else None
        self._call(
            "PATCH",
            f"{RECORD}/customer/{self._key(internal_id)}",
            kind="write",
            json=payload,
            params=params,
            expect=_written,
        )
