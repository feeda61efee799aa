"""Signed change notifications (near-real-time hooks): how a sender signs a call and how
syncadmin checks it. Shared by the hook endpoints, the sandboxes that send them and the
SuiteScript (which computes the same HMAC in JavaScript).

A call carries two headers:
    X-Syncadmin-Timestamp: the sender's Unix time in whole seconds
    X-Syncadmin-Signature: "v1=" + hex HMAC-SHA256(secret, "<timestamp>." + raw body)
Signing the timestamp with the body means neither can be changed without the secret. The
receiver refuses a call it has already accepted (a replay), so senders put a unique "eventId"
in the body: two saves of one record within one second are then two calls, not one refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Syncadmin-Timestamp"
SIGNATURE_HEADER = "X-Syncadmin-Signature"
SIGNATURE_PREFIX = "v1="
MAX_AGE_SECONDS = 300  # a call older (or further in the future) than 5 minutes is refused


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Syncadmin-Signature value for `body` sent at `timestamp`."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers a sender adds to a call with this body."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


class SignatureRefused(Exception):
    """Why a call's signature was not accepted (said to the sender, so it names no secret)."""


def signature_verify(
    secret: str,
    *,
    timestamp: str | None,
    signature_value: str | None,
    body: bytes,
    now: float | None = None,
) -> int:
    """Check a call; returns its timestamp. Raises SignatureRefused (missing, stale or wrong).

    The comparison is constant-time. Replays within the window are the receiver's to refuse
    (it remembers the signatures it accepted).
    """
    if not timestamp or not signature_value:
        raise SignatureRefused(
            f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required."
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be Unix time in seconds.") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > MAX_AGE_SECONDS:
        raise SignatureRefused(
            "The call's timestamp is more than 5 minutes away from this server's clock."
        )
    expected = signature(secret, sent_at, body)
    if not hmac.compare_digest(
        expected.encode("ascii"), signature_value.strip().encode("ascii", "replace")
    ):
        raise SignatureRefused("The signature does not match the body and the shared secret.")
    return sent_at
