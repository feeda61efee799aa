"""A small client for the part of Zuora's REST API the account sync uses.

Reads go through the Object Query API (cursor paging, filters, contacts expanded in one call)
or ZOQL, the Actions query (up to 2000 records a call); writes through the v1 API. Every call
carries a fresh-enough OAuth bearer token and a Zuora-Track-Id so one sync's calls can be found
in Zuora's logs.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.auth import AuthBase

from connectors.http import (
    NO_AUTH,
    CircuitBreaker,
    ExpectFn,
    HttpTransport,
    RunAborted,
    expect_json,
    json_problem,
)
from connectors.zuora.errors import ZuoraAuthError, ZuoraError, check

MAX_PAGE_SIZE = 99
IDS_PER_QUERY = 50  # keeps the IN filter (and the URL) well under gateway limits
TRACK_ID_PREFIX = "syncadmin-"
# A track id only has to be unique enough to find one call in Zuora's logs: a random prefix per
# process and a counter spare a call to the system's random source per request.
_TRACK_ID_PROCESS = secrets.token_hex(6)
_track_ids = itertools.count(1)
ACTION_MAX_OBJECTS = 50
ZOQL_MAX_BATCH = 2000  # records per /v1/action/query answer: Zuora's default and its maximum
# SaveResult error codes of the Actions API that a later attempt can get past.
RETRYABLE_ACTION_CODES = {"LOCK_COMPETITION", "TEMPORARY_ERROR", "SERVER_UNAVAILABLE"}

# What each answer must hold to be usable: anything else is a garbled answer (BadAnswer).
_OBJECT = expect_json(dict)
_TOKEN = expect_json(dict, ids=("access_token",))
_PAGE = expect_json(dict, lists=("data",))
_ACCOUNT = expect_json(dict, ids=("id",))
_CREATED = expect_json(dict, ids=("accountId",))
_CURRENCIES = expect_json(dict, lists=("currencies",))
_TERMS = expect_json(dict, lists=("paymentTerms",))


def _v1_success(response: requests.Response) -> str | None:
    """A v1 write answers {"success": true, ...}; a failure was already told by check()."""
    body, problem = json_problem(response, dict)
    if problem is None and body.get("success") is not True:
        problem = "no success flag in the answer"
    return problem


def _zoql_batch(response: requests.Response) -> str | None:
    body, problem = json_problem(response, dict)
    if problem is not None:
        return problem
    records = body.get("records", [] if body.get("size") == 0 else None)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return "no list of records under 'records'"
    return None


def _xml_answer(response: requests.Response) -> ZuoraError | None:
    """The describe API answers XML: a success is any 2xx XML body, a failure Zuora's usual
    JSON (or a gateway page), told by check()."""
    if 200 <= response.status_code < 300 and response.content.lstrip().startswith(b"<"):
        return None
    return check(response)


def parse_describe(document: bytes) -> dict[str, dict[str, Any]]:
    """The fields of a describe answer (<object><fields><field><name>...), by API name, each
    with its label and type, and what else the field element says when it says it: "options"
    (a picklist's values), "maxlength" (int), "createable" / "updateable" / "custom" (bool).
    A DOCTYPE is refused: the describe API never sends one, and entity declarations are how
    an XML body expands without bound."""
    upper = document.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise ValueError("the answer declares a DOCTYPE")
    try:
        # Safe without defusedxml: the DOCTYPE check above leaves no entity to expand, and
        # expat never fetches external resources.
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise ValueError(f"the answer is not well-formed XML ({exc})") from None
    if root.tag != "object" or root.find("fields") is None:
        raise ValueError("no <object> with <fields> in the answer")
    described: dict[str, dict[str, Any]] = {}
    for element in root.iterfind("fields/field"):
        name = (element.findtext("name") or "").strip()
        if not name:
            continue
        field: dict[str, Any] = {
            "label": (element.findtext("label") or "").strip(),
            "type": (element.findtext("type") or "").strip(),
        }
        options = [(o.text or "").strip() for o in element.iterfind("options/option")]
        if options:
            field["options"] = [o for o in options if o]
        limit = (element.findtext("maxlength") or "").strip()
        if limit.isdigit():
            field["maxlength"] = int(limit)
        for flag in ("createable", "updateable", "custom"):
            text = (element.findtext(flag) or "").strip().lower()
            if text in ("true", "false"):
                field[flag] = text == "true"
        described[name] = field
    return described


def _describe_answer(response: requests.Response) -> str | None:
    try:
        parse_describe(response.content)
    except ValueError as exc:
        return str(exc)
    return None


def _save_results(count: int) -> ExpectFn:
    def expect(response: requests.Response) -> str | None:
        body, problem = json_problem(response, list)
        if problem is None and len(body) != count:
            problem = f"{len(body)} results for {count} objects"
        return problem

    return expect


@dataclass(frozen=True)
class ZuoraCredentials:
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    entity_id: str | None = None


def parse_zuora_datetime(value: str) -> datetime:
    """An aware datetime from Zuora's ISO 8601 text; compare the result as an instant.

    Zuora answers in the tenant's offset (-08:00...), sometimes with Z; text without an offset
    is taken as UTC so that comparisons never mix naive and aware values.
    """
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_filter_datetime(value: datetime) -> str:
    """UTC ISO text for an Object Query filter (the offset is explicit, never implied)."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass an aware one")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_zoql_datetime(value: datetime) -> str:
    """A quoted ZOQL date-time literal in UTC, e.g. '2024-01-01T00:00:00+00:00'.

    The offset is always written out because Zuora reads a literal without one in the tenant's
    zone. Milliseconds are kept when there are any, so that a bound taken from a Zuora
    timestamp stays exact; finer digits, which Zuora does not store, are dropped.
    """
    if value.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass an aware one")
    utc = value.astimezone(UTC)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond >= 1000 else "seconds")
    return f"'{text}'"


