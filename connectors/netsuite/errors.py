"""NetSuite errors: RFC 7807 problem details turned into ApiErrors that know if a retry helps."""

from __future__ import annotations

import json
from typing import Any

import requests

from connectors.http import ApiError, parse_retry_after

MAX_DETAIL_CHARS = 500


class NetSuiteError(ApiError):
    """A NetSuite call that failed; `.code` is o:errorCode, `.path` is o:errorPath."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        detail: str = "",
        path: str | None = None,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, retryable=retryable, status=status, code=code, retry_after=retry_after
        )
        self.detail = detail
        self.path = path
        self.details = details or []


class NetSuiteAuthError(NetSuiteError):
    """Credentials refused (INVALID_LOGIN, or an OAuth 2.0 grant error). Never retryable."""


def _shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def _where(response: requests.Response) -> str:
    # Method and path only: the query string of a NetSuite call carries no secrets, but the
    # headers (Authorization) do, so nothing else of the request goes into a message.
    request = response.request
    if request is None:
        return ""
    path = (request.path_url or "").split("?", 1)[0]
    return f" ({request.method} {path})"


def check(response: requests.Response) -> NetSuiteError | None:
    """None for a success, else the NetSuiteError describing the failure."""
    status = response.status_code
    if status < 400:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    transient = status == 429 or status >= 500
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if not isinstance(body, dict):
        # Gateways and maintenance pages answer in HTML: only the status says anything.
        code = "CONCURRENCY_LIMIT_EXCEEDED" if status == 429 else f"HTTP_{status}"
        kind = (response.headers.get("Content-Type") or "no content type").split(";")[0]
        return NetSuiteError(
            f"NetSuite HTTP {status} with a non-JSON answer ({kind}){_where(response)}",
            retryable=transient,
            status=status,
            code=code,
            retry_after=retry_after,
        )
    if "error" in body and "o:errorDetails" not in body:
        # The OAuth 2.0 token endpoint speaks RFC 6749, not problem details.
        code = str(body.get("error"))
        detail = _shorten(body.get("error_description") or "")
        cls = NetSuiteAuthError if status in (400, 401, 403) else NetSuiteError
        return cls(
            f"NetSuite token request refused: {code}"
            + (f": {detail}" if detail else "")
            + _where(response),
            retryable=transient,
            status=status,
            code=code,
            detail=detail,
            retry_after=retry_after,
        )
    details = body.get("o:errorDetails") or []
    if not isinstance(details, list):
        details = []
    first = details[0] if details and isinstance(details[0], dict) else {}
    code = first.get("o:errorCode") or (
        "CONCURRENCY_LIMIT_EXCEEDED" if status == 429 else f"HTTP_{status}"
    )
    detail = _shorten(first.get("detail") or body.get("title") or "")
    path = first.get("o:errorPath")
    message = f"NetSuite {code}" + (f" at {path}" if path else "") + f": {detail}"
    if len(details) > 1:
        message += f" (+{len(details) - 1} more)"
    message += _where(response)
    cls = NetSuiteAuthError if code == "INVALID_LOGIN" or status == 401 else NetSuiteError
    return cls(
        message,
        retryable=transient and cls is NetSuiteError,
        status=status,
        code=code,
        detail=detail,
        path=path,
        details=[d for d in details if isinstance(d, dict)],
        retry_after=retry_after,
    )
