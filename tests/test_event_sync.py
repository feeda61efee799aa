"""Event syncs over real HTTP: a signed call to a hook, then the worker's event sync against the
sandboxes. Coalescing, a child's event before its parent, an event while a scheduled run holds
the lease, the watermark, and a system that cannot be reached."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.netsuite import fields as ns_fields
from connectors.webhooks import signed_headers
from syncadmin.models import (
    AccountResult,
    HookEvent,
    Master,
    PendingSync,
    RecordLink,
    SyncCursor,
    SyncRun,
)
from syncadmin.services.event_sync import event_sync_process
from syncadmin.services.netsuite_customers import parent_ref
from tests.conftest import FAST_CLIENTS
from tests.factories import HOOK_TEST_SECRET, HookSettingsFactory, SyncPreferencesFactory
from tests.test_sync_zuora_to_netsuite import customer_for, ns_writes, syncable, zuora_put


@pytest.fixture
def hooks_on(systems: Any, settings: Any, monkeypatch: Any) -> list[int]:
    """The sandboxes, the Zuora hook on, a short coalescing window; returns the event syncs
    queued (the test runs the worker's task itself, as the worker would)."""
    settings.HOOKS_COALESCE_SECONDS = 0.3
    HookSettingsFactory(system=Master.ZUORA)
    HookSettingsFactory(system=Master.NETSUITE)
    queued: list[int] = []
    monkeypatch.setattr("syncadmin.services.event_sync.event_sync_queue", lambda: queued.append(1))
    return queued


def notify(client: Any, system: str, body: dict[str, Any], *, sent_at: float | None = None) -> Any:
    raw = json.dumps(body).encode()
    headers = signed_headers(HOOK_TEST_SECRET, raw, now=sent_at)
    headers.pop("Content-Type")
    response = client.post(
        f"/hooks/{system}/", data=raw, content_type="application/json", headers=headers
    )
    assert response.status_code == 202, response.content
    return response


def account_event(account: dict[str, Any], event: str = "AccountUpdated") -> dict[str, Any]:
    return {"event": event, "accountId": account["id"], "accountNumber": account["accountNumber"]}


def roots(systems: Any) -> list[dict[str, Any]]:
    """Syncable accounts that are nobody's child and nobody's parent."""
    parents = {a.get("parentId") for a in systems.zuora.accounts.values()}
    return [a for a in syncable(systems) if not a.get("parentId") and a["id"] not in parents]


def process() -> list[Any]:
    return event_sync_process(client_options=FAST_CLIENTS)


def test_several_events_for_one_record_make_one_sync_and_one_write(hooks_on, systems, client):
    account = roots(systems)[0]
    sent_at = time.time()
    for offset, event in enumerate(["AccountCreated", "AccountUpdated", "ContactUpdated"]):
        notify(client, "zuora", account_event(account, event), sent_at=sent_at + offset)

    reports = process()

    assert len(reports) == 1
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.created) == ("event", "succeeded", 1)
    assert RecordLink.objects.filter(zuora_account_id=account["id"]).count() == 1
    assert ns_writes(systems) == 1
    assert systems.netsuite.customers_count() == 1
    outcomes = sorted(HookEvent.objects.values_list("outcome", flat=True))
    assert outcomes == ["coalesced", "coalesced", "synced"]
    assert set(HookEvent.objects.values_list("run", flat=True)) == {run.pk}
    assert not PendingSync.objects.exists()
    assert hooks_on  # each accepted call queued the worker's task


def test_an_edit_announced_by_an_event_reaches_netsuite(hooks_on, systems, client, run_sync):
    account = roots(systems)[0]
    run_sync()
    zuora_put(systems, f"/v1/accounts/{account['id']}", {"notes": "Changed a moment ago"})
    systems.netsuite.reset_calls()

    notify(client, "zuora", account_event(account))
    process()

    assert customer_for(systems, account["id"])["comments"] == "Changed a moment ago"
    assert ns_writes(systems) == 1
    event = HookEvent.objects.get()
    assert (event.outcome, event.message) == ("synced", "Updated in NetSuite.")


def test_an_account_number_is_resolved_to_its_account(hooks_on, systems, client):
    account = roots(systems)[0]

    notify(client, "zuora", {"event": "AccountCreated", "accountNumber": account["accountNumber"]})
    process()

    assert RecordLink.objects.filter(zuora_account_id=account["id"]).exists()
    assert HookEvent.objects.get().source_id == account["id"]