def zoql_quote(value: str) -> str:
    """A quoted ZOQL string literal for `value`: a quote or backslash in data (O'Brien) can
    neither break the query nor change its meaning."""
    if not isinstance(value, str):
        raise TypeError(f"zoql_quote takes a str, not {type(value).__name__}")
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class _ProcessTokens:
    """Bearer tokens kept for the life of the process, by tenant and credentials: each sync
    run builds a new client, and without this every run would start with a token call (Zuora
    asks clients to cache tokens; its token endpoint has a rate limit of its own). Kept in
    memory only, like the client's own token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # key -> (token, monotonic deadline)

    @staticmethod
    def key(credentials: ZuoraCredentials) -> str:
        material = "\n".join(
            (credentials.base_url, credentials.client_id, credentials.client_secret)
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def get(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            kept = self._tokens.get(key)
        return kept if kept is not None and time.monotonic() < kept[1] else None

    def put(self, key: str, token: str, deadline: float) -> None:
        with self._lock:
            self._tokens[key] = (token, deadline)

    def drop(self, key: str, token: str) -> None:
        with self._lock:
            if self._tokens.get(key, ("", 0.0))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


_process_tokens = _ProcessTokens()


def forget_tokens() -> None:
    """Drop every token kept by this process (a test's fresh sandbox may reuse an earlier
    one's address; a kept token would cost it a refused call and a retry)."""
    _process_tokens.clear()


class _Bearer(AuthBase):
    """The client's bearer token on every request; it remembers, per thread, the token it last
    sent, so that a refusal drops that token and not one another thread just fetched."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token
        self._sent = threading.local()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._sent.token = self._token()
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def last_sent(self) -> str | None:
        return getattr(self._sent, "token", None)


class ZuoraClient:
    """Thread-safe: one token and one connection pool are shared by all threads (and the
    token by later clients of the same credentials in this process). `pool_size` is the
    number of calls made at once: a run's Zuora writers (20) and readers (8), and a few more
    for the token and settings calls."""

    def __init__(
        self,
        credentials: ZuoraCredentials,
        *,
        timeout: float = 30,
        max_attempts: int | None = None,
        retry_budget: float = 90,
        refresh_margin: float = 300,
        on_throttle: Callable[[float | None], None] | None = None,
        backoff_base: float = 0.5,
        pool_size: int = 32,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.credentials = credentials
        self.refresh_margin = refresh_margin
        self._auth = _Bearer(self._bearer)
        self.transport = HttpTransport(
            base_url=credentials.base_url,
            name="Zuora",
            timeout=timeout,
            max_attempts=max_attempts,
            retry_budget=retry_budget,
            backoff_base=backoff_base,
            on_throttle=on_throttle,
            pool_size=pool_size,
            user_agent="syncadmin-zuora",
            auth=self._auth,
            breaker=breaker,
        )
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0  # time.monotonic() deadline
        self._token_key = _ProcessTokens.key(credentials)

    def __repr__(self) -> str:
        entity = f" entity={self.credentials.entity_id}" if self.credentials.entity_id else ""
        base = self.transport.base_url
        return f"<ZuoraClient {base} client_id={self.credentials.client_id}{entity}>"

    __str__ = __repr__

    def calls_by_kind(self) -> dict[str, int]:
        return self.transport.calls_by_kind()

    # -- auth -------------------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, float]:
        response = self.transport.request(
            "POST",
            "/oauth/token",
            kind="token",
            check=lambda r: check(r, auth=True),
            data={
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "grant_type": "client_credentials",
            },
            headers={"Accept": "application/json"},
            expect=_TOKEN,
            auth=NO_AUTH,
        )
        body = response.json()
        try:
            expires_in = float(body.get("expires_in", 3599))
        except (TypeError, ValueError):
            expires_in = 3599.0
        return str(body["access_token"]), expires_in if expires_in > 0 else 3599.0

    def _bearer(self) -> str:
        with self._token_lock:
            # Held while fetching so that many threads needing a token make one token call.
            if self._token is None or time.monotonic() >= self._token_expires_at:
                kept = _process_tokens.get(self._token_key)
                if kept is not None:
                    self._token, self._token_expires_at = kept
                    return self._token
                started = time.monotonic()
                token, expires_in = self._fetch_token()
                # Refresh early, but a short-lived token must still be used at least once.
                margin = min(self.refresh_margin, expires_in / 2)
                self._token = token
                self._token_expires_at = started + expires_in - margin
                _process_tokens.put(self._token_key, token, self._token_expires_at)
            return self._token

    def authenticate(self) -> None:
        """Get a bearer token now, if none is kept: a caller that knows it will call Zuora
        soon asks while its other reads are on the wire."""
        self._bearer()

    def _invalidate(self, token: str | None) -> None:
        with self._token_lock:
            # Another thread may already have replaced the token that was refused.
            if token is not None and self._token == token:
                self._token = None
            if token is not None:
                _process_tokens.drop(self._token_key, token)

    # -- calls ------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        expect: ExpectFn = _OBJECT,
    ) -> Any:
        return self._send(
            method,
            path,
            kind=kind,
            params=params,
            json=json,
            idempotency_key=idempotency_key,
            expect=expect,
        ).json()

    def _send(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        expect: ExpectFn = _OBJECT,
        accept: str = "application/json",
        answer_check: Callable[[requests.Response], ZuoraError | None] = check,
    ) -> requests.Response:
        track_id = f"{TRACK_ID_PREFIX}{_TRACK_ID_PROCESS}-{next(_track_ids)}"
        headers = {"Accept": accept, "Zuora-Track-Id": track_id}
        if self.credentials.entity_id:
            headers["Zuora-Entity-Ids"] = self.credentials.entity_id
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > 255:
                raise ValueError("an idempotency key is 1 to 255 characters")
            headers["Idempotency-Key"] = idempotency_key
        for refreshed in (False, True):
            try:
                response = self.transport.request(
                    method,
                    path,
                    kind=kind,
                    check=answer_check,
                    params=list(params) if params else None,
                    json=json,
                    headers=headers,
                    expect=expect,
                )
            except ZuoraAuthError as error:
                if error.retryable:
                    raise  # the token endpoint is throttled or out, not refusing
                raise self._refused(error) from error
            except ZuoraError as error:
                error.track_id = error.track_id or track_id
                # A token can be revoked or expire early on Zuora's side: refresh once.
                if error.status == 401:
                    if refreshed:
                        raise self._refused(error) from error
                    self._invalidate(self._auth.last_sent())
                    continue
                raise
            return response
        raise AssertionError("unreachable")

    def _refused(self, error: ZuoraError) -> RunAborted:
        """Refused credentials stop the run: every other call would be refused as well."""
        return self.transport.breaker.open(
            RunAborted(
                f"Zuora refused the credentials at {self.transport.base_url} ({error.message}): "
                "check the client id and secret of the Zuora connection, then run again.",
                code="CREDENTIALS_REFUSED",
                retryable=False,
                status=error.status,
            )
        )

    # -- object query -----------------------------------------------------------------------------
    def _iter_query(
        self,
        path: str,
        filters: Iterable[str],
        *,
        page_size: int,
        expand: Sequence[str] = (),
        sort: str = "updateddate.ASC",
    ) -> Iterator[dict]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        base: list[tuple[str, Any]] = [("filter[]", f) for f in filters]
        base += [("expand[]", e) for e in expand]
        base += [("sort[]", sort), ("pageSize", page_size)]
        cursor: str | None = None
        while True:
            params = base + ([("cursor", cursor)] if cursor else [])
            body = self._call("GET", path, kind="query", params=params, expect=_PAGE)
            yield from body["data"]
            cursor = body.get("nextPage")
            if not cursor:
                return

    def iter_accounts(
        self,
        filters: Iterable[str] = (),
        *,
        page_size: int = MAX_PAGE_SIZE,
        expand_contacts: bool = True,
    ) -> Iterator[dict]:
        """Accounts matching all `filters` ("field.OP:value"), oldest change first."""
        expand = ("billto", "soldto") if expand_contacts else ()
        return self._iter_query(
            "/object-query/accounts", list(filters), page_size=page_size, expand=expand
        )

    def iter_accounts_changed_since(
        self, since: datetime, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        return self.iter_accounts(
            [f"updateddate.GE:{format_filter_datetime(since)}"], page_size=page_size
        )

    def iter_accounts_by_ids(
        self, ids: Iterable[str], *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        unique = list(dict.fromkeys(i for i in ids if i))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            yield from self.iter_accounts([f"id.IN:[{','.join(chunk)}]"], page_size=page_size)

    def iter_contacts_changed_since(
        self, since: datetime, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        return self._iter_query(
            "/object-query/contacts",
            [f"updateddate.GE:{format_filter_datetime(since)}"],
            page_size=page_size,
        )

    def iter_contacts(
        self, filters: Iterable[str] = (), *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        """Contacts matching all `filters` (e.g. "workemail.EQ:a@b.c"), each with accountId."""
        return self._iter_query("/object-query/contacts", list(filters), page_size=page_size)

    # -- ZOQL (the Actions query) --------------------------------------------------------------
    def iter_zoql(self, query: str, *, batch_size: int = ZOQL_MAX_BATCH) -> Iterator[dict]:
        """Every record a ZOQL query matches, following queryMore until Zuora says done.

        For bulk reads: up to 2000 records a call where the Object Query API stops at 99.
        Records come as the Actions API shapes them (PascalCase names, only the selected
        fields, nulls left out), from a snapshot taken by the first call, in no promised order.
        Build literals with zoql_quote and format_zoql_datetime so that data cannot break the
        query. Arguments are checked here, before any call, not on the first next().
        """
        if isinstance(batch_size, bool) or not 1 <= batch_size <= ZOQL_MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{ZOQL_MAX_BATCH}")
        if not query.strip():
            raise ValueError("a ZOQL query is required")
        return self._iter_zoql(query, batch_size)

    def _iter_zoql(self, query: str, batch_size: int) -> Iterator[dict]:
        body = self._call(
            "POST",
            "/v1/action/query",
            kind="query",
            json={"queryString": query, "conf": {"batchSize": batch_size}},
            expect=_zoql_batch,
        )
        while True:
            yield from body.get("records") or []
            if body.get("done", True) is not False:
                return
            locator = body.get("queryLocator")
            if not locator:
                raise ZuoraError(
                    "Zuora answered a ZOQL query with done false but no queryLocator",
                    retryable=False,
                    status=200,
                )
            body = self._call(
                "POST",
                "/v1/action/queryMore",
                kind="query",
                json={"queryLocator": locator},
                expect=_zoql_batch,
            )

    def get_account(self, key: str) -> dict:
        """One account by id or number, with billTo / soldTo embedded."""
        return self._call(
            "GET",
            f"/object-query/accounts/{_segment(key)}",
            kind="read",
            params=[("expand[]", "billto"), ("expand[]", "soldto")],
            expect=_ACCOUNT,
        )

    def get_account_details(self, key: str) -> dict:
        """One account through the v1 API (GET /v1/accounts/{key}): basicInfo,
        billingAndPayment and both contacts, the shapes the v1 writes take."""
        return self._call("GET", f"/v1/accounts/{_segment(key)}", kind="read", expect=_v1_success)

    def describe_fields(self, object_name: str) -> dict[str, dict[str, Any]]:
        """The fields of a Zuora object in this tenant, custom ones included (GET
        /v1/describe/{object}), by API name: {"IntegrationId__NS": {"label", "type", ...}}
        (see parse_describe)."""
        response = self._send(
            "GET",
            f"/v1/describe/{_segment(object_name)}",
            kind="read",
            accept="application/xml, text/xml",
            answer_check=_xml_answer,
            expect=_describe_answer,
        )
        return parse_describe(response.content)

    # -- v1 writes --------------------------------------------------------------------------------
    def create_account(self, payload: dict, *, idempotency_key: str) -> dict:
        # A garbled answer is retried like a timeout: the idempotency key makes Zuora answer
        # a second try with the account the first one made, never a second account.
        body = self._call(
            "POST",
            "/v1/accounts",
            kind="write",
            json=payload,
            idempotency_key=idempotency_key,
            expect=_CREATED,
        )
        return {
            k: body.get(k)
            for k in ("accountId", "accountNumber", "billToContactId", "soldToContactId")
        }

    def update_account(
        self, key: str, payload: dict, *, idempotency_key: str | None = None
    ) -> None:
        self._call(
            "PUT",
            f"/v1/accounts/{_segment(key)}",
            kind="write",
            json=payload,
            idempotency_key=idempotency_key,
            expect=_v1_success,
        )

    def update_accounts(self, updates: Sequence[tuple[str, dict]]) -> list[ZuoraError | None]:
        """Up to 50 account updates in one call (the Actions API: POST /v1/action/update).

        Fields are sent as given, so use the Actions API's names: PascalCase standard fields
        and custom fields by their API names (IntegrationId__NS). Each object succeeds or fails
        on its own: the answer is one ZuoraError (or None) per update, in the order sent. A
        failure of the whole call raises.
        """
        if not 1 <= len(updates) <= ACTION_MAX_OBJECTS:
            raise ValueError(f"update_accounts takes 1 to {ACTION_MAX_OBJECTS} updates")
        objects = [{**fields, "Id": account_id} for account_id, fields in updates]
        # Setting the same fields twice does no harm: a garbled answer is retried.
        body = self._call(
            "POST",
            "/v1/action/update",
            kind="write",
            json={"type": "Account", "objects": objects},
            expect=_save_results(len(objects)),
        )
        return [_save_result_error(result) for result in body]

    def update_contact(self, contact_id: str, payload: dict) -> dict:
        body = self._call(
            "PUT",
            f"/v1/contacts/{_segment(contact_id)}",
            kind="write",
            json=payload,
            expect=_v1_success,
        )
        return {k: v for k, v in body.items() if k != "success"}

    # -- settings ---------------------------------------------------------------------------------
    def list_currencies(self) -> list[str]:
        """ISO codes of the currencies active in the tenant."""
        body = self._call("GET", "/settings/currencies", kind="read", expect=_CURRENCIES)
        return [
            c["currencyCode"]
            for c in body["currencies"]
            if c.get("active", True) and c.get("currencyCode")
        ]

    def list_payment_terms(self) -> list[str]:
        body = self._call("GET", "/settings/payment-terms", kind="read", expect=_TERMS)
        return [t["name"] for t in body["paymentTerms"] if t.get("active", True) and t.get("name")]


def _segment(value: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"not a usable Zuora key: {value!r}")
    return requests.utils.quote(value, safe="")


def _save_result_error(result: Any) -> ZuoraError | None:
    if isinstance(result, dict) and result.get("Success") is True:
        return None
    errors = (result.get("Errors") if isinstance(result, dict) else None) or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("Code") or "UNKNOWN")
    message = "; ".join(
        f"{e.get('Code') or 'UNKNOWN'}: {e.get('Message') or 'no message'}"
        for e in errors
        if isinstance(e, dict)
    )
    return ZuoraError(
        f"Zuora {message or code}",
        retryable=code in RETRYABLE_ACTION_CODES,
        status=200,
        code=code,
    )
