"""Zuora's failures as exceptions, and `check`, which tells a failed response from a good one.

Zuora reports failures in several shapes: the {"success": false, "reasons": [...]} envelope
(with HTTP 200 as often as with 4xx), {"message": ...} from the gateway, OAuth-style
{"error", "error_description"} from the token endpoint, and HTML pages from proxies. The
8-digit reason code ends in a two-digit category, and the category says whether a retry can
help.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.http import ApiError, parse_retry_after

# Locking, temporary error, concurrency limit, external system: a later attempt can succeed.
RETRYABLE_CATEGORIES = frozenset({50, 61, 70, 99})

CATEGORY_NAMES = {
    10: "permission",
    11: "authentication",
    20: "invalid value",
    21: "unknown field",
    22: "missing field",
    30: "business rule",
    40: "not found",
    50: "locking",
    60: "internal error",
    61: "temporary error",
    70: "concurrency limit",
    90: "malformed request",
    99: "external system",
}

_MAX_MESSAGE = 500  # an HTML page or a stack trace must not flood logs and the admin


class ZuoraError(ApiError):
    """A Zuora call that failed; `code` is the 8-digit reason code when Zuora gave one."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        category: int | None = None,
        process_id: str | None = None,
        retry_after: float | None = None,
        reasons: list[dict[str, Any]] | None = None,
        track_id: str | None = None,
    ) -> None:
        super().__init__(
            message, retryable=retryable, status=status, code=code, retry_after=retry_after
        )
        self.category = category
        self.process_id = process_id
        self.reasons = reasons or []
        self.track_id = track_id


class ZuoraAuthError(ZuoraError):
    """The client could not get a token (wrong id or secret, revoked client...)."""


def category_of(code: str | int | None) -> int | None:
    """The category of a reason code: its last two digits (53100020 -> 20)."""
    if code is None:
        return None
    text = str(code).strip()
    if len(text) < 2 or not text.isdigit():
        return None
    return int(text[-2:])


def is_retryable(status: int | None, category: int | None) -> bool:
    if status == 429 or (status is not None and status >= 500):
        return True
    return category in RETRYABLE_CATEGORIES


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _where(response: requests.Response) -> str:
    request = getattr(response, "request", None)
    if request is None or not request.method or not request.url:
        return ""
    # The path only: the query string may carry filters with customer data.
    return f" ({request.method} {urlsplit(request.url).path})"


def _reasons_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    reasons = body.get("reasons")
    if isinstance(reasons, list):
        return [r for r in reasons if isinstance(r, dict)]
    # The older CRUD style: {"Success": false, "Errors": [{"Code", "Message"}]}
    errors = body.get("Errors") or body.get("errors")
    if isinstance(errors, list):
        return [
            {"code": e.get("Code", e.get("code")), "message": e.get("Message", e.get("message"))}
            for e in errors
            if isinstance(e, dict)
        ]
    return []


def error_from_body(
    body: Any,
    *,
    status: int,
    retry_after: float | None = None,
    track_id: str | None = None,
    where: str = "",
    auth: bool = False,
) -> ZuoraError:
    """Build the error for a failed answer whose body is already parsed (dict or None)."""
    cls = ZuoraAuthError if auth else ZuoraError
    reasons = _reasons_of(body)
    process_id = body.get("processId") if isinstance(body, dict) else None
    if reasons:
        first = reasons[0]
        code = str(first.get("code")) if first.get("code") is not None else None
        category = category_of(code)
        parts = [f"{r.get('code')}: {r.get('message') or 'no message'}" for r in reasons]
        message = f"Zuora {'; '.join(parts)}"
        # Any retryable reason makes the call worth another try.
        retryable = is_retryable(status, category) or any(
            category_of(r.get("code")) in RETRYABLE_CATEGORIES for r in reasons
        )
    else:
        code = None
        category = 11 if status == 401 else 10 if status == 403 else None
        text = None
        if isinstance(body, dict):
            text = body.get("message") or body.get("error_description") or body.get("error")
        message = f"Zuora HTTP {status}: {text or 'request failed'}"
        retryable = is_retryable(status, category)
    if auth:
        # Credentials do not fix themselves; only throttling and outages are worth a retry.
        retryable = status == 429 or status >= 500
    return cls(
        _clip(message) + where,
        retryable=retryable,
        status=status,
        code=code,
        category=category,
        process_id=process_id,
        retry_after=retry_after,
        reasons=reasons,
        track_id=track_id,
    )


def check(response: requests.Response, *, auth: bool = False) -> ZuoraError | None:
    """None when `response` is a success, else the ZuoraError it stands for.

    `auth=True` for the token endpoint: its failures become ZuoraAuthError.
    """
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    track_id = response.headers.get("Zuora-Track-Id")
    where = _where(response)
    content_type = response.headers.get("Content-Type", "")
    body: Any = None
    parsed = False
    if response.content:
        try:
            body = response.json()
            parsed = True
        except ValueError:
            parsed = False
    else:
        parsed = True  # an empty body is a valid answer to some calls (204)
    if 200 <= status < 300:
        if not parsed:
            # A 2xx with a non-JSON body is a proxy or maintenance page, not Zuora's answer.
            kind = "HTML" if "html" in content_type.lower() else "non-JSON"
            return ZuoraError(
                f"Zuora HTTP {status}: unexpected {kind} answer{where}",
                retryable=True,
                status=status,
                track_id=track_id,
            )
        if isinstance(body, dict) and (
            body.get("success") is False or body.get("Success") is False
        ):
            return error_from_body(body, status=status, track_id=track_id, where=where, auth=auth)
        return None
    if not parsed:
        kind = "HTML" if "html" in content_type.lower() else "non-JSON"
        cls = ZuoraAuthError if auth else ZuoraError
        retryable = status == 429 or status >= 500
        return cls(
            f"Zuora HTTP {status}: {kind} error page{where}",
            retryable=retryable,
            status=status,
            retry_after=retry_after,
            track_id=track_id,
        )
    return error_from_body(
        body, status=status, retry_after=retry_after, track_id=track_id, where=where, auth=auth
    )