def test_an_unknown_account_number_fails_its_event_and_syncs_nothing(hooks_on, systems, client):
    notify(client, "zuora", {"event": "AccountCreated", "accountNumber": "A99999999"})

    process()

    event = HookEvent.objects.get()
    assert (event.outcome, event.message) == ("failed", "Zuora has no account numbered A99999999.")
    assert not SyncRun.objects.exists()
    assert not PendingSync.objects.exists()


def test_an_event_for_a_child_before_its_parent_syncs_the_parent_first(hooks_on, systems, client):
    parent, child = roots(systems)[:2]
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]

    notify(client, "zuora", account_event(child, "AccountCreated"))
    process()

    parent_link = RecordLink.objects.get(zuora_account_id=parent["id"])
    child_customer = customer_for(systems, child["id"])
    assert parent_ref(child_customer) == parent_link.netsuite_internal_id
    order = list(AccountResult.objects.order_by("id").values_list("source_id", "outcome"))
    assert order == [(parent["id"], "created"), (child["id"], "created")]
    assert HookEvent.objects.get().outcome == "synced"


def test_event_syncs_never_move_the_scheduled_runs_watermark(hooks_on, systems, client, run_sync):
    run_sync(trigger="schedule")
    before = SyncCursor.objects.get().watermark
    account = roots(systems)[0]
    zuora_put(systems, f"/v1/accounts/{account['id']}", {"notes": "Changed after the run"})

    notify(client, "zuora", account_event(account))
    process()

    assert SyncCursor.objects.get().watermark == before
    assert customer_for(systems, account["id"])["comments"] == "Changed after the run"
    # The scheduled sweep still sees the edit (and finds nothing left to write).
    systems.netsuite.reset_calls()
    report = run_sync(trigger="schedule")
    assert report.counts.get("unchanged", 0) >= 1
    assert ns_writes(systems) == 0


def test_a_system_that_cannot_be_reached_leaves_the_event_pending_for_a_retry(
    hooks_on, systems, client
):
    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    systems.zuora.stop()

    process()

    pending = PendingSync.objects.get()
    assert pending.attempts == 1
    assert pending.not_before is not None
    assert HookEvent.objects.get().outcome == "queued"
    assert not SyncRun.objects.filter(status="skipped").exists()


