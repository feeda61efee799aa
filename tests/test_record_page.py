"""A record's page reads as a finance page: finance labels, a before -> after table, the
record's history across runs, links to both systems and the actions a person may use.
Internal fields are shown to superusers only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from syncadmin.models import AccountResult, Outcome
from syncadmin.services.roles import OPERATOR, VIEWER, roles_setup
from tests.factories import AccountResultFactory, SyncRunFactory, UserFactory
from tests.test_sync_zuora_to_netsuite import syncable, zuora_put


def page_of(client, result):
    return client.get(reverse("admin:syncadmin_accountresult_change", args=[result.pk]))


@pytest.fixture
def operator(client, db):
    roles_setup()
    client.force_login(UserFactory(groups=[Group.objects.get(name=OPERATOR)]))
    return client


def test_an_updated_record_shows_its_changes_in_finance_words(systems, run_sync, operator):
    account = syncable(systems)[0]
    run_sync()
    zuora_put(systems, f"/v1/accounts/{account['id']}", {"name": "Renamed Ltd"})
    contact = systems.zuora.accounts[account["id"]]["billToId"]
    zuora_put(systems, f"/v1/contacts/{contact}", {"city": "Springfield"})
    run_sync()
    updated = AccountResult.objects.filter(source_id=account["id"]).first()
    assert updated.outcome == Outcome.UPDATED

    page = page_of(operator, updated).content.decode()

    assert "Company name" in page and "Renamed Ltd" in page
    assert "Bill To address" in page and "Springfield" in page
    for internal in (
        "addressBook",
        "companyName",
        "{&#x27;",
        "refName",
        "Retryable",
        "Waiting for",
    ):
        assert internal not in page, internal
    assert updated.source_id not in page.replace(f"id={updated.source_id}", "")
    assert (
        'id="record-history"' in page
        and page.count('<a href="/admin/syncadmin/accountresult/') >= 2
    )
    assert "Open in Zuora" in page and "Open in NetSuite" in page


def test_a_superuser_also_sees_the_internal_fields(admin_client, db):
    result = AccountResultFactory(failed=True, waiting_for="8ae6402f795d901c228c6f9f582967a9")

    page = page_of(admin_client, result).content.decode()

    assert "Internal (superusers only)" in page
    assert "8ae6402f795d901c228c6f9f582967a9" in page


def test_the_page_offers_retry_ignore_and_link_by_hand_to_an_operator(operator):
    result = AccountResultFactory(failed=True)

    page = page_of(operator, result).content.decode()

    assert "Retry now" in page and "problem-ignore" in page and "Link by hand" in page
    assert "Create a term with exactly this name" in page


def test_a_viewer_gets_no_action_buttons(client, db):
    roles_setup()
    client.force_login(UserFactory(groups=[Group.objects.get(name=VIEWER)]))
    result = AccountResultFactory(failed=True)

    page = page_of(client, result).content.decode()

    assert result.source_number in page
    assert "Retry now" not in page and "problem-ignore" not in page


def test_the_history_lists_the_record_in_every_run(admin_client, db):
    runs = [SyncRunFactory(partly_failed=True) for _ in range(3)]
    results = [
        AccountResultFactory(run=run, failed=True, source_id="z1", source_number="A00000009")
        for run in runs
    ]

    page = page_of(admin_client, results[-1]).content.decode()

    for run in runs:
        assert f"Run {run.pk}</a>" in page


def test_the_results_csv_lists_changed_fields_in_finance_words(admin_client, db):
    AccountResultFactory(
        outcome=Outcome.UPDATED,
        changes={"companyName": ["Old Ltd", "New Ltd"], "terms": [{"id": "3"}, {"id": "2"}]},
    )

    response = admin_client.get(reverse("admin:syncadmin_accountresult_export"))
    body = b"".join(response.streaming_content).decode()

    # PostgreSQL's jsonb keeps its own key order: each change is checked on its own.
    assert "Company name: Old Ltd → New Ltd" in body
    assert "Payment terms: internal id 3 → internal id 2" in body


def test_runs_and_links_hide_watermarks_api_calls_and_hashes_from_non_superusers(
    operator, admin_client
):
    from tests.factories import RecordLinkFactory

    run = SyncRunFactory(succeeded=True, api_calls={"zuora": {"query": 2}})
    link = RecordLinkFactory(last_payload_hash="f00dfeed" * 8)
    pages = [
        (reverse("admin:syncadmin_syncrun_change", args=[run.pk]), ("Watermark", "Api calls")),
        (reverse("admin:syncadmin_recordlink_change", args=[link.pk]), ("f00dfeed",)),
    ]

    for url, internals in pages:
        seen_by_operator = operator.get(url).content.decode()
        seen_by_superuser = admin_client.get(url).content.decode()
        for internal in internals:
            assert internal not in seen_by_operator, (url, internal)
            assert internal in seen_by_superuser, (url, internal)
