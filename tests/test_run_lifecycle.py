"""A run's life: its lease and heartbeat, a killed run, a run that loses its lease or reaches
its deadline, the queue's timeout, and the schedule kept in step with the preferences."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from syncadmin.models import AccountResult, Direction, RecordLink, SyncCursor, SyncLease, SyncRun
from syncadmin.services import lease
from tests.conftest import TEST_KEY
from tests.factories import AccountResultFactory, SyncPreferencesFactory, SyncRunFactory
from tests.test_admin import preferences_form
from tests.test_sync_netsuite_to_zuora import syncable as customers_to_sync
from tests.test_sync_zuora_to_netsuite import syncable

BASE_DIR = Path(__file__).resolve().parent.parent
FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTLY_FAILED)
TTL = 2.0
HEARTBEAT = 0.25


def short_lease(settings: Any) -> None:
    settings.SYNC_LEASE_TTL_SECONDS = TTL
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = HEARTBEAT


def database_url() -> str:
    """The test database, for a process of its own."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def netsuite_customers_by_zuora_id(systems: Any) -> dict[str, int]:
    rows = systems.netsuite.sql(
        "SELECT externalid, COUNT(*) AS n FROM customer WHERE externalid IS NOT NULL "
        "GROUP BY externalid"
    )
    return {row["externalid"]: row["n"] for row in rows}


def assert_every_account_is_in_netsuite_once(systems: Any) -> None:
    counts = netsuite_customers_by_zuora_id(systems)
    wanted = {account["id"] for account in syncable(systems)}
    assert set(counts) == wanted
    assert set(counts.values()) == {1}
    assert set(RecordLink.objects.values_list("zuora_account_id", flat=True)) == wanted


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- a killed run -----------------------------------------------------------------------------
def zuora_master(systems: Any) -> Any:
    systems.zuora.seed(200, seed=42)
    systems.netsuite.config.update({"latency_ms": 150})

    def far_enough() -> bool:
        running = AccountResult.objects.filter(run__status=SyncRun.Status.RUNNING)
        return running.filter(outcome="created").count() >= 30

    def midway() -> bool:
        return systems.netsuite.customers_count() < len(syncable(systems))

    def all_synced_once() -> None:
        assert_every_account_is_in_netsuite_once(systems)

    return far_enough, midway, all_synced_once


def netsuite_master(systems: Any) -> Any:
    systems.netsuite.seed(customers=200, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    systems.netsuite.config.update({"latency_ms": 150})

    def far_enough() -> bool:
        running = AccountResult.objects.filter(run__status=SyncRun.Status.RUNNING)
        return running.filter(outcome="created").count() >= 30

    def midway() -> bool:
        return systems.zuora.calls_to("v1.account.create") < len(customers_to_sync(systems))

    def all_synced_once() -> None:
        wanted = customers_to_sync(systems)
        assert systems.zuora.calls_to("v1.account.create") == len(wanted)  # none made twice
        assert set(RecordLink.objects.values_list("netsuite_internal_id", flat=True)) == set(wanted)

    return far_enough, midway, all_synced_once


@pytest.mark.parametrize("master", [zuora_master, netsuite_master], ids=["zuora", "netsuite"])
@pytest.mark.django_db(transaction=True)
def test_a_killed_run_is_closed_as_interrupted_and_the_next_run_starts_within_the_lease_ttl(
    systems, run_sync, settings, tmp_path, master
):
    short_lease(settings)
    far_enough, midway, all_synced_once = master(systems)
    log = tmp_path / "run.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_customers", "--no-progress"],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "FIELD_ENCRYPTION_KEYS": TEST_KEY,
            "SYNC_LEASE_TTL_SECONDS": str(TTL),
            "SYNC_LEASE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        },
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:

        def killed_midway() -> bool:
            assert process.poll() is None, log.read_text()
            return far_enough()

        wait_for(killed_midway, 60, "the run to get far enough")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = timezone.now()
    ghost = SyncRun.objects.get()
    assert ghost.status == SyncRun.Status.RUNNING  # nobody has looked yet
    assert midway()  # its results were stored as it went, not all at its end

    report = run_sync()

    # The next run took over as soon as the dead run's lease lapsed, instead of being skipped.
    assert report.status in FINISHED
    assert (report.run.started_at - killed_at).total_seconds() <= TTL + 1.5
    assert not SyncRun.objects.filter(status=SyncRun.Status.SKIPPED).exists()
    ghost.refresh_from_db()
    assert ghost.status == SyncRun.Status.INTERRUPTED
    assert ghost.get_status_display().startswith("Interrupted")
    assert ghost.finished_at is not None
    recorded = AccountResult.objects.filter(run=ghost)
    assert ghost.processed == recorded.count()
    assert ghost.created == recorded.filter(outcome="created").count() >= 30
    assert "interrupted" in ghost.message
    assert "the next run picks up where it stopped" in ghost.message
    all_synced_once()


