"""The queue side: schedule, task, and the lease that keeps runs one at a time."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django_q.models import Schedule

from syncadmin.models import SyncRun
from syncadmin.services import lease
from syncadmin.services.preferences import preferences_update
from syncadmin.tasks import sync_customers_task


def test_setup_schedule_creates_one_schedule_from_the_preferences_and_is_idempotent(db):
    preferences_update(
        values={
            "default_subsidiary": "Parent Company",
            "schedule_enabled": True,
            "schedule_every": 2,
            "schedule_unit": "hours",
        }
    )
    call_command("setup_schedule", stdout=StringIO())
    call_command("setup_schedule", stdout=StringIO())

    schedule = Schedule.objects.get()
    assert schedule.func == "syncadmin.tasks.sync_customers_task"
    assert schedule.minutes == 120
    assert schedule.kwargs == "trigger='schedule'"


def test_turning_the_schedule_off_removes_it(db):
    preferences_update(values={"default_subsidiary": "Parent Company", "schedule_enabled": True})
    assert Schedule.objects.count() == 1

    preferences_update(values={"schedule_enabled": False})

    assert Schedule.objects.count() == 0


@pytest.mark.parametrize(
    ("unit", "every", "ok"),
    [
        ("minutes", 30, True),
        ("minutes", 31, False),
        ("hours", 12, True),
        ("hours", 13, False),
        ("days", 14, True),
        ("days", 0, False),
    ],
)
def test_schedule_interval_must_be_within_the_allowed_range(db, unit, every, ok):
    from django.core.exceptions import ValidationError

    values = {
        "default_subsidiary": "Parent Company",
        "schedule_unit": unit,
        "schedule_every": every,
    }
    if ok:
        preferences_update(values=values)
    else:
        with pytest.raises(ValidationError) as caught:
            preferences_update(values=values)
        assert "schedule_every" in caught.value.message_dict


def test_scheduled_task_runs_a_sync_and_reports_its_counts(systems, monkeypatch):
    from tests.conftest import FAST_CLIENTS

    monkeypatch.setattr(
        "syncadmin.services.runs.zuora_client_build",
        _fast("syncadmin.services.runs.zuora_client_build"),
    )
    monkeypatch.setattr(
        "syncadmin.services.runs.netsuite_client_build",
        _fast("syncadmin.services.runs.netsuite_client_build"),
    )
    assert FAST_CLIENTS

    result = sync_customers_task(trigger="schedule")

    run = SyncRun.objects.get()
    assert run.trigger == "schedule"
    assert result["run"] == run.pk
    assert result["created"] == run.created > 0


def _fast(path: str):
    import importlib

    module_name, name = path.rsplit(".", 1)
    original = getattr(importlib.import_module(module_name), name)

    def build(*args, **kwargs):
        kwargs.update({"timeout": 2.0, "backoff_base": 0.01})
        return original(*args, **kwargs)

    return build


def test_queue_settings_keep_the_task_timeout_below_the_retry_and_acknowledge_failures():
    cluster = settings.Q_CLUSTER
    assert cluster["timeout"] < cluster["retry"]
    assert cluster["ack_failures"] is True
    assert ("redis" in cluster) == settings.Q_BROKER_URL.startswith("redis")


def test_lease_has_one_holder_at_a_time(db):
    assert lease.lease_acquire(holder="a")
    assert not lease.lease_acquire(holder="b")
    lease.lease_release(holder="a")
    assert lease.lease_acquire(holder="b")


def test_an_expired_lease_can_be_taken_over(db):
    assert lease.lease_acquire(holder="dead-worker", ttl=timedelta(seconds=-1))

    assert lease.lease_acquire(holder="b")


def test_only_the_holder_can_renew_or_release(db):
    lease.lease_acquire(holder="a")

    assert not lease.lease_renew(holder="b")
    lease.lease_release(holder="b")
    assert not lease.lease_acquire(holder="c")
