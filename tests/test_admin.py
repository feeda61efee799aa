"""The admin as a finance admin uses it: runs, results, links, connections, preferences."""

from __future__ import annotations

import pytest
from django.urls import reverse

from syncadmin.models import AccountResult, SyncPreferences, SyncRun, ZuoraConnection
from tests.conftest import FAST_CLIENTS
from tests.factories import (
    AccountResultFactory,
    SyncRunFactory,
    UserFactory,
    ZuoraConnectionFactory,
)


@pytest.fixture
def synced(systems, run_sync):
    run_sync(client_options=FAST_CLIENTS)
    return systems


def test_runs_list_shows_each_run_with_its_counts(admin_client, synced):
    run = SyncRun.objects.get()

    page = admin_client.get(reverse("admin:syncadmin_syncrun_changelist"))

    assert page.status_code == 200
    html = page.content.decode()
    assert f">{run.created}<" in html
    assert "Run sync now" in html


def test_run_detail_links_to_its_results(admin_client, synced):
    run = SyncRun.objects.get()

    page = admin_client.get(reverse("admin:syncadmin_syncrun_change", args=[run.pk]))

    assert page.status_code == 200
    assert f"run__id__exact={run.pk}" in page.content.decode()


def test_results_filter_by_outcome_and_error_code(admin_client, synced):
    failed = AccountResult.objects.filter(outcome="failed").first()
    url = reverse("admin:syncadmin_accountresult_changelist")

    by_outcome = admin_client.get(url, {"outcome__exact": "failed"}).content.decode()
    by_code = admin_client.get(url, {"error_code": failed.error_code}).content.decode()

    assert failed.source_number in by_outcome
    assert failed.source_number in by_code
    created = AccountResult.objects.filter(outcome="created").first()
    assert created.source_number not in by_outcome


@pytest.mark.parametrize("field", ["source_number", "source_id", "destination_id"])
def test_results_search_by_number_or_either_id(admin_client, synced, field):
    result = AccountResult.objects.filter(outcome="created").first()
    other = AccountResult.objects.filter(outcome="created").exclude(pk=result.pk).first()

    html = admin_client.get(
        reverse("admin:syncadmin_accountresult_changelist"), {"q": getattr(result, field)}
    ).content.decode()

    assert result.source_number in html
    assert other.source_number not in html


NAMES = {
    "N1": "ACME Corp",
    "N2": "Acme  Holdings",
    "N3": "Big Acme Ltd",
    "N4": "Ärztekammer Nord",
    "N5": "Straße Bau GmbH",
    "N6": "100% Juice_Co",
}


@pytest.fixture
def named_results(db):
    run = SyncRunFactory()
    for number, name in NAMES.items():
        AccountResultFactory(run=run, source_number=number, source_name=name)


def listed(admin_client, q):
    html = admin_client.get(
        reverse("admin:syncadmin_accountresult_changelist"), {"q": q}
    ).content.decode()
    return {number for number in NAMES if f">{number}</a>" in html}


@pytest.mark.parametrize(
    "q, numbers",
    [
        ("acme", {"N1", "N2"}),
        ("ACME CORP", {"N1"}),
        ("  acme   holdings ", {"N2"}),  # spaces typed or stored twice count once
        ('"acme corp"', {"N1"}),
        ("big acme", {"N3"}),
        ("corp", set()),  # inside the name, not its start
        ("ärzte", {"N4"}),
        ("ÄRZTEKAMMER", {"N4"}),
        ("strasse", {"N5"}),
        ("100% j", {"N6"}),
        ("100_", set()),  # % and _ are letters to the search, not wildcards
    ],
)
def test_results_search_by_the_start_of_the_name_in_any_case(
    admin_client, named_results, q, numbers
):
    assert listed(admin_client, q) == numbers


def test_results_search_by_number_finds_only_that_account(admin_client, named_results):
    assert listed(admin_client, "N2") == {"N2"}


def test_results_search_help_says_what_it_matches(admin_client, named_results):
    html = admin_client.get(reverse("admin:syncadmin_accountresult_changelist")).content.decode()

    assert "starts with what you type" in html


def test_results_recorded_by_a_sync_are_found_by_the_start_of_their_name(admin_client, synced):
    result = AccountResult.objects.filter(outcome="created").exclude(source_name="").first()
    others = AccountResult.objects.exclude(source_name__istartswith=result.source_name[:6])

    html = admin_client.get(
        reverse("admin:syncadmin_accountresult_changelist"),
        {"q": result.source_name[:6].swapcase()},
    ).content.decode()

    assert f">{result.source_number}</a>" in html
    assert others.exists()
    assert not any(f">{o.source_number}</a>" in html for o in others if o.source_number)