def test_the_dashboard_never_shows_a_run_whose_process_died_as_running(admin_client, db):
    # Its process stopped renewing the lease, which has lapsed.
    lease.lease_acquire(holder="worker-host:4242:dead", ttl=timedelta(seconds=-1))
    ghost = SyncRunFactory(
        status=SyncRun.Status.RUNNING, total=300, lease_holder="worker-host:4242:dead"
    )
    AccountResultFactory.create_batch(3, run=ghost, outcome="created")
    AccountResultFactory(run=ghost, failed=True)

    data = admin_client.get(reverse("admin:syncadmin_syncrun_progress")).json()["run"]

    assert data["id"] == ghost.pk
    assert not data["running"]
    assert data["status"] == "interrupted"
    assert (data["processed"], data["created"], data["failed"]) == (4, 3, 1)
    assert "picks up where it stopped" in data["message"]
    html = admin_client.get(reverse("admin:syncadmin_syncrun_dashboard")).content.decode()
    assert "Interrupted" in html


@pytest.mark.django_db(transaction=True)
def test_a_run_takes_over_a_lease_whose_holder_stopped_renewing_it(systems, run_sync, settings):
    short_lease(settings)
    assert lease.lease_acquire(holder="worker-host:4242:dead")
    ghost = SyncRunFactory(status=SyncRun.Status.RUNNING, lease_holder="worker-host:4242:dead")
    began = timezone.now()

    report = run_sync()

    assert report.status in FINISHED
    assert (report.run.started_at - began).total_seconds() <= TTL + 1.0
    ghost.refresh_from_db()
    assert ghost.status == SyncRun.Status.INTERRUPTED
    assert_every_account_is_in_netsuite_once(systems)


@pytest.mark.django_db(transaction=True)
def test_a_worker_started_in_place_of_a_killed_one_queues_a_run_that_takes_over(systems, settings):
    from django_q.brokers import get_broker
    from django_q.signals import post_spawn
    from django_q.signing import SignedPackage

    from syncadmin.tasks import sync_customers_task

    short_lease(settings)
    broker = get_broker()
    broker.purge_queue()
    # The worker running a scheduled sync was killed: its run is marked running, its lease
    # is still there and nobody renews it.
    assert lease.lease_acquire(holder="worker-host:4242:dead")
    ghost = SyncRunFactory(status=SyncRun.Status.RUNNING, lease_holder="worker-host:4242:dead")
    killed_at = timezone.now()

    post_spawn.send(sender="django_q", proc_name="Worker-2")  # the cluster starts a new one

    queued = broker.dequeue()
    assert queued, "no run was queued"
    broker.acknowledge(queued[0][0])
    task = SignedPackage.loads(queued[0][1])
    assert task["func"] == "syncadmin.tasks.sync_customers_task"
    result = sync_customers_task(**task["kwargs"])  # what the new worker runs
    run = SyncRun.objects.get(pk=result["run"])
    assert run.status in FINISHED
    assert (run.started_at - killed_at).total_seconds() <= TTL + 1.0
    ghost.refresh_from_db()
    assert ghost.status == SyncRun.Status.INTERRUPTED
    assert_every_account_is_in_netsuite_once(systems)


def _nonces_signed_in_a_worker(_: int) -> list[str]:
    import requests

    from connectors.netsuite.auth import tba_auth

    auth = tba_auth("1234567_SB1", "key", "secret", "token", "token-secret")
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/x"
    signed = [requests.Request("POST", url, auth=auth).prepare() for _ in range(3)]
    headers = [r.headers["Authorization"].decode() for r in signed]  # requests-oauthlib: bytes
    return [header.split('oauth_nonce="')[1].split('"')[0] for header in headers]


