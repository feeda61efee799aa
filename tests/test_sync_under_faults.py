"""The sync when the vendors misbehave: garbled answers with status 200, long runs of transient
faults, refused credentials, a vendor that stops answering. Through the engine, against both
sandboxes over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult, RecordLink, SyncCursor, SyncRun
from syncadmin.services.preferences import preferences_update
from tests.test_sync_netsuite_to_zuora import accounts_for_customer
from tests.test_sync_netsuite_to_zuora import syncable as syncable_customers
from tests.test_sync_zuora_to_netsuite import customer_for, zuora_put
from tests.test_sync_zuora_to_netsuite import syncable as syncable_accounts

# Budget-based retries (no max_attempts), fast backoff, short timeouts.
BUDGET_CLIENTS = {"timeout": 2.0, "backoff_base": 0.01, "retry_budget": 20.0}
# A generous timeout: with one attempt, a slow answer on a busy machine would fail an account.
NO_RETRY_CLIENTS = {"timeout": 10.0, "backoff_base": 0.01, "max_attempts": 1}


@pytest.fixture
def ns_master(systems: Any) -> Any:
    systems.netsuite.seed(customers=20, seed=7)
    preferences_update(values={"master": "netsuite"})
    return systems


def faults(sandbox: Any, **config: Any) -> None:
    sandbox.config.update({"fault_rate": 1.0, **config})
    sandbox.faults_injected = 0


def no_faults(*sandboxes: Any) -> None:
    for sandbox in sandboxes:
        sandbox.config.update({"fault_rate": 0.0, "fault_limit": 0})


def failed_results(run: SyncRun | None = None) -> list[tuple[str, str]]:
    results = AccountResult.objects.filter(outcome="failed")
    if run is not None:
        results = results.filter(run=run)
    return list(results.values_list("error_code", "error_message"))


def unexpected_failures(run: SyncRun | None = None) -> list[tuple[str, str]]:
    """Failures other than the seeded ones (children of Draft or excluded parents)."""
    return [(c, m) for c, m in failed_results(run) if not m.startswith("Parent")]


def assert_every_link_names_both_records() -> None:
    assert not RecordLink.objects.filter(zuora_account_id="").exists()
    assert not RecordLink.objects.filter(netsuite_internal_id="").exists()


def assert_one_customer_per_account(systems: Any) -> None:
    expected = syncable_accounts(systems)
    assert systems.netsuite.customers_count() == len(expected)
    assert RecordLink.objects.count() == len(expected)
    assert_every_link_names_both_records()


def assert_one_account_per_customer(systems: Any) -> None:
    expected = syncable_customers(systems)
    for customer_id in expected:
        assert len(accounts_for_customer(systems, customer_id)) == 1, customer_id
    assert RecordLink.objects.count() == len(expected)
    assert_every_link_names_both_records()


def status_count(sandbox: Any, status: int) -> int:
    return sum(n for key, n in sandbox.statuses.items() if key.endswith(f" {status}"))


# -- garbled answers with status 200 ----------------------------------------------------------
@pytest.mark.parametrize("answer", ["truncated", "list", "object", "empty"])
def test_garbled_answers_to_netsuite_writes_are_retried_and_nothing_is_made_twice(
    systems, run_sync, answer
):
    # The sandbox carries the write out, then garbles its answer: a retry must not duplicate.
    faults(
        systems.netsuite,
        faults=["garbage"],
        garbage_answers=[answer],
        fault_paths="/record/",
        fault_limit=4,
    )

    report = run_sync(client_options=BUDGET_CLIENTS)

    assert systems.netsuite.faults_injected == 4
    assert not unexpected_failures(), unexpected_failures()
    assert report.counts["created"] == len(syncable_accounts(systems))
    assert_one_customer_per_account(systems)


@pytest.mark.parametrize("answer", ["truncated", "list", "object", "empty"])
def test_garbled_netsuite_query_answers_are_retried(systems, run_sync, answer):
    faults(
        systems.netsuite,
        faults=["garbage"],
        garbage_answers=[answer],
        fault_paths="/suiteql",
        fault_limit=3,
    )

    report = run_sync(client_options=BUDGET_CLIENTS)

    assert systems.netsuite.faults_injected == 3
    assert report.counts["created"] == len(syncable_accounts(systems))
    assert_one_customer_per_account(systems)


def test_a_netsuite_query_that_keeps_answering_garbage_stops_the_run_with_a_message(
    systems, run_sync
):
    faults(systems.netsuite, faults=["garbage"], garbage_answers=["truncated"])

    report = run_sync()

    assert report.status == SyncRun.Status.FAILED
    assert "NetSuite sent an unreadable answer to POST /services/rest/query/v1/suiteql" in (
        report.message
    )
    assert "not valid JSON" in report.message
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark is None


# A truncated answer was already retried: Zuora's check takes a 2xx that is not JSON for a proxy's
# page. The other shapes were taken for an empty page (no accounts at all) or crashed the run.
@pytest.mark.parametrize("answer", ["list", "object", "empty"])
def test_garbled_zuora_object_query_answers_are_retried_not_taken_as_no_accounts(
    systems, run_sync, answer
):
    faults(
        systems.zuora,
        faults=["garbage"],
        garbage_answers=[answer],
        fault_paths="^/object-query",
        fault_limit=2,
    )

    report = run_sync(client_options=BUDGET_CLIENTS)

    assert systems.zuora.faults_injected == 2
    assert report.counts["created"] == len(syncable_accounts(systems))
    assert_one_customer_per_account(systems)


@pytest.mark.parametrize("answer", ["list", "object", "empty"])
def test_a_garbled_zuora_token_answer_is_retried(systems, run_sync, answer):
    faults(
        systems.zuora,
        faults=["garbage"],
        garbage_answers=[answer],
        fault_paths="^/oauth/token",
        fault_limit=2,
    )

    report = run_sync(client_options=BUDGET_CLIENTS)

    assert systems.zuora.faults_injected == 2
    assert report.counts["created"] == len(syncable_accounts(systems))


@pytest.mark.parametrize("answer", ["list", "object", "empty"])
def test_a_garbled_answer_to_a_zuora_create_is_retried_without_a_second_account(
    ns_master, run_sync, answer
):
    # The create lands and its answer is garbled: the retry carries the same idempotency key,
    # so Zuora answers with the account the first try made.
    faults(
        ns_master.zuora,
        faults=["garbage"],
        garbage_answers=[answer],
        fault_paths="^/v1/accounts$",
        fault_limit=4,
    )

    report = run_sync(client_options=BUDGET_CLIENTS)

    assert ns_master.zuora.faults_injected == 4
    assert report.counts["created"] == len(syncable_customers(ns_master))
    assert_one_account_per_customer(ns_master)


def test_an_account_whose_create_answer_is_garbled_fails_alone_and_is_linked_next_run(
    ns_master, run_sync
):
    # Without retries, a create whose answer says nothing usable fails that customer only; the
    # account it made is found by its cross-reference on the next run, never made twice.
    faults(
        ns_master.zuora,
        faults=["garbage"],
        garbage_answers=["empty", "object"],
        fault_paths="^/v1/accounts$",
        fault_limit=3,
    )

    first = run_sync(client_options=NO_RETRY_CLIENTS)

    assert first.status == SyncRun.Status.PARTLY_FAILED
    garbled = [m for code, m in failed_results() if code == "BAD_ANSWER"]
    assert len(garbled) == 3, failed_results()
    assert all(
        m.startswith("Zuora sent an unreadable answer to POST /v1/accounts (HTTP 200: ")
        for m in garbled
    ), garbled
    assert first.counts["created"] == len(syncable_customers(ns_master)) - 3, failed_results()
    assert_every_link_names_both_records()

    no_faults(ns_master.zuora)
    second = run_sync()

    assert not unexpected_failures(second.run), unexpected_failures(second.run)
    assert second.counts["linked"] == 3
    assert_one_account_per_customer(ns_master)


# -- retries within a time budget ------------------------------------------------------------
def test_retry_after_is_honoured_and_a_long_run_of_throttling_is_outlasted(systems, run_sync):
    systems.zuora.retry_after_seconds = 1
    faults(systems.zuora, faults=["429"], fault_paths="^/oauth/token", fault_limit=5)

    # The clients' defaults: no count of attempts, a time budget.
    report = run_sync(client_options={"timeout": 2.0, "backoff_base": 0.01})

    assert report.counts["created"] == len(syncable_accounts(systems))
    tokens = [c["at"] for c in systems.zuora.call_log if c["endpoint"] == "oauth.token"]
    assert len(tokens) == 6
    gaps = [later - earlier for earlier, later in zip(tokens, tokens[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps  # Retry-After: 1


@pytest.mark.parametrize("direction", ["zuora", "netsuite"])
def test_a_quarter_of_calls_faulted_still_converges_in_one_run(systems, run_sync, direction):
    if direction == "netsuite":
        systems.netsuite.seed(customers=20, seed=7)
        preferences_update(values={"master": "netsuite"})
    for sandbox in (systems.zuora, systems.netsuite):
        sandbox.config.update(
            {
                "fault_rate": 0.25,
                "faults": ["429", "503", "html", "drop", "garbage"],
                "retry_after_seconds": 0,
            }
        )

    report = run_sync(client_options={"timeout": 2.0, "backoff_base": 0.01})

    assert not unexpected_failures(), unexpected_failures()
    no_faults(systems.zuora, systems.netsuite)
    if direction == "zuora":
        assert report.counts["created"] == len(syncable_accounts(systems))
        assert_one_customer_per_account(systems)
    else:
        assert report.counts["created"] == len(syncable_customers(systems))
        assert_one_account_per_customer(systems)
    again = run_sync()
    assert again.counts.get("created", 0) == 0
    assert not unexpected_failures(again.run)


# -- the circuit breaker -----------------------------------------------------------------------
def test_netsuite_credentials_revoked_mid_run_stop_it_with_one_message(systems, run_sync):
    tokens = dict(systems.netsuite._tokens)

    def revoke(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write":
            with systems.netsuite._auth_lock:
                systems.netsuite._tokens.clear()

    report = run_sync(fault_hook=revoke)

    assert report.status == SyncRun.Status.FAILED
    assert report.message.startswith("The run stopped: NetSuite refused the credentials")
    assert "then run again" in report.message
    assert status_count(systems.netsuite, 401) < 10
    assert not [m for _, m in failed_results() if "INVALID_LOGIN" in m]
    # Nothing more was tried: what was not reached stays due, the watermark did not move.
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark is None

    systems.netsuite._tokens.update(tokens)
    again = run_sync()

    assert not unexpected_failures(again.run), unexpected_failures(again.run)
    assert_one_customer_per_account(systems)


def test_zuora_refusing_the_write_backs_stops_the_run_and_keeps_what_netsuite_holds(
    systems, run_sync
):
    clients = dict(systems.zuora.clients)

    def revoke(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write":
            systems.zuora.clients.clear()
            systems.zuora.revoke_tokens()

    report = run_sync(fault_hook=revoke)

    assert report.status == SyncRun.Status.FAILED
    assert report.message.startswith("The run stopped: Zuora refused the credentials")
    assert status_count(systems.zuora, 401) < 10
    # The customers NetSuite holds are linked, their cross-references due on the next run.
    links = RecordLink.objects.all()
    assert links.count() == systems.netsuite.customers_count() > 0
    assert all(link.writeback_pending for link in links)

    systems.zuora.clients.update(clients)
    again = run_sync()

    assert not unexpected_failures(again.run), unexpected_failures(again.run)
    assert not RecordLink.objects.filter(writeback_pending=True).exists()
    assert_one_customer_per_account(systems)
    for link in RecordLink.objects.all():
        account = systems.zuora.accounts[link.zuora_account_id]
        assert account[z_fields.INTEGRATION_ID] == link.netsuite_internal_id


def test_accounts_an_aborted_run_did_not_reach_stay_due_and_the_next_run_syncs_them(
    systems, run_sync
):
    run_sync()
    watermark = SyncCursor.objects.get(direction="zuora_to_netsuite").watermark
    assert watermark is not None
    edited = [a["id"] for a in syncable_accounts(systems)][:6]
    for account_id in edited:
        zuora_put(systems, f"/v1/accounts/{account_id}", {"notes": "Edited before an outage"})
    tokens = dict(systems.netsuite._tokens)
    with systems.netsuite._auth_lock:
        systems.netsuite._tokens.clear()
    report = run_sync()

    assert report.status == SyncRun.Status.FAILED
    assert "NetSuite refused the credentials" in report.message
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark == watermark

    systems.netsuite._tokens.update(tokens)
    again = run_sync()

    assert again.counts.get("updated") == len(edited), again.counts
    for account_id in edited:
        assert customer_for(systems, account_id)["comments"] == "Edited before an outage"


def test_zuora_credentials_revoked_mid_run_stop_it_with_one_message(
    ns_master, run_sync, monkeypatch
):
    # Each write already on the wire when the credentials go gets its refusal (and may try one
    # token refresh); four at once keep that number small, whatever the machine's timing.
    writers = 4
    monkeypatch.setattr("syncadmin.services.netsuite_to_zuora.ZUORA_WRITE_CONCURRENCY", writers)
    clients = dict(ns_master.zuora.clients)

    def revoke(point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write":
            ns_master.zuora.clients.clear()
            ns_master.zuora.revoke_tokens()

    report = run_sync(fault_hook=revoke)

    assert report.status == SyncRun.Status.FAILED
    assert report.message.startswith("The run stopped: Zuora refused the credentials at http")
    assert "check the client id and secret" in report.message
    # Not one refusal per customer (20) or more: no new call goes once the breaker is open.
    assert status_count(ns_master.zuora, 401) <= 2 * writers + 2
    assert SyncCursor.objects.get(direction="netsuite_to_zuora").watermark is None

    ns_master.zuora.clients.update(clients)
    again = run_sync()

    assert not unexpected_failures(again.run), unexpected_failures(again.run)
    assert_one_account_per_customer(ns_master)


def test_a_hung_vendor_stops_the_run_early_instead_of_timing_out_account_by_account(
    systems, run_sync
):
    # Every write hangs; without a concurrency limit in the way, as a vendor that stopped
    # answering behaves (no 429s from the calls it holds).
    faults(
        systems.netsuite,
        faults=["hang"],
        fault_paths="/record/",
        hang_seconds=3.0,
        concurrency_limit=0,
    )
    started = time.monotonic()

    report = run_sync()

    took = time.monotonic() - started
    assert report.status == SyncRun.Status.FAILED
    assert report.message.startswith("The run stopped: NetSuite at http")
    assert "stopped answering" in report.message
    assert took < 10, took
    assert report.api_calls["netsuite"]["write"] < 15, report.api_calls
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark is None

    no_faults(systems.netsuite)
    deadline = time.monotonic() + 10
    while systems.netsuite._in_flight and time.monotonic() < deadline:
        time.sleep(0.05)  # the hung calls still hold NetSuite's concurrency slots
    again = run_sync()

    assert again.counts["created"] == len(syncable_accounts(systems))
    assert_one_customer_per_account(systems)