def test_a_netsuite_customer_event_reaches_zuora_when_netsuite_is_master(hooks_on, systems, client):
    systems.netsuite.seed(customers=5, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    customer = systems.netsuite.sql(
        "SELECT id FROM customer WHERE parent IS NULL AND "
        f"{ns_fields.SEND_TO_ZUORA} = 'T' ORDER BY id"
    )[0]

    notify(
        client,
        "netsuite",
        {"recordType": "customer", "id": str(customer["id"]), "eventType": "edit"},
    )
    process()

    link = RecordLink.objects.get(netsuite_internal_id=str(customer["id"]))
    assert link.zuora_account_id in systems.zuora.accounts
    assert HookEvent.objects.get().outcome == "synced"


@pytest.mark.django_db(transaction=True)
def test_an_event_during_a_scheduled_run_waits_for_it_then_syncs_once(
    hooks_on, systems, client, run_sync, settings
):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.1
    account = roots(systems)[0]
    tried_during_the_run: list[Any] = []
    first = threading.Lock()

    def edit_and_notify(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write" and first.acquire(blocking=False):
            zuora_put(systems, f"/v1/accounts/{account['id']}", {"notes": "Edited mid-run"})
            notify(client, "zuora", account_event(account))
            time.sleep(settings.HOOKS_COALESCE_SECONDS)
            tried_during_the_run.append(process())  # a worker takes the event's task now

    scheduled = run_sync(trigger="schedule", fault_hook=edit_and_notify)

    assert tried_during_the_run == [[]]  # held: the lease was the scheduled run's
    assert not SyncRun.objects.filter(status="skipped").exists()
    assert PendingSync.objects.count() == 1
    assert hooks_on  # the end of the scheduled run queued the event sync again
    process()

    event_run = SyncRun.objects.get(trigger="event")
    assert event_run.started_at >= scheduled.run.finished_at
    assert customer_for(systems, account["id"])["comments"] == "Edited mid-run"
    assert systems.netsuite.customers_count() == len(syncable(systems))
    assert not PendingSync.objects.exists()
    assert HookEvent.objects.get().outcome == "synced"


@pytest.mark.django_db(transaction=True)
def test_an_event_sync_and_a_scheduled_run_started_together_never_work_at_once(
    hooks_on, systems, client, run_sync, settings
):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.1
    systems.netsuite.config.update({"latency_ms": 20})
    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    time.sleep(settings.HOOKS_COALESCE_SECONDS)
    barrier = threading.Barrier(2)

    def event_worker() -> None:
        from django.db import connection

        barrier.wait()
        try:
            process()
        finally:
            connection.close()

    worker = threading.Thread(target=event_worker)
    worker.start()
    barrier.wait()
    run_sync(trigger="schedule")
    worker.join()
    process()  # what the end of the scheduled run queued, if the event sync was held

    runs = list(SyncRun.objects.exclude(status="skipped").order_by("started_at"))
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at <= later.started_at
    assert SyncRun.objects.filter(status="skipped", trigger="event").count() == 0
    assert systems.netsuite.customers_count() == len(syncable(systems))
    assert RecordLink.objects.filter(zuora_account_id=account["id"]).count() == 1
    assert not PendingSync.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_that_falls_due_during_an_event_sync_runs_right_after_it(
    hooks_on, systems, client, run_sync, settings, monkeypatch
):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.1
    systems.netsuite.config.update({"latency_ms": 150})
    queued_runs: list[str] = []
    monkeypatch.setattr(
        "syncadmin.services.event_sync.sync_run_queue",
        lambda *, trigger: queued_runs.append(trigger),
    )
    for account in roots(systems)[:3]:
        notify(client, "zuora", account_event(account))
    scheduled: list[Any] = []

    def schedule_fires_mid_event_run() -> None:
        from django.db import connection

        try:
            while not SyncRun.objects.filter(trigger="event", status="running").exists():
                time.sleep(0.02)
            scheduled.append(run_sync(trigger="schedule"))
        finally:
            connection.close()

    clock = threading.Thread(target=schedule_fires_mid_event_run)
    clock.start()
    process()
    clock.join()

    assert scheduled[0].status == "skipped"
    assert queued_runs == ["schedule"]


def test_a_record_edited_without_pause_is_still_synced_within_the_hold(
    hooks_on, systems, client, settings
):
    settings.HOOKS_COALESCE_SECONDS = 0.2  # the hold is then 10 s
    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    PendingSync.objects.update(first_seen=timezone.now() - timedelta(seconds=11))
    PendingSync.objects.update(last_seen=timezone.now() + timedelta(seconds=60))

    process()  # without the hold it would wait for a quiet moment that never comes

    assert RecordLink.objects.filter(zuora_account_id=account["id"]).exists()


def test_the_worker_task_syncs_the_pending_records(hooks_on, systems, client):
    from syncadmin.tasks import event_sync_task

    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    time.sleep(0.3)

    result = event_sync_task()

    assert result == {"runs": [SyncRun.objects.get(trigger="event").pk]}
    assert RecordLink.objects.filter(zuora_account_id=account["id"]).exists()


def test_a_record_that_fails_shows_why_on_its_event_and_sends_no_email_per_edit(
    hooks_on, systems, client, mailoutbox
):
    SyncPreferencesFactory(alert_emails="finance@example.com")
    account = next(
        a
        for a in roots(systems)
        if systems.zuora.contacts[a["billToId"]].get("country") == "United States"
    )
    zuora_put(systems, f"/v1/contacts/{account['billToId']}", {"state": "Calfornia"})

    notify(client, "zuora", account_event(account))
    process()

    event = HookEvent.objects.get()
    assert event.outcome == "failed"
    assert event.message.startswith("Failed: ") and "Calfornia" in event.message
    assert SyncRun.objects.get(trigger="event").status == "partly_failed"
    assert mailoutbox == []  # the scheduled run reports it, once per run


def test_a_signed_call_over_http_reaches_netsuite(hooks_on, systems, live_server):
    import requests

    account = roots(systems)[0]
    raw = json.dumps(account_event(account, "AccountCreated")).encode()

    answer = requests.post(
        f"{live_server.url}/hooks/zuora/",
        data=raw,
        headers=signed_headers(HOOK_TEST_SECRET, raw),
        timeout=10,
    )
    process()

    assert answer.status_code == 202
    assert answer.json()["queued"] is True
    assert customer_for(systems, account["id"])["companyName"] == account["name"]


def test_a_zuora_edit_reaches_netsuite_through_the_sandboxes_callout(
    hooks_on, systems, live_server, run_sync
):
    """End to end over HTTP: a user's edit in Zuora fires its callout (signed, as the sandbox
    sends it), the running app accepts it, the event sync writes the customer. The sync's own
    NetSuite write fires NetSuite's hook too, which answers 409 and changes nothing."""
    run_sync()
    account = roots(systems)[0]
    systems.zuora.hooks.configure(url=f"{live_server.url}/hooks/zuora/", secret=HOOK_TEST_SECRET)
    systems.netsuite.hooks.configure(
        url=f"{live_server.url}/hooks/netsuite/", secret=HOOK_TEST_SECRET
    )

    systems.zuora.user_edit(account["id"], {"name": "Renamed In Zuora Ltd"})
    assert systems.zuora.hooks.wait_idle()
    process()
    assert systems.netsuite.hooks.wait_idle()

    assert systems.zuora.hooks.answers["202"] == 1
    assert customer_for(systems, account["id"])["companyName"] == "Renamed In Zuora Ltd"
    assert SyncRun.objects.get(trigger="event").status == "succeeded"
    assert systems.netsuite.hooks.answers["409"] >= 1
    assert HookEvent.objects.filter(outcome="synced").count() == 1


def test_a_netsuite_save_reaches_zuora_through_the_user_event_call(hooks_on, systems, live_server):
    """End to end over HTTP with NetSuite as master: a customer saved in NetSuite's UI sends
    the user event script's signed call, and the event sync creates its Zuora account."""
    systems.netsuite.seed(customers=5, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    customer = systems.netsuite.sql(
        "SELECT id FROM customer WHERE parent IS NULL AND "
        f"{ns_fields.SEND_TO_ZUORA} = 'T' ORDER BY id"
    )[0]
    systems.netsuite.hooks.configure(
        url=f"{live_server.url}/hooks/netsuite/", secret=HOOK_TEST_SECRET
    )

    systems.netsuite.user_edit(customer["id"], {"comments": "Saved in NetSuite"})
    assert systems.netsuite.hooks.wait_idle()
    process()

    # The user's save, then the Zuora id the sync wrote back (announced like any save; its
    # event sync finds nothing to change).
    assert systems.netsuite.hooks.answers["202"] == 2
    link = RecordLink.objects.get(netsuite_internal_id=str(customer["id"]))
    assert systems.zuora.accounts[link.zuora_account_id]["notes"] == "Saved in NetSuite"


def test_after_five_failed_attempts_the_record_is_left_to_the_scheduled_run(
    hooks_on, systems, client
):
    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    PendingSync.objects.update(attempts=4)
    systems.zuora.stop()

    process()

    assert not PendingSync.objects.exists()
    event = HookEvent.objects.get()
    assert event.outcome == "failed"
    assert "after 5 attempts" in event.message
    assert event.message.endswith("The next scheduled run syncs this record.")


def test_events_of_a_system_that_stopped_being_the_master_are_not_synced(hooks_on, systems, client):
    account = roots(systems)[0]
    notify(client, "zuora", account_event(account))
    SyncPreferencesFactory(netsuite_master=True)

    process()

    assert not SyncRun.objects.exists()
    assert not PendingSync.objects.exists()
    assert HookEvent.objects.get().message == (
        "Not synced: the master changed to NetSuite before this change was synced."
    )


def test_with_hierarchies_off_a_childs_event_syncs_the_child_alone(hooks_on, systems, client):
    SyncPreferencesFactory(hierarchies_enabled=False)
    parent, child = roots(systems)[:2]
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]

    notify(client, "zuora", account_event(child, "AccountCreated"))
    process()

    assert list(RecordLink.objects.values_list("zuora_account_id", flat=True)) == [child["id"]]


def test_a_scheduled_run_after_an_event_sync_still_retries_the_failures_before_it(
    hooks_on, systems, client, run_sync
):
    failing, edited = [
        a
        for a in roots(systems)
        if systems.zuora.contacts[a["billToId"]].get("country") == "United States"
    ][:2]
    zuora_put(systems, f"/v1/contacts/{failing['billToId']}", {"state": "Calfornia"})
    run_sync(trigger="schedule")
    run_sync(trigger="schedule")  # past the failing account's change: only its failure brings it
    zuora_put(systems, f"/v1/accounts/{edited['id']}", {"notes": "Changed"})
    notify(client, "zuora", account_event(edited))
    process()

    after = run_sync(trigger="schedule")

    retried = AccountResult.objects.get(run=after.run, source_id=failing["id"])
    assert retried.outcome == "failed"


def test_an_event_for_a_customer_netsuite_does_not_have_fails_and_says_so(
    hooks_on, systems, client
):
    SyncPreferencesFactory(netsuite_master=True)

    notify(client, "netsuite", {"recordType": "customer", "id": "987654", "eventType": "edit"})
    process()

    event = HookEvent.objects.get()
    assert event.outcome == "failed"
    assert event.message.startswith("Not synced: Not found in NetSuite")