def test_workers_forked_from_one_cluster_never_sign_with_the_same_nonce():
    import multiprocessing

    # The cluster forks its workers, and forks a new one in place of a killed worker: NetSuite
    # refuses a nonce it has seen, so the replacement's run failed with INVALID_LOGIN.
    _nonces_signed_in_a_worker(0)  # the parent has the signer loaded, as the cluster has
    signed = []
    for worker in (1, 2):  # each a process of its own, forked from the same parent
        with multiprocessing.get_context("fork").Pool(1) as pool:
            signed.append(pool.apply(_nonces_signed_in_a_worker, (worker,)))

    assert not set(signed[0]) & set(signed[1])


def test_a_worker_that_starts_with_no_run_going_queues_nothing(db):
    from django_q.brokers import get_broker
    from django_q.signals import post_spawn

    broker = get_broker()
    broker.purge_queue()

    post_spawn.send(sender="django_q", proc_name="Worker-1")

    assert not broker.queue_size()


# -- a run that loses its lease -----------------------------------------------------------------
def take_the_lease() -> None:
    """What another worker does when it finds this run's lease lapsed."""
    taken_until = timezone.now() + timedelta(hours=1)
    SyncLease.objects.update(holder="another-worker", expires_at=taken_until)
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_loses_its_lease_stops_before_its_next_account(systems, run_sync, settings):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.05
    systems.netsuite.config.update({"latency_ms": 200})
    written: list[str] = []
    lock = threading.Lock()

    def taken_over_after_the_fifth_write(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write":
            with lock:
                written.append(context["account"]["id"])
                if len(written) == 5:
                    take_the_lease()

    report = run_sync(fault_hook=taken_over_after_the_fifth_write)

    assert report.status == SyncRun.Status.INTERRUPTED
    assert "Another run took over" in report.message
    # Only what was on the wire when the heartbeat noticed went out (at most a wave or two).
    created = systems.netsuite.customers_count()
    assert 5 <= created <= 15 < len(syncable(systems))
    time.sleep(0.5)
    assert systems.netsuite.customers_count() == created  # nothing kept going in the background
    # What it did is stored: a result and a link for every customer it created.
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.INTERRUPTED and run.message == report.message
    assert AccountResult.objects.filter(run=run, outcome="created").count() == created
    assert RecordLink.objects.count() == created
    assert SyncCursor.objects.get(direction=Direction.ZUORA_TO_NETSUITE).watermark is None
    assert lease.lease_live_holder() == "another-worker"  # not released: it is not ours

    SyncLease.objects.update(holder="", expires_at=None)  # the other run finished
    systems.netsuite.config.update({"latency_ms": 0})
    assert run_sync().status in FINISHED
    assert_every_account_is_in_netsuite_once(systems)


@pytest.mark.django_db(transaction=True)
def test_a_netsuite_master_run_that_loses_its_lease_stops_before_its_next_customer(
    systems, run_sync, settings
):
    systems.netsuite.seed(customers=150, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.05
    systems.zuora.config.update({"latency_ms": 200})
    created: list[str] = []
    lock = threading.Lock()

    def taken_over_after_the_tenth_create(point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write" and context.get("created"):
            with lock:
                created.append(context["customer"]["id"])
                if len(created) == 10:
                    take_the_lease()

    report = run_sync(fault_hook=taken_over_after_the_tenth_create)

    wanted = customers_to_sync(systems)
    assert report.status == SyncRun.Status.INTERRUPTED
    assert "Another run took over" in report.message
    made = systems.zuora.calls_to("v1.account.create")
    assert 10 <= made <= 60 < len(wanted)
    time.sleep(0.5)
    assert systems.zuora.calls_to("v1.account.create") == made

    SyncLease.objects.update(holder="", expires_at=None)
    systems.zuora.config.update({"latency_ms": 0})
    assert run_sync().status in FINISHED
    assert systems.zuora.calls_to("v1.account.create") == len(wanted)  # none made twice
    assert set(RecordLink.objects.values_list("netsuite_internal_id", flat=True)) == set(wanted)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_survives_database_errors(systems, run_sync, settings, monkeypatch):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.05
    settings.SYNC_LEASE_TTL_SECONDS = 10
    systems.netsuite.config.update({"latency_ms": 100})
    renew = lease.lease_renew
    calls = {"failed": 0, "renewed": 0}

    def database_down_for_three_beats(**kwargs: Any) -> bool:
        if calls["failed"] < 3:
            calls["failed"] += 1
            raise OperationalError("database is locked")
        calls["renewed"] += 1
        return renew(**kwargs)

    monkeypatch.setattr(lease, "lease_renew", database_down_for_three_beats)

    report = run_sync()

    assert report.status in FINISHED
    assert calls["failed"] == 3 and calls["renewed"] >= 1
    assert_every_account_is_in_netsuite_once(systems)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_renew_its_lease_for_the_ttl_stops(
    systems, run_sync, settings, monkeypatch
):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.05
    settings.SYNC_LEASE_TTL_SECONDS = 0.5
    systems.netsuite.config.update({"latency_ms": 200})

    def database_down(**kwargs: Any) -> bool:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(lease, "lease_renew", database_down)

    report = run_sync()

    assert report.status == SyncRun.Status.INTERRUPTED
    assert "lost its lock" in report.message and "OperationalError" in report.message
    assert systems.netsuite.customers_count() < len(syncable(systems))


# -- deadline and the queue's timeout ---------------------------------------------------------
def test_a_run_stops_at_its_deadline_and_the_next_run_finishes_the_work(
    systems, run_sync, settings
):
    settings.SYNC_RUN_DEADLINE_SECONDS = 0.5
    systems.netsuite.config.update({"latency_ms": 200})

    report = run_sync()

    assert report.status == SyncRun.Status.INTERRUPTED
    assert "time limit" in report.message and "SYNC_RUN_DEADLINE_SECONDS" in report.message
    assert 0 < systems.netsuite.customers_count() < len(syncable(systems))
    assert SyncCursor.objects.get(direction=Direction.ZUORA_TO_NETSUITE).watermark is None

    settings.SYNC_RUN_DEADLINE_SECONDS = 3600
    systems.netsuite.config.update({"latency_ms": 0})
    assert run_sync().status in FINISHED
    assert_every_account_is_in_netsuite_once(systems)


def test_a_run_ended_by_the_queue_timeout_is_closed_and_frees_the_lease(systems, run_sync):
    from django_q.exceptions import TimeoutException

    def queue_time_limit(done: int, total: int) -> None:
        if done >= 5:
            raise TimeoutException("Task exceeded maximum timeout value (3300 seconds)")

    with pytest.raises(TimeoutException):
        run_sync(progress=queue_time_limit)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.INTERRUPTED
    assert "time limit" in run.message and "picks up where it stopped" in run.message
    assert lease.lease_live_holder() is None
    assert run_sync().status in FINISHED
    assert_every_account_is_in_netsuite_once(systems)


def test_the_queue_timeout_is_a_backstop_well_after_the_run_deadline():
    cluster = django_settings.Q_CLUSTER
    # An initial sync of 100,000 accounts at 1 s a NetSuite write and a limit of 5: 20,000 s.
    assert django_settings.SYNC_RUN_DEADLINE_SECONDS >= 100_000 * 1.0 / 5
    assert cluster["timeout"] > django_settings.SYNC_RUN_DEADLINE_SECONDS
    assert cluster["retry"] > cluster["timeout"]


# -- the schedule follows the preferences -------------------------------------------------------
def test_turning_the_schedule_off_with_the_preferences_command_removes_it_at_once(db):
    out = StringIO()
    call_command(
        "preferences",
        "--set",
        "default_subsidiary=Parent Company",
        "--set",
        "schedule_enabled=true",
        stdout=out,
    )
    assert Schedule.objects.get().func == "syncadmin.tasks.sync_customers_task"

    call_command("preferences", "--set", "schedule_enabled=false", stdout=out)

    assert not Schedule.objects.exists()


def test_the_preferences_form_turns_the_schedule_on_and_off_and_changes_it_at_once(
    admin_client, db
):
    url = reverse("admin:syncadmin_syncpreferences_change", args=[1])

    page = admin_client.post(
        url, preferences_form(schedule_enabled="on", schedule_every="2", schedule_unit="hours")
    )
    assert page.status_code == 302
    assert Schedule.objects.get().minutes == 120

    admin_client.post(url, preferences_form(schedule_enabled="on", schedule_every="15"))
    schedule = Schedule.objects.get()
    assert schedule.minutes == 15
    assert schedule.next_run <= timezone.now() + timedelta(minutes=15)

    page = admin_client.post(url, preferences_form())  # the box unticked
    assert page.status_code == 302
    assert not Schedule.objects.exists()
