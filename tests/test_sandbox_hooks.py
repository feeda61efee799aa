"""The sandboxes announce saves like the vendors: a Zuora account create/update posts a
callout, a NetSuite customer save posts what the syncadmin user event script posts. A tiny
receiver here checks each call with connectors.webhooks, the way syncadmin's hook does."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandboxes.__main__ import build_parser, hook_settings
from connectors.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRefused,
    signature,
    signature_verify,
)

SECRET = "whsec-test-3f9a"
SUITESCRIPT_DIR = Path(__file__).resolve().parent.parent / "connectors/netsuite/suitescript"


@dataclass
class Receiver:
    """Records the calls it gets; answers each with the next of `statuses` (then 202)."""

    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)
        return self.calls

    def verified_bodies(self) -> list[dict[str, Any]]:
        """The bodies of the calls, each checked against SECRET (raises SignatureRefused),
        without their eventIds (a retry repeats its event's)."""
        bodies = []
        for call in self.calls:
            signature_verify(
                SECRET,
                timestamp=call["headers"].get(TIMESTAMP_HEADER.lower()),
                signature_value=call["headers"].get(SIGNATURE_HEADER.lower()),
                body=call["raw"],
            )
            bodies.append(json.loads(call["raw"]))
        for body in bodies:
            assert body.pop("eventId")
        return bodies


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.arrived:
                status = state.statuses.pop(0) if state.statuses else 202
                state.calls.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "raw": raw,
                        "status": status,
                    }
                )
                state.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def free_port_url() -> str:
    """An address nothing listens on: a receiver that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/"


NEW_ACCOUNT = {
    "name": "Nordlicht GmbH",
    "currency": "EUR",
    "billCycleDay": 1,
    "paymentTerm": "Net 30",
    "billToContact": {"firstName": "Søren", "lastName": "Weiß", "country": "DE", "city": "Köln"},
}
NEW_CUSTOMER = {"companyName": "Hook Test Co", "subsidiary": {"id": "2"}}


# -- Zuora callouts ----------------------------------------------------------------------------
def test_zuora_account_create_and_update_post_signed_callouts(
    zuora_sandbox, zuora_client, receiver
):
    zuora_sandbox.hooks.configure(url=receiver.url, secret=SECRET)

    made = zuora_client.create_account(NEW_ACCOUNT, idempotency_key="hook-create")
    receiver.wait_for(1)
    zuora_client.update_account(made["accountId"], {"name": "Nordlicht AG"})
    receiver.wait_for(2)
    zuora_client.update_contact(made["billToContactId"], {"city": "Bonn"})
    receiver.wait_for(3)

    assert receiver.verified_bodies() == [
        {"event": event, "accountId": made["accountId"], "accountNumber": made["accountNumber"]}
        for event in ("AccountCreated", "AccountUpdated", "ContactUpdated")
    ]
    assert zuora_sandbox.hooks.wait_idle()
    assert zuora_sandbox.hooks.summary()["answers"] == {"202": 3}


def test_zuora_replayed_create_does_not_announce_the_account_twice(
    zuora_sandbox, zuora_client, receiver
):
    zuora_sandbox.hooks.configure(url=receiver.url, secret=SECRET)

    zuora_client.create_account(NEW_ACCOUNT, idempotency_key="same-key")
    zuora_client.create_account(NEW_ACCOUNT, idempotency_key="same-key")  # replayed answer

    assert zuora_sandbox.hooks.wait_idle()
    assert [b["event"] for b in receiver.verified_bodies()] == ["AccountCreated"]


def test_zuora_user_edit_in_the_ui_fires_the_callout_without_an_api_call(zuora_sandbox, receiver):
    zuora_sandbox.hooks.configure(url=receiver.url, secret=SECRET)
    account = next(iter(zuora_sandbox.accounts.values()))
    zuora_sandbox.reset_calls()

    answer = requests.post(
        f"{zuora_sandbox.url}/_sandbox/ui/accounts/{account['accountNumber']}",
        json={"name": "Renamed in the UI"},
        timeout=5,
    )

    assert answer.status_code == 200
    receiver.wait_for(1)
    assert receiver.verified_bodies() == [
        {
            "event": "AccountUpdated",
            "accountId": account["id"],
            "accountNumber": account["accountNumber"],
        }
    ]
    assert zuora_sandbox.accounts[account["id"]]["name"] == "Renamed in the UI"
    assert zuora_sandbox.call_summary()["total"] == 0  # no API call was counted


def test_zuora_callout_with_basic_auth_instead_of_a_signature(
    zuora_sandbox, zuora_client, receiver
):
    zuora_sandbox.hooks.configure(url=receiver.url, basic_user="zuora", basic_password="pa55")

    zuora_client.create_account(NEW_ACCOUNT, idempotency_key="basic")

    call = receiver.wait_for(1)[0]
    expected = "Basic " + base64.b64encode(b"zuora:pa55").decode()
    assert call["headers"]["authorization"] == expected
    assert SIGNATURE_HEADER.lower() not in call["headers"]
    assert json.loads(call["raw"])["event"] == "AccountCreated"


# -- NetSuite user event -----------------------------------------------------------------------
def test_netsuite_customer_saves_post_signed_user_event_calls(
    netsuite_sandbox, netsuite_client, receiver
):
    netsuite_sandbox.hooks.configure(url=receiver.url, secret=SECRET)

    created = netsuite_client.create_customer(NEW_CUSTOMER)
    receiver.wait_for(1)
    netsuite_client.update_customer(created, {"phone": "555-0101"})
    receiver.wait_for(2)
    upserted = netsuite_client.upsert_customer("ZA-HOOK-1", {**NEW_CUSTOMER, "companyName": "U"})
    receiver.wait_for(3)
    netsuite_client.upsert_customer("ZA-HOOK-1", {"companyName": "U2"})
    receiver.wait_for(4)
    netsuite_sandbox.user_edit(int(created), {"phone": "555-0102"}, inline=True)
    receiver.wait_for(5)

    assert receiver.verified_bodies() == [
        {"recordType": "customer", "id": created, "eventType": "create"},
        {"recordType": "customer", "id": created, "eventType": "edit"},
        {"recordType": "customer", "id": upserted, "eventType": "create"},
        {"recordType": "customer", "id": upserted, "eventType": "edit"},
        {"recordType": "customer", "id": created, "eventType": "xedit"},
    ]


def test_netsuite_refused_save_announces_nothing(netsuite_sandbox, netsuite_client, receiver):
    netsuite_sandbox.hooks.configure(url=receiver.url, secret=SECRET)

    with pytest.raises(Exception, match="Company Name"):
        netsuite_client.create_customer({"subsidiary": {"id": "2"}})

    assert netsuite_sandbox.hooks.wait_idle()
    assert receiver.calls == []
    assert netsuite_sandbox.hooks.summary()["counts"] == {}


# -- delivery ----------------------------------------------------------------------------------
def test_delivery_is_retried_while_the_receiver_answers_5xx(
    netsuite_sandbox, netsuite_client, receiver
):
    netsuite_sandbox.hooks.configure(url=receiver.url, secret=SECRET, retry_delay_seconds=0.05)
    receiver.statuses = [503, 500]

    netsuite_client.create_customer(NEW_CUSTOMER)

    assert netsuite_sandbox.hooks.wait_idle()
    assert [c["status"] for c in receiver.calls] == [503, 500, 202]
    assert len(receiver.verified_bodies()) == 3  # each retry signed afresh
    summary = netsuite_sandbox.hooks.summary()
    assert summary["counts"] == {"events": 1, "attempts": 3, "retries": 2, "delivered": 1}
    assert summary["answers"] == {"503": 1, "500": 1, "202": 1}


def test_a_refusal_from_the_receiver_is_final(zuora_sandbox, zuora_client, receiver):
    zuora_sandbox.hooks.configure(url=receiver.url, secret=SECRET, retry_delay_seconds=0.05)
    receiver.statuses = [409]  # not the master: the receiver ignores it, a retry would too

    zuora_client.create_account(NEW_ACCOUNT, idempotency_key="refused")

    assert zuora_sandbox.hooks.wait_idle()
    assert len(receiver.calls) == 1
    assert zuora_sandbox.hooks.summary()["counts"]["refused"] == 1


def test_a_receiver_that_is_down_does_not_break_the_api_answer(zuora_sandbox, zuora_client, caplog):
    zuora_sandbox.hooks.configure(
        url=free_port_url(), secret=SECRET, retries=2, retry_delay_seconds=0.05
    )

    made = zuora_client.create_account(NEW_ACCOUNT, idempotency_key="down")

    assert made["accountId"] in zuora_sandbox.accounts
    assert zuora_sandbox.hooks.wait_idle()
    summary = zuora_sandbox.hooks.summary()
    assert summary["counts"] == {"events": 1, "attempts": 3, "retries": 2, "failed": 1}
    assert summary["answers"] == {"no answer": 3}
    assert "gave up on the hook call for account" in caplog.text
    assert SECRET not in caplog.text


def test_a_receiver_that_never_answers_does_not_hold_up_the_api_answer(
    netsuite_sandbox, netsuite_client
):
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks/"
        netsuite_sandbox.hooks.configure(url=url, secret=SECRET, retries=0, timeout_seconds=3)

        started = time.monotonic()
        created = netsuite_client.create_customer(NEW_CUSTOMER)
        answered_after = time.monotonic() - started

        assert netsuite_sandbox.customer(created) is not None
        assert answered_after < 3  # the call waited for no hook
        assert netsuite_sandbox.hooks.wait_idle(timeout=10)
    assert netsuite_sandbox.hooks.summary()["counts"]["failed"] == 1


def test_hooks_switched_off_drop_events_and_count_them(zuora_sandbox, zuora_client, receiver):
    zuora_sandbox.hooks.configure(url=receiver.url, secret=SECRET)
    answer = requests.post(
        f"{zuora_sandbox.url}/_sandbox/hooks", json={"enabled": False}, timeout=5
    )
    assert answer.status_code == 200
    assert SECRET not in answer.text

    zuora_client.create_account(NEW_ACCOUNT, idempotency_key="lost")

    assert zuora_sandbox.hooks.wait_idle()
    assert receiver.calls == []
    assert zuora_sandbox.hooks.summary()["counts"] == {"events": 1, "dropped": 1}


def test_only_the_sandbox_given_a_hook_sends(systems, receiver):
    systems.netsuite.hooks.configure(url=receiver.url, secret=SECRET)

    systems.zuora_client().update_account(next(iter(systems.zuora.accounts)), {"name": "Z"})
    systems.netsuite_client().create_customer(NEW_CUSTOMER)

    receiver.wait_for(1)
    assert systems.zuora.hooks.wait_idle() and systems.netsuite.hooks.wait_idle()
    assert [b.get("recordType") for b in receiver.verified_bodies()] == ["customer"]
    assert systems.zuora.hooks.summary()["counts"] == {}


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hook-url", "http://h/hooks/zuora/"], "needs a secret"),
        (["--hook-url", "ftp://h/", "--hook-secret", "s"], "must be http"),
        (["--hook-url", "http://h/", "--hook-basic-user", "u"], "both a user name and a password"),
    ],
)
def test_bad_hook_options_are_refused_with_a_reason(argv, message):
    args = build_parser().parse_args(["zuora", *argv])
    with pytest.raises(ValueError, match=message):
        hook_settings(args)


def test_hook_options_make_settings():
    args = build_parser().parse_args(
        ["netsuite", "--hook-url", "http://h/hooks/netsuite/", "--hook-secret", "s"]
    )
    settings = hook_settings(args)
    assert settings is not None
    assert (settings.url, settings.secret, settings.retries) == ("http://h/hooks/netsuite/", "s", 3)
    assert hook_settings(build_parser().parse_args(["netsuite"])) is None


# -- the SuiteScript ---------------------------------------------------------------------------
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_suitescript_is_valid_javascript():
    script = SUITESCRIPT_DIR / "syncadmin_customer_hook.js"
    subprocess.run([NODE, "--check", str(script)], check=True, capture_output=True)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_suitescript_sends_the_call_python_verifies():
    """The harness runs afterSubmit with stubbed N/* modules (N/crypto on node's HMAC) and
    prints what the script would post."""
    run = run_harness("edit")
    assert run.returncode == 0, run.stderr
    posted = json.loads(run.stdout)

    body = posted["body"].encode("utf-8")
    headers = posted["headers"]
    sent = json.loads(body)
    assert sent.pop("eventId")  # two saves within one second are two different calls
    assert sent == {"recordType": "customer", "id": "4711", "eventType": "edit"}
    assert posted["url"] == "https://syncadmin.example.com/hooks/netsuite/"
    assert headers[SIGNATURE_HEADER] == signature(SECRET, headers[TIMESTAMP_HEADER], body)
    signature_verify(
        SECRET,
        timestamp=headers[TIMESTAMP_HEADER],
        signature_value=headers[SIGNATURE_HEADER],
        body=body,
    )
    with pytest.raises(SignatureRefused):
        signature_verify(
            "another secret",
            timestamp=headers[TIMESTAMP_HEADER],
            signature_value=headers[SIGNATURE_HEADER],
            body=body,
        )


def run_harness(event: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NODE or "node", str(SUITESCRIPT_DIR / "test" / "harness.js"), SECRET, event, "4711"],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_suitescript_never_fails_the_users_save_when_the_receiver_is_unreachable():
    run = run_harness("edit_unreachable")

    assert run.returncode == 0, run.stderr
    assert "ERROR syncadmin hook not sent: customer 4711" in run.stderr
    assert SECRET not in run.stderr


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("event", ["delete", "edit_skipped"])
def test_suitescript_announces_neither_deletes_nor_saves_by_the_skipped_role(event):
    run = run_harness(event)

    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # nothing posted


def test_run_sandboxes_refuses_a_hook_without_a_secret(monkeypatch):
    from django.core.management import CommandError, call_command

    monkeypatch.delenv("SANDBOX_HOOK_SECRET", raising=False)
    with pytest.raises(CommandError, match="needs a secret"):
        call_command(
            "run_sandboxes", "--hook-base-url", "http://127.0.0.1:8000", "--hook-secret", ""
        )


def test_netsuite_ui_edits_fire_the_user_event_without_an_api_call(netsuite_sandbox, receiver):
    netsuite_sandbox.hooks.configure(url=receiver.url, secret=SECRET)
    netsuite_sandbox.reset_calls()

    inline = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/ui/customer/2?inline=true",
        json={"phone": "555-0199"},
        timeout=5,
    )
    address = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/ui/customer/3/address", json={"city": "Oslo"}, timeout=5
    )
    refused = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/ui/customer/2", json={"email": "not an email"}, timeout=5
    )

    assert (inline.status_code, address.status_code, refused.status_code) == (204, 204, 400)
    assert "Invalid email address" in refused.text
    receiver.wait_for(2)
    assert netsuite_sandbox.hooks.wait_idle()
    assert receiver.verified_bodies() == [
        {"recordType": "customer", "id": "2", "eventType": "xedit"},
        {"recordType": "customer", "id": "3", "eventType": "edit"},
    ]
    assert netsuite_sandbox.customer(2)["phone"] == "555-0199"
    assert netsuite_sandbox.call_summary()["total"] == 0


def test_two_saves_within_a_second_are_two_calls_with_their_own_event_ids(
    netsuite_sandbox, receiver
):
    netsuite_sandbox.hooks.configure(url=receiver.url, secret=SECRET)
    netsuite_sandbox.user_edit(2, {"comments": "first"})
    netsuite_sandbox.user_edit(2, {"comments": "second"})

    receiver.wait_for(2)
    assert netsuite_sandbox.hooks.wait_idle()
    event_ids = {json.loads(call["raw"])["eventId"] for call in receiver.calls}
    assert len(event_ids) == 2  # the receiver would refuse a repeated call as a replay
