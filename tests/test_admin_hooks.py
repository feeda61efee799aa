"""The Near-real-time page and the dashboard's near-real-time section: who may change the hooks,
a secret shown once and never again, what to paste into Zuora and NetSuite, and what the
dashboard says of the events received."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from connectors.webhooks import signed_headers
from syncadmin.models import HookSettings, Master
from syncadmin.services.event_sync import RETRY_SCHEDULE
from tests.factories import HookEventFactory, HookSettingsFactory, SyncPreferencesFactory

PAGE = "/admin/syncadmin/hooksettings/"


@pytest.fixture(autouse=True)
def preferences(db):
    SyncPreferencesFactory()


def shown_once(content: bytes, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">[^<]*<br><code>([^<]+)</code>', content.decode())
    assert match, f"{element_id} not on the page"
    return match.group(1)


def signed_call(client, secret: str):
    raw = json.dumps({"event": "AccountUpdated", "accountId": "8a0000000000000000000001"}).encode()
    headers = signed_headers(secret, raw)
    headers.pop("Content-Type")
    return client.post("/hooks/zuora/", data=raw, content_type="application/json", headers=headers)


def test_the_page_shows_the_address_to_paste_and_zuoras_callout_settings(as_role, settings):
    settings.SITE_URL = "https://sync.example.com"
    page = as_role("Viewer").get(PAGE)

    assert page.status_code == 200
    text = page.content.decode()
    assert "https://sync.example.com/hooks/zuora/" in text
    assert "https://sync.example.com/hooks/netsuite/" in text
    assert "POST" in text
    assert "DataSource.Account.Id" in text and "DataSource.Account.AccountNumber" in text
    assert "changeType == 'UPDATE'" in text
    assert "Basic authentication" in text
    assert "connectors/netsuite/suitescript/README.md" in text


def test_a_viewer_reads_the_page_but_cannot_change_it(as_role):
    client = as_role("Viewer")

    page = client.get(PAGE)
    refused = client.post(PAGE, {"system": "zuora", "action": "enable"})

    assert b"Turn on" not in page.content
    assert b"Generate a secret" not in page.content
    assert refused.status_code == 403
    assert not HookSettings.objects.filter(enabled=True).exists()


def test_an_operator_cannot_generate_a_secret(as_role):
    response = as_role("Sync operator").post(PAGE, {"system": "zuora", "action": "generate_secret"})

    assert response.status_code == 403
    assert not HookSettings.objects.exclude(secret_encrypted="").exists()


def test_a_generated_secret_is_shown_once_and_signs_calls(as_role, caplog):
    caplog.set_level(logging.DEBUG)
    client = as_role("Sync admin")
    client.post(PAGE, {"system": "zuora", "action": "enable"})

    answer = client.post(PAGE, {"system": "zuora", "action": "generate_secret"})
    secret = shown_once(answer.content, "shown-secret-zuora")

    assert "no-store" in answer["Cache-Control"]
    assert signed_call(client, secret).status_code == 202
    assert secret.encode() not in client.get(PAGE).content
    assert secret.encode() not in client.get("/admin/syncadmin/syncrun/dashboard/").content
    assert secret not in HookSettings.objects.get(system="zuora").secret_encrypted
    assert secret not in caplog.text


def test_rotating_the_secret_refuses_calls_signed_with_the_old_one(as_role):
    client = as_role("Sync admin")
    client.post(PAGE, {"system": "zuora", "action": "enable"})
    old = shown_once(
        client.post(PAGE, {"system": "zuora", "action": "generate_secret"}).content,
        "shown-secret-zuora",
    )

    new = shown_once(
        client.post(PAGE, {"system": "zuora", "action": "generate_secret"}).content,
        "shown-secret-zuora",
    )

    assert old != new
    assert signed_call(client, old).status_code == 401
    assert signed_call(client, new).status_code == 202


def test_turning_a_hook_on_and_off_keeps_the_retry_schedule_in_step(as_role):
    client = as_role("Sync admin")

    client.post(PAGE, {"system": "netsuite", "action": "enable"})
    assert HookSettings.objects.get(system="netsuite").enabled
    assert Schedule.objects.filter(name=RETRY_SCHEDULE).exists()

    client.post(PAGE, {"system": "netsuite", "action": "disable"})
    assert not HookSettings.objects.get(system="netsuite").enabled
    assert not Schedule.objects.filter(name=RETRY_SCHEDULE).exists()


def test_basic_auth_password_is_generated_shown_once_and_accepted(as_role):
    client = as_role("Sync admin")
    client.post(PAGE, {"system": "zuora", "action": "enable"})

    answer = client.post(
        PAGE, {"system": "zuora", "action": "basic_auth", "basic_username": "zuora-callout"}
    )
    password = shown_once(answer.content, "shown-password")
    token = base64.b64encode(f"zuora-callout:{password}".encode()).decode()
    call = client.post(
        "/hooks/zuora/",
        data=json.dumps({"event": "AccountCreated", "accountNumber": "A00000001"}),
        content_type="application/json",
        headers={"Authorization": f"Basic {token}"},
    )

    assert call.status_code == 200
    assert password.encode() not in client.get(PAGE).content


def test_a_user_name_with_a_colon_is_refused_next_to_the_field(as_role):
    answer = as_role("Sync admin").post(
        PAGE, {"system": "zuora", "action": "basic_auth", "basic_username": "a:b"}
    )

    assert b"may not contain a colon" in answer.content
    assert not HookSettings.objects.filter(basic_username="a:b").exists()


def test_the_dashboard_shows_the_last_event_and_the_outcomes_of_the_last_24_hours(as_role):
    HookSettingsFactory(system=Master.ZUORA)
    HookEventFactory(outcome="synced", received_at=timezone.now() - timedelta(hours=30))
    HookEventFactory.create_batch(2, outcome="coalesced")
    HookEventFactory(outcome="failed")
    HookEventFactory(outcome="synced", record_key="A00000777")

    page = as_role("Viewer").get("/admin/syncadmin/syncrun/dashboard/")

    row = re.search(r'<tr id="near-real-time-zuora">(.*?)</tr>', page.content.decode(), re.S).group(
        1
    )
    assert "A00000777: Synced" in row
    assert "4 (2 coalesced, 1 synced, 1 failed)" in row
    netsuite = re.search(
        r'<tr id="near-real-time-netsuite">(.*?)</tr>', page.content.decode(), re.S
    ).group(1)
    assert "Off" in netsuite and "None yet" in netsuite
