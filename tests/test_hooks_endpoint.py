"""POST /hooks/zuora/ and /hooks/netsuite/: who may call them, what they refuse, and what an
accepted call leaves behind (an event in the log, one pending sync per record, a queued task).
The syncs themselves are in test_event_sync.py."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import pytest

from connectors.webhooks import signed_headers
from syncadmin.models import HookEvent, Master, PendingSync
from tests.factories import HOOK_TEST_SECRET, HookSettingsFactory, SyncPreferencesFactory

ZUORA_ID = "2c92c0f86a8dd422016a9e7a70116b0d"


@pytest.fixture
def queued(monkeypatch: Any) -> list[int]:
    """The event syncs the accepted calls queued (the task itself is tested elsewhere)."""
    calls: list[int] = []
    monkeypatch.setattr("syncadmin.services.event_sync.event_sync_queue", lambda: calls.append(1))
    return calls


@pytest.fixture
def zuora_hook(db: Any) -> Any:
    SyncPreferencesFactory()
    return HookSettingsFactory(system=Master.ZUORA)


def post(
    client: Any,
    system: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = HOOK_TEST_SECRET,
    now: float | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = signed_headers(secret, raw, now=now) if secret is not None else {}
    sent.pop("Content-Type", None)
    return client.post(
        f"/hooks/{system}/",
        data=raw,
        content_type="application/json",
        headers={**sent, **(headers or {})},
    )


def zuora_event(**extra: Any) -> dict[str, Any]:
    return {"event": "AccountUpdated", "accountId": ZUORA_ID, "accountNumber": "A00000001", **extra}


def nothing_queued(queued: list[int]) -> bool:
    return (
        not queued
        and not PendingSync.objects.exists()
        and not HookEvent.objects.exclude(outcome=HookEvent.Outcome.REFUSED).exists()
    )


def test_a_signed_call_for_the_master_is_queued_with_202(client, zuora_hook, queued):
    response = post(client, "zuora", zuora_event())

    assert response.status_code == 202
    assert response.json()["queued"] is True
    event = HookEvent.objects.get()
    assert (event.record_key, event.source_id, event.outcome) == (ZUORA_ID, ZUORA_ID, "queued")
    assert event.event_type == "AccountUpdated"
    assert list(PendingSync.objects.values_list("record_key", "by_number")) == [(ZUORA_ID, False)]
    assert queued == [1]


def test_an_account_number_alone_is_queued_to_be_resolved(client, zuora_hook, queued):
    response = post(client, "zuora", {"event": "AccountCreated", "accountNumber": "A00000042"})

    assert response.status_code == 202
    assert list(PendingSync.objects.values_list("record_key", "by_number")) == [("A00000042", True)]


def test_a_call_without_a_signature_is_refused_with_401_and_changes_nothing(
    client, zuora_hook, queued
):
    response = post(client, "zuora", zuora_event(), secret=None)

    assert response.status_code == 401
    assert "X-Syncadmin-Signature" in response.json()["error"]
    assert nothing_queued(queued)
    assert not HookEvent.objects.exists()


def test_a_call_signed_with_another_secret_is_refused_with_401(client, zuora_hook, queued):
    response = post(client, "zuora", zuora_event(), secret="not-the-secret")

    assert response.status_code == 401
    assert "signature does not match" in response.json()["error"]
    assert nothing_queued(queued)


def test_a_body_changed_after_signing_is_refused_with_401(client, zuora_hook, queued):
    raw = json.dumps(zuora_event()).encode()
    headers = signed_headers(HOOK_TEST_SECRET, raw)
    headers.pop("Content-Type")
    tampered = raw.replace(b"A00000001", b"A00000002")

    response = client.post(
        "/hooks/zuora/", data=tampered, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert nothing_queued(queued)


def test_a_call_older_than_5_minutes_is_refused_with_401(client, zuora_hook, queued):
    response = post(client, "zuora", zuora_event(), now=time.time() - 301)

    assert response.status_code == 401
    assert "5 minutes" in response.json()["error"]
    assert nothing_queued(queued)


def test_a_replayed_call_is_refused_as_already_received(client, zuora_hook, queued):
    raw = json.dumps(zuora_event()).encode()
    headers = signed_headers(HOOK_TEST_SECRET, raw)
    headers.pop("Content-Type")

    first = client.post("/hooks/zuora/", data=raw, content_type="application/json", headers=headers)
    again = client.post("/hooks/zuora/", data=raw, content_type="application/json", headers=headers)

    assert first.status_code == 202
    assert again.status_code == 401
    assert "already received" in again.json()["error"]
    assert HookEvent.objects.count() == 1
    assert queued == [1]


def test_a_hook_without_a_secret_refuses_every_call(client, db, queued):
    SyncPreferencesFactory()

    response = post(client, "zuora", zuora_event())

    assert response.status_code == 401
    assert "No shared secret" in response.json()["error"]
    assert nothing_queued(queued)


def test_authentication_comes_first_even_while_the_hook_is_off(client, db, queued):
    SyncPreferencesFactory()
    HookSettingsFactory(system=Master.ZUORA, enabled=False)

    response = post(client, "zuora", zuora_event(), secret="wrong")

    assert response.status_code == 401


def test_while_near_real_time_is_off_the_hook_answers_403(client, db, queued):
    SyncPreferencesFactory()
    HookSettingsFactory(system=Master.ZUORA, enabled=False)

    response = post(client, "zuora", zuora_event())

    assert response.status_code == 403
    assert response.json()["error"] == "near-real-time sync is off"
    assert nothing_queued(queued)
    assert HookEvent.objects.get().outcome == "refused"


def test_the_hook_of_the_system_that_is_not_the_master_answers_409(client, db, queued):
    SyncPreferencesFactory(netsuite_master=True)
    HookSettingsFactory(system=Master.ZUORA)

    response = post(client, "zuora", zuora_event())

    assert response.status_code == 409
    assert response.json()["error"].startswith(
        "NetSuite is the master, so Zuora changes are not synced"
    )
    assert nothing_queued(queued)


def test_netsuite_hook_queues_a_customer_when_netsuite_is_the_master(client, db, queued):
    SyncPreferencesFactory(netsuite_master=True)
    HookSettingsFactory(system=Master.NETSUITE)

    response = post(
        client, "netsuite", {"recordType": "customer", "id": "1234", "eventType": "edit"}
    )

    assert response.status_code == 202
    assert list(PendingSync.objects.values_list("direction", "record_key")) == [
        ("netsuite_to_zuora", "1234")
    ]


def test_an_oversized_body_is_refused_with_400(client, zuora_hook, queued, settings):
    response = post(client, "zuora", zuora_event(padding="x" * settings.HOOKS_MAX_BODY_BYTES))

    assert response.status_code == 400
    assert "at most" in response.json()["error"]
    assert nothing_queued(queued)


@pytest.mark.parametrize(
    ("system", "body", "says"),
    [
        ("zuora", b"{not json", "not JSON"),
        ("zuora", b"[1, 2]", "JSON object"),
        ("zuora", json.dumps({"event": "AccountUpdated"}).encode(), "names no account"),
        ("zuora", json.dumps({"accountNumber": "A1,A2]"}).encode(), "not a Zuora account number"),
        ("netsuite", json.dumps({"recordType": "customer"}).encode(), "names no customer"),
        ("netsuite", json.dumps({"recordType": "vendor", "id": "7"}).encode(), "Only customers"),
        ("netsuite", json.dumps({"recordType": "customer", "id": "7 OR 1=1"}).encode(), "digits"),
    ],
)
def test_a_malformed_call_is_refused_with_400_and_says_why(client, db, queued, system, body, says):
    SyncPreferencesFactory(master=system)
    HookSettingsFactory(system=system)

    response = post(client, system, body)

    assert response.status_code == 400
    assert says in response.json()["error"]
    assert nothing_queued(queued)


def test_the_hooks_answer_only_post(client, zuora_hook):
    assert client.get("/hooks/zuora/").status_code == 405


# -- Zuora's Basic auth ---------------------------------------------------------------------------
def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_zuora_callouts_may_use_basic_auth_once_it_is_set_up(client, db, queued):
    SyncPreferencesFactory()
    HookSettingsFactory(system=Master.ZUORA, basic_username="zuora", basic_password="pw-123456")

    accepted = post(
        client, "zuora", zuora_event(), secret=None, headers=basic("zuora", "pw-123456")
    )
    again = post(client, "zuora", zuora_event(), secret=None, headers=basic("zuora", "pw-123456"))
    wrong = post(client, "zuora", zuora_event(), secret=None, headers=basic("zuora", "guess"))

    # Zuora counts anything but 200 as a failed callout; there is no timestamp to replay.
    assert (accepted.status_code, again.status_code) == (200, 200)
    assert accepted.json()["queued"] is True
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Basic")
    assert PendingSync.objects.count() == 1


def test_basic_auth_is_refused_where_it_is_not_set_up(client, zuora_hook, queued):
    response = post(client, "zuora", zuora_event(), secret=None, headers=basic("zuora", ""))

    assert response.status_code == 401
    assert "Basic auth is not set up" in response.json()["error"]
    assert nothing_queued(queued)


def test_the_netsuite_hook_never_takes_basic_auth(client, db, queued):
    SyncPreferencesFactory(netsuite_master=True)
    HookSettingsFactory(system=Master.NETSUITE, basic_username="x", basic_password="y")

    response = post(client, "netsuite", {"id": "7"}, secret=None, headers=basic("x", "y"))

    assert response.status_code == 401


# -- coalescing at the door -----------------------------------------------------------------------
def test_several_events_for_one_record_leave_one_pending_sync(client, zuora_hook, queued):
    sent_at = time.time()
    for offset, event in enumerate(("AccountUpdated", "ContactUpdated", "AccountUpdated")):
        response = post(client, "zuora", zuora_event(event=event), now=sent_at + offset)
        assert response.status_code == 202

    pending = PendingSync.objects.get()
    assert pending.last_seen > pending.first_seen
    assert HookEvent.objects.filter(outcome="queued").count() == 3


def test_the_secret_never_reaches_the_log(client, zuora_hook, queued, caplog):
    caplog.set_level(logging.DEBUG)
    post(client, "zuora", zuora_event())
    post(client, "zuora", zuora_event(), secret="wrong")
    post(client, "zuora", zuora_event(), now=time.time() - 900)

    assert HOOK_TEST_SECRET not in caplog.text
    assert "refused a call" in caplog.text


def test_a_secret_this_server_cannot_decrypt_refuses_the_call_with_a_message(
    client, zuora_hook, queued, settings
):
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = post(client, "zuora", zuora_event())

    assert response.status_code == 401
    assert "generate a new one under Near-real-time" in response.json()["error"]
    assert nothing_queued(queued)


def test_signatures_are_remembered_for_10_minutes_and_events_for_30_days(
    client, zuora_hook, queued
):
    from datetime import timedelta

    from django.utils import timezone

    from syncadmin.services.event_sync import hook_events_prune
    from tests.factories import HookEventFactory

    now = timezone.now()
    recent = HookEventFactory(signature_digest="a" * 64, received_at=now - timedelta(minutes=9))
    old = HookEventFactory(signature_digest="b" * 64, received_at=now - timedelta(minutes=11))
    ancient = HookEventFactory(received_at=now - timedelta(days=31))

    post(client, "zuora", zuora_event())
    hook_events_prune()

    recent.refresh_from_db()
    old.refresh_from_db()
    assert recent.signature_digest == "a" * 64
    assert old.signature_digest is None
    assert not HookEvent.objects.filter(pk=ancient.pk).exists()