def test_result_detail_shows_changed_fields_before_and_after(admin_client, synced):
    result = AccountResult.objects.filter(outcome="created").first()

    html = admin_client.get(
        reverse("admin:syncadmin_accountresult_change", args=[result.pk])
    ).content.decode()

    assert "companyName" in html
    assert result.source_name.replace("'", "&#x27;") in html


def test_links_list_is_searchable_by_either_side(admin_client, synced):
    from syncadmin.models import RecordLink

    link = RecordLink.objects.first()

    html = admin_client.get(
        reverse("admin:syncadmin_recordlink_changelist"), {"q": link.netsuite_internal_id}
    ).content.decode()

    assert link.zuora_account_id in html


def test_connection_page_never_renders_a_stored_secret(admin_client, db):
    ZuoraConnectionFactory(client_secret="very-secret-value")

    html = admin_client.get(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1])
    ).content.decode()

    assert "very-secret-value" not in html
    assert "Set. Leave empty to keep it" in html


def test_saving_the_connection_with_an_empty_secret_keeps_the_stored_one(admin_client, db):
    ZuoraConnectionFactory(client_secret="keep-me")

    admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        {
            "base_url": "https://rest.apisandbox.zuora.com",
            "client_id": "cid2",
            "client_secret": "",
            "entity_id": "",
        },
    )

    # At the same address; a new address asks for the secret again
    # (tests/test_connection_addresses.py).
    connection = ZuoraConnection.load()
    assert connection.client_id == "cid2"
    assert connection.secret("client_secret") == "keep-me"


def test_test_connection_button_reports_success_against_the_sandbox(admin_client, systems):
    page = admin_client.post(reverse("admin:syncadmin_netsuiteconnection_test"), follow=True)

    assert "Connected: 3 subsidiaries visible." in page.content.decode()


def test_test_connection_reports_a_bad_secret_without_showing_it(admin_client, systems):
    ZuoraConnectionFactory(
        base_url=systems.zuora.url, client_id="sandbox-client-id", client_secret="wrong-one"
    )

    page = admin_client.post(reverse("admin:syncadmin_zuoraconnection_test"), follow=True)

    html = page.content.decode()
    assert "wrong-one" not in html
    assert "errorlist" in html or "error" in html


def preferences_form(**overrides):
    preferences = SyncPreferences.load()
    data = {
        "master": preferences.master,
        "sync_behavior": preferences.sync_behavior,
        "number_mapping": preferences.number_mapping,
        "zuora_default_currency": "USD",
        "netsuite_one_world": "on",
        "default_subsidiary": "Parent Company : US Sub",
        "netsuite_multi_currency": "on",
        "hierarchies_enabled": "on",
        "default_bill_cycle_day": "1",
        "default_batch": "Batch1",
        "default_payment_term": "Net 30",
        "schedule_every": "30",
        "schedule_unit": "minutes",
        "netsuite_concurrency": "5",
        "alert_emails": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_preferences_form_saves_valid_values(admin_client, db):
    page = admin_client.post(
        reverse("admin:syncadmin_syncpreferences_change", args=[1]),
        preferences_form(netsuite_concurrency="15"),
    )

    assert page.status_code == 302
    assert SyncPreferences.load().netsuite_concurrency == 15


def test_preferences_form_shows_the_error_next_to_the_field(admin_client, db):
    page = admin_client.post(
        reverse("admin:syncadmin_syncpreferences_change", args=[1]),
        preferences_form(default_subsidiary=""),
    )

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "default_subsidiary" in form.errors
    assert "OneWorld" in form.errors["default_subsidiary"][0]


def test_switching_master_with_links_asks_for_confirmation(admin_client, synced):
    url = reverse("admin:syncadmin_syncpreferences_change", args=[1])

    refused = admin_client.post(url, preferences_form(master="netsuite"))
    assert "tick the confirmation" in refused.content.decode()
    assert SyncPreferences.load().master == "zuora"

    accepted = admin_client.post(
        url, preferences_form(master="netsuite", confirm_master_switch="on")
    )
    assert accepted.status_code == 302
    assert SyncPreferences.load().master == "netsuite"


def test_run_now_button_queues_a_run_for_the_worker(admin_client, systems):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    broker.purge_queue()

    page = admin_client.post(reverse("admin:syncadmin_syncrun_run_now"), follow=True)

    assert "queued" in page.content.decode()
    queued = broker.dequeue()
    assert queued
    task = SignedPackage.loads(queued[0][1])
    assert task["func"] == "syncadmin.tasks.sync_customers_task"
    assert task["kwargs"]["trigger"] == "manual"


def test_run_now_is_refused_without_the_permission(client, db):
    client.force_login(UserFactory())

    page = client.post(reverse("admin:syncadmin_syncrun_run_now"))

    assert page.status_code == 403
