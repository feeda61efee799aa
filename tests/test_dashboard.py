"""The dashboard and the run list say what is true: which run is running and how far, why a
run was skipped, where a finished run's failures are, and a chart that reads per day."""

from __future__ import annotations

import re

from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from syncadmin.models import SyncRun
from syncadmin.services import lease
from tests.factories import AccountResultFactory, SyncRunFactory

DASHBOARD = "admin:syncadmin_syncrun_dashboard"


def a_running_run(**fields):
    lease.lease_acquire(holder="worker-1")  # the run's process is alive
    return SyncRunFactory(lease_holder="worker-1", **fields)


def test_the_progress_reads_like_a_sentence(admin_client, db):
    run = a_running_run(
        started_at=timezone.now() - timezone.timedelta(seconds=60), total=1600, processed=590
    )
    data = admin_client.get(reverse("admin:syncadmin_syncrun_progress")).json()["run"]
    assert re.fullmatch(
        rf"Run {run.pk} is running: 590 of 1,600 accounts \(37%\), about 2 minutes left, "
        r"5[89]\d accounts a minute\.",
        data["sentence"],
    ), data["sentence"]


def test_run_now_is_disabled_while_a_run_is_running_and_says_which(admin_client, db):
    run = a_running_run()
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert re.search(rf'id="run-sync-now" disabled>Run {run.pk} is running<', html)
    runs_page = admin_client.get(reverse("admin:syncadmin_syncrun_changelist")).content.decode()
    assert f"Run {run.pk} is running" in runs_page

    response = admin_client.post(reverse("admin:syncadmin_syncrun_run_now"))
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Run {run.pk} is running; start another when it has finished."
    ]


def test_run_now_is_offered_when_nothing_runs(admin_client, db):
    SyncRunFactory(succeeded=True)
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert 'id="run-sync-now">Run sync now<' in html


def test_a_skipped_run_says_which_run_was_active_and_took_no_time(
    admin_client, run_sync, monkeypatch, db
):
    from syncadmin.services import runs

    active = a_running_run()
    # Its holder renews the lease while this run waits for it: this run is skipped.
    monkeypatch.setattr(runs, "_lease_take", lambda holder: False)
    skipped = run_sync().run

    assert skipped.status == SyncRun.Status.SKIPPED
    assert skipped.message == f"Run {active.pk} was still running; this one was skipped."
    assert skipped.duration == 0
    page = admin_client.get(reverse("admin:syncadmin_syncrun_changelist")).content.decode()
    assert f"Run {active.pk} was still running" in page
    assert "-0.0 s" not in page and not re.search(r">-\d", page)


def test_a_finished_run_links_to_its_failures(admin_client, db):
    run = SyncRunFactory(partly_failed=True, total=3, processed=3, failed=2)
    AccountResultFactory.create_batch(2, run=run, failed=True)
    failures = (
        reverse("admin:syncadmin_accountresult_changelist")
        + f"?run__id__exact={run.pk}&outcome__exact=failed"
    )

    data = admin_client.get(reverse("admin:syncadmin_syncrun_progress")).json()["run"]
    assert data["failures_url"] == failures
    assert data["sentence"].startswith(f"Run {run.pk} finished: Partly failed. 3 of 3 accounts")
    dashboard = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert f'id="run-failures" href="{failures.replace("&", "&amp;")}"' in dashboard
    record = admin_client.get(reverse("admin:syncadmin_syncrun_change", args=[run.pk]))
    assert "The 2 failed account(s)" in record.content.decode()


def test_the_chart_has_a_bar_per_day_with_labelled_axes_and_numbers(admin_client, db):
    now = timezone.now()
    SyncRunFactory(succeeded=True, started_at=now, created=1200, updated=30, failed=4)
    SyncRunFactory(succeeded=True, started_at=now, created=34, updated=0, failed=0)
    SyncRunFactory(
        succeeded=True, started_at=now - timezone.timedelta(days=2), created=7, updated=5
    )

    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    start = html.index('<svg id="runs-chart"')
    chart = html[start : html.index("</svg>", start)]
    assert "<polyline" not in chart
    assert chart.count('class="bar series-created"') == 2  # one per day, not per run
    assert ">1,234</text>" in chart  # the day's total, written on the chart
    assert ">30</text>" in chart and ">4</text>" in chart
    assert ">Accounts</text>" in chart and ">Day (UTC)</text>" in chart
    assert f">{now.day}</text>" in chart
