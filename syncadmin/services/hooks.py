"""Near-real-time hooks, the receiving side: their settings (on/off, the shared secret, Zuora's
Basic auth) and what one call to POST /hooks/<system>/ does.

The checks of a call, in this order (each refusal changes nothing in the sync):
  1. authentication: the signature (X-Syncadmin-Timestamp and X-Syncadmin-Signature, see
     connectors/webhooks.py) or, for Zuora only and only when set up, HTTP Basic auth. No
     secret, a wrong or missing signature, a stale timestamp or a call already received: 401.
     Nothing of an unauthenticated call is stored, so nobody can fill the log from outside.
  2. near-real-time off for this system: 403 "near-real-time sync is off".
  3. this system is not the master: 409, naming the master.
  4. the body: larger than HOOKS_MAX_BODY_BYTES, not JSON, or not naming a record: 400.
  Then the event is recorded, its record's pending sync is created or moved on (coalescing),
  and the event sync is queued: 202.
Authenticated refusals (2-4) are kept in the event log as "refused" with their reason, so an
admin setting up a hook sees why a call did nothing; they queue nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRefused,
    signature_verify,
)
from syncadmin.crypto import SecretKeyError
from syncadmin.models import HookEvent, HookSettings, Master, PendingSync, SyncPreferences
from syncadmin.models.base import Direction

logger = logging.getLogger(__name__)

SYSTEM_NAMES = {Master.ZUORA: "Zuora", Master.NETSUITE: "NetSuite"}
DIRECTION_OF = {
    Master.ZUORA: Direction.ZUORA_TO_NETSUITE,
    Master.NETSUITE: Direction.NETSUITE_TO_ZUORA,
}
# A signed call older than 5 minutes is refused as stale, so its signature need not be
# remembered longer; 10 minutes also covers a sender whose clock runs ahead.
DIGEST_KEEP = timedelta(minutes=10)
EVENT_LOG_KEEP = timedelta(days=30)
OFF_MESSAGE = "near-real-time sync is off"

_ZUORA_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
# An account number goes into an Object Query filter list: none of its separators or quotes.
_ZUORA_NUMBER = re.compile(r"^[^,\[\]'\"\s][^,\[\]'\"]{0,99}$")
_NETSUITE_ID = re.compile(r"^[0-9]{1,20}$")


class HookRefused(Exception):
    """A call the hook does not act on: `status` is the HTTP status, the message is said to
    the sender (it never names a secret)."""

    def __init__(self, status: int, message: str, *, basic_auth: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.basic_auth = basic_auth  # a 401 that may be answered with Basic auth


@dataclass(frozen=True)
class HookAccepted:
    """An accepted call: its event, and whether it came with Basic auth (a Zuora callout, which
    counts any answer but 200 as a failure and would send it again)."""

    event: HookEvent
    basic_auth: bool


@dataclass(frozen=True)
class HookCall:
    """What an accepted call names: the record as sent, and whether it is an account number."""

    record_key: str
    by_number: bool
    event_type: str


# -- settings --------------------------------------------------------------------------------------
def hook_settings_get(system: str) -> HookSettings:
    settings_row, _ = HookSettings.objects.get_or_create(system=system)
    return settings_row


def hook_secret_generate(*, system: str) -> str:
    """A new shared secret for the system's hook, replacing any before it (calls signed with
    the old one are refused from now on). Returned once, to be shown once; stored encrypted."""
    secret = secrets.token_urlsafe(32)
    hook_secret_set(system=system, secret=secret)
    return secret


def hook_secret_set(*, system: str, secret: str) -> None:
    """Store `secret` as the system's shared secret (encrypted), replacing any before it."""
    with transaction.atomic():
        row = HookSettings.objects.select_for_update().get(pk=hook_settings_get(system).pk)
        row.set_secret("secret", secret)
        row.secret_set_at = timezone.now()
        row.save(update_fields=["secret_encrypted", "secret_set_at", "updated_at"])
    logger.info("a new shared secret was set for the %s hook", SYSTEM_NAMES[system])


