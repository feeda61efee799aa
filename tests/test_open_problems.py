"""Open problems: the inbox a finance admin opens first. One row per record whose latest
result failed or waits for review; gone once it succeeds, is linked or is ignored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from syncadmin.models import IgnoredAccount, Outcome
from syncadmin.problem_selectors import open_problems
from syncadmin.services.roles import OPERATOR, VIEWER
from tests.factories import (
    AccountResultFactory,
    IgnoredAccountFactory,
    NetSuiteConnectionFactory,
    RecordLinkFactory,
    SyncRunFactory,
    ZuoraConnectionFactory,
)

CHANGELIST = "admin:syncadmin_openproblem_changelist"


@pytest.fixture
def history(db):
    """Three runs: one record fails in all of them, one is fixed, one ignored, one linked by
    hand after failing, one waits for review; and a NetSuite -> Zuora failure."""
    start = timezone.now() - timedelta(days=2)
    runs = [
        SyncRunFactory(partly_failed=True, started_at=start + timedelta(hours=i)) for i in range(3)
    ]
    stuck = {"source_id": "z-stuck", "source_number": "A00000001", "source_name": "Oceanic Ltd"}
    for i, run in enumerate(runs):
        AccountResultFactory(run=run, failed=True, created_at=start + timedelta(hours=i), **stuck)
    fixed = {"source_id": "z-fixed", "source_number": "A00000002", "source_name": "Fixed Co"}
    AccountResultFactory(run=runs[0], failed=True, error_code="UNKNOWN_CURRENCY", **fixed)
    AccountResultFactory(run=runs[1], outcome=Outcome.CREATED, **fixed)
    ignored = AccountResultFactory(run=runs[1], failed=True, source_id="z-ignored")
    IgnoredAccountFactory(source_id="z-ignored", source_number=ignored.source_number)
    AccountResultFactory(
        run=runs[0], failed=True, source_id="z-linked", created_at=start, error_code="X"
    )
    RecordLinkFactory(zuora_account_id="z-linked")
    review = AccountResultFactory(
        run=runs[2],
        outcome=Outcome.NEEDS_REVIEW,
        reason="Needs review: probably ...",
        source_id="z-review",
    )
    netsuite = AccountResultFactory(
        run=SyncRunFactory(partly_failed=True, direction="netsuite_to_zuora"),
        failed=True,
        source_id="4711",
        source_number="CUS-4711",
        error_code="UNKNOWN_PAYMENT_TERM",
    )
    return {"runs": runs, "review": review, "netsuite": netsuite}


def test_one_row_per_open_record_with_age_and_attempts(history):
    rows = {p.source_id: p for p in open_problems()}

    assert set(rows) == {"z-stuck", "z-review", "4711"}
    stuck = rows["z-stuck"]
    assert stuck.attempts == 3
    assert stuck.run_id == history["runs"][2].pk
    assert stuck.failing_since == stuck.created_at - timedelta(hours=2)
    assert rows["z-review"].attempts == 1


def test_a_failure_after_a_success_counts_attempts_from_the_success(history):
    run = SyncRunFactory(partly_failed=True)
    AccountResultFactory(run=run, failed=True, source_id="z-fixed")

    fixed = next(p for p in open_problems() if p.source_id == "z-fixed")

    assert fixed.attempts == 1


def test_the_page_lists_problems_with_counts_hints_and_actions(admin_client, history):
    ZuoraConnectionFactory()
    NetSuiteConnectionFactory()
    page = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert "A00000001 (Oceanic Ltd)" in page
    assert "Fixed Co" not in page
    assert "UNKNOWN_PAYMENT_TERM (2)" in page  # counts by error code, over open problems only
    assert "NEEDS_REVIEW (1)" in page
    assert "Create a term with exactly this name" in page  # what to fix
    assert "Retry now" in page and "Ignore" in page and "Link by hand" in page
    assert "https://apisandbox.zuora.com/apps/CustomerAccount.do?method=view&amp;id=z-stuck" in page
    assert "https://1234567-sb1.app.netsuite.com/app/common/entity/custjob.nl?id=4711" in page


def test_the_page_filters_by_run_and_by_code(admin_client, history):
    by_run = admin_client.get(reverse(CHANGELIST), {"run": history["runs"][2].pk})
    assert "A00000001" in by_run.content.decode()
    assert "CUS-4711" not in by_run.content.decode()

    by_code = admin_client.get(reverse(CHANGELIST), {"code": "NEEDS_REVIEW"})
    assert history["review"].source_number in by_code.content.decode()
    assert "A00000001" not in by_code.content.decode()


def test_the_page_is_a_handful_of_queries(admin_client, history, django_assert_max_num_queries):
    for _ in range(40):
        AccountResultFactory(run=history["runs"][2], failed=True)
    with django_assert_max_num_queries(15):
        admin_client.get(reverse(CHANGELIST))


def test_csv_export_has_a_bom_and_plain_times(admin_client, history):
    response = admin_client.get(reverse("admin:syncadmin_openproblem_export"))
    body = b"".join(response.streaming_content).decode("utf-8")

    assert body.startswith("\ufeffrecord number,record name")
    stuck = next(line for line in body.splitlines() if line.startswith("A00000001"))
    since = timezone.localtime(open_problems().get(source_id="z-stuck").failing_since)
    assert since.strftime("%Y-%m-%d %H:%M:%S") in stuck
    assert ",3,UNKNOWN_PAYMENT_TERM," in stuck
    assert len(body.splitlines()) == 4


def test_ignore_from_a_row_removes_it(admin_client, history):
    stuck = open_problems().get(source_id="z-stuck")

    response = admin_client.post(
        reverse("admin:syncadmin_openproblem_ignore", args=[stuck.pk]),
        {"next": reverse(CHANGELIST)},
        follow=True,
    )

    assert "taken out of the sync (A00000001 (Oceanic Ltd))" in response.content.decode()
    assert IgnoredAccount.objects.filter(source_id="z-stuck").exists()
    assert not open_problems().filter(source_id="z-stuck").exists()


def test_retry_from_a_row_queues_a_run_of_that_record(admin_client, history, monkeypatch):
    queued = []
    monkeypatch.setattr(
        "syncadmin.services.results.sync_run_queue",
        lambda **kwargs: queued.append(kwargs) or "task-1",
    )
    stuck = open_problems().get(source_id="z-stuck")

    response = admin_client.post(
        reverse("admin:syncadmin_openproblem_retry", args=[stuck.pk]), follow=True
    )

    assert "A retry of 1 record(s) is queued (A00000001 (Oceanic Ltd))" in response.content.decode()
    assert queued[0]["account_ids"] == ["z-stuck"]


def test_a_viewer_sees_problems_but_no_action_and_cannot_post_one(as_role, history):
    client = as_role(VIEWER)
    page = client.get(reverse(CHANGELIST)).content.decode()
    stuck = open_problems().get(source_id="z-stuck")

    assert "A00000001 (Oceanic Ltd)" in page
    assert "Retry now" not in page and "problem-ignore" not in page and "Link by hand" not in page
    assert (
        client.post(reverse("admin:syncadmin_openproblem_ignore", args=[stuck.pk])).status_code
        == 403
    )
    assert (
        client.post(reverse("admin:syncadmin_openproblem_retry", args=[stuck.pk])).status_code
        == 403
    )
    assert not IgnoredAccount.objects.filter(source_id="z-stuck").exists()


def test_an_operator_sees_the_actions(as_role, history):
    page = as_role(OPERATOR).get(reverse(CHANGELIST)).content.decode()

    assert "Retry now" in page and "problem-ignore" in page and "Link by hand" in page


def test_open_problems_come_first_on_the_admin_index(admin_client, history):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert 0 < page.index('id="open-problems-link"') < page.index('id="dashboard-link"')


def test_the_dashboard_links_the_open_problems_with_their_count(admin_client, history):
    page = admin_client.get(reverse("admin:syncadmin_syncrun_dashboard")).content.decode()

    assert "Open problems: 3" in page
    assert reverse(CHANGELIST) in page