def hook_basic_auth_set(*, username: str) -> str:
    """Zuora's Basic auth: the user name as given, a new generated password (returned once, to
    be shown once). An empty user name turns Basic auth off."""
    username = username.strip()
    password = secrets.token_urlsafe(24) if username else ""
    with transaction.atomic():
        row = HookSettings.objects.select_for_update().get(pk=hook_settings_get(Master.ZUORA).pk)
        row.basic_username = username
        row.set_secret("basic_password", password)
        row.save(update_fields=["basic_username", "basic_password_encrypted", "updated_at"])
    return password


def hook_enabled_set(*, system: str, enabled: bool) -> HookSettings:
    """Turn the system's hook on or off, and keep the retry schedule of event syncs in step."""
    from syncadmin.services.event_sync import event_sync_schedule_ensure

    row = hook_settings_get(system)
    if row.enabled != enabled:
        row.enabled = enabled
        row.save(update_fields=["enabled", "updated_at"])
    event_sync_schedule_ensure()
    return row


def hook_url(system: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/hooks/{system}/"


# -- one call ------------------------------------------------------------------------------------
def hook_call_accept(
    *, system: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> HookAccepted:
    """Check one call to the system's hook (see the module's docstring for the order) and, when
    it names a record, record it and queue its sync. Raises HookRefused."""
    row = HookSettings.objects.filter(system=system).first()
    digest = _authenticate(system, row, body, headers, now=now)
    assert row is not None  # _authenticate refuses a system without settings
    name = SYSTEM_NAMES[system]
    if not row.enabled:
        raise _refused(system, digest, 403, OFF_MESSAGE)
    master = SyncPreferences.load().master
    if master != system:
        raise _refused(
            system,
            digest,
            409,
            f"{SYSTEM_NAMES[master]} is the master, so {name} changes are not synced; "
            f"turn off the {name} notification, or make {name} the master under Sync "
            "preferences (Customer Account Master).",
        )
    try:
        call = _parse(system, body)
    except ValueError as exc:
        raise _refused(system, digest, 400, str(exc)) from None
    event = _record(system, call, digest)
    _queue_sync()  # after _record's commit: the processor finds the row
    return HookAccepted(event=event, basic_auth=digest is None)


def _authenticate(
    system: str,
    row: HookSettings | None,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None,
) -> str | None:
    """The digest of the call's signature (None for Basic auth); raises HookRefused (401)."""
    name = SYSTEM_NAMES[system]
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature_value = headers.get(SIGNATURE_HEADER)
    authorization = headers.get("Authorization", "")
    basic_offered = system == Master.ZUORA and row is not None and row.basic_auth_configured
    if timestamp or signature_value:
        if row is None or not row.secret_is_set("secret"):
            raise HookRefused(
                401,
                f"No shared secret is set for the {name} hook: generate one under "
                "Near-real-time in syncadmin's admin.",
            )
        try:
            secret = row.secret("secret")
        except SecretKeyError:
            logger.error("the %s hook's shared secret cannot be decrypted", name)
            raise HookRefused(
                401,
                f"The {name} hook's shared secret cannot be read on this server: generate a "
                "new one under Near-real-time.",
            ) from None
        try:
            signature_verify(
                secret,
                timestamp=timestamp,
                signature_value=signature_value,
                body=body,
                now=now,
            )
        except SignatureRefused as exc:
            raise HookRefused(401, str(exc), basic_auth=basic_offered) from None
        assert signature_value is not None
        digest = hashlib.sha256(signature_value.strip().encode("ascii", "replace")).hexdigest()
        if HookEvent.objects.filter(signature_digest=digest).exists():
            raise HookRefused(401, _REPLAYED)
        return digest
    if authorization[:6].lower() == "basic ":
        if not basic_offered:
            raise HookRefused(
                401,
                f"Basic auth is not set up for the {name} hook: sign the call with the "
                f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers"
                + (
                    ", or set up Basic auth under Near-real-time."
                    if system == Master.ZUORA
                    else "."
                ),
            )
        assert row is not None
        if not _basic_matches(authorization[6:], row):
            raise HookRefused(401, "The user name or password is wrong.", basic_auth=True)
        return None
    raise HookRefused(
        401,
        f"The call is not authenticated: send the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} "
        "headers" + (", or Basic auth." if basic_offered else "."),
        basic_auth=basic_offered,
    )


_REPLAYED = "This call was already received: a signed call is accepted once."


def _basic_matches(encoded: str, row: HookSettings) -> bool:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, _, password = decoded.partition(":")
    # Both compared, always, in constant time: the answer never tells which one was wrong.
    user_ok = hmac.compare_digest(username.encode(), row.basic_username.encode())
    try:
        stored = row.secret("basic_password")
    except SecretKeyError:
        logger.error("the Zuora hook's Basic auth password cannot be decrypted")
        return False
    password_ok = hmac.compare_digest(password.encode(), stored.encode())
    return user_ok and password_ok


def _parse(system: str, body: bytes) -> HookCall:
    """What the body names; ValueError with the sender's mistake in words."""
    limit = settings.HOOKS_MAX_BODY_BYTES
    if len(body) > limit:
        raise ValueError(
            f"The call's body is {len(body):,} bytes; a change notification may have at most "
            f"{limit:,}."
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("The call's body is not JSON.") from None
    if not isinstance(data, dict):
        raise ValueError("The call's body must be a JSON object.")
    if system == Master.ZUORA:
        account_id = _text(data.get("accountId"))
        number = _text(data.get("accountNumber"))
        event_type = _text(data.get("event"))
        if account_id:
            if not _ZUORA_ID.match(account_id):
                raise ValueError("accountId is not a Zuora account id.")
            return HookCall(account_id, False, event_type)
        if number:
            if not _ZUORA_NUMBER.match(number):
                raise ValueError("accountNumber is not a Zuora account number.")
            return HookCall(number, True, event_type)
        raise ValueError("The call names no account: send accountId or accountNumber.")
    record_type = _text(data.get("recordType"))
    if record_type and record_type.lower() != "customer":
        raise ValueError(f"Only customers are synced; this call is for a {record_type[:40]}.")
    internal_id = _text(data.get("id"))
    if not internal_id:
        raise ValueError("The call names no customer: send id (the internal id).")
    if not _NETSUITE_ID.match(internal_id):
        raise ValueError("id is not a NetSuite internal id (digits).")
    return HookCall(internal_id, False, _text(data.get("eventType")))


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return value.strip()[:100] if isinstance(value, str) else ""


def _refused(system: str, digest: str | None, status: int, message: str) -> HookRefused:
    """Keep an authenticated call the hook does not act on in the log; the refusal to raise."""
    try:
        with transaction.atomic():
            HookEvent.objects.create(
                system=system,
                outcome=HookEvent.Outcome.REFUSED,
                message=message,
                signature_digest=digest,
            )
    except IntegrityError:
        return HookRefused(401, _REPLAYED)
    return HookRefused(status, message)


def _record(system: str, call: HookCall, digest: str | None) -> HookEvent:
    """Log the event and create or move on its record's pending sync, at once."""
    received = timezone.now()
    direction = DIRECTION_OF[system]
    try:
        with transaction.atomic():
            event = HookEvent.objects.create(
                system=system,
                event_type=call.event_type,
                record_key=call.record_key,
                source_id="" if call.by_number else call.record_key,
                received_at=received,
                outcome=HookEvent.Outcome.QUEUED,
                signature_digest=digest,
            )
            key = {
                "direction": direction,
                "record_key": call.record_key,
                "by_number": call.by_number,
            }
            # Another event for the record only moves it on; attempts start again from 0.
            moved = PendingSync.objects.filter(**key).update(
                last_seen=received, attempts=0, not_before=None
            )
            if not moved:
                try:
                    with transaction.atomic():
                        PendingSync.objects.create(**key, first_seen=received, last_seen=received)
                except IntegrityError:  # created by a racing call for the same record
                    PendingSync.objects.filter(**key).update(last_seen=received)
    except IntegrityError:
        raise HookRefused(401, _REPLAYED) from None
    HookEvent.objects.filter(
        signature_digest__isnull=False, received_at__lt=received - DIGEST_KEEP
    ).update(signature_digest=None)
    return event


def _queue_sync() -> None:
    from syncadmin.services.event_sync import event_sync_queue

    try:
        event_sync_queue()
    except Exception:
        # The event and its pending sync are stored: the retry schedule and the end of the
        # next run pick it up.
        logger.exception("could not queue the event sync")
