"""Finance admin workflows: linking by hand and from CSV, match suggestions, errors, dashboard,
alerts."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from syncadmin.models import (
    AccountResult,
    Direction,
    IgnoredAccount,
    LinkEvent,
    LinkImport,
    MatchSuggestion,
    RecordLink,
    SyncRun,
)
from syncadmin.selectors import (
    ignored_source_ids,
    open_failure_source_ids,
    run_progress,
    strong_unreviewed_match_ids,
    strong_unreviewed_matches,
)
from syncadmin.services.linking import (
    LinkRefused,
    NetSuiteRef,
    ZuoraRef,
    netsuite_customers_search,
    record_link_create,
    zuora_accounts_search,
)
from syncadmin.services.matching import (
    _NetSuite,
    _Zuora,
    find_matches,
    match_suggestions_generate,
    normalise_name,
)
from tests.factories import (
    AccountResultFactory,
    IgnoredAccountFactory,
    SyncPreferencesFactory,
    SyncRunFactory,
)


@pytest.fixture
def both_sides(systems):
    """Zuora's 40 seed accounts and 10 NetSuite customers that are the same companies (same
    emails, different numbers), none linked yet."""
    systems.netsuite.seed(customers=10, seed=42)
    return systems


def link_page(client, **params):
    return client.get(reverse("admin:syncadmin_recordlink_link"), params)


# -- linking by hand ----------------------------------------------------------------------------
def test_link_page_searches_both_live_systems(admin_client, both_sides):
    html = link_page(admin_client, zuora_q="A00000002", netsuite_q="wayne").content.decode()

    assert "Wayne Corp. 2" in html
    assert "CUS-000002" in html
    assert 'name="zuora_account"' in html and 'name="netsuite_customer"' in html


def test_searches_find_records_by_number_name_or_email(both_sides):
    assert [r.number for r in zuora_accounts_search("uma.dubois@example.net")] == ["A00000001"]
    assert "A00000002" in [r.number for r in zuora_accounts_search("wayne corp")]
    assert [r.entity_id for r in netsuite_customers_search("zoe.alvarez@wayne.example.com")] == [
        "CUS-000002"
    ]
    assert [r.internal_id for r in netsuite_customers_search("CUS-000003")] == ["3"]


def test_linking_by_hand_records_who_and_when_on_the_link_page(
    admin_client, admin_user, both_sides
):
    page = admin_client.post(
        reverse("admin:syncadmin_recordlink_link"),
        {"zuora_account": "A00000002", "netsuite_customer": "CUS-000002"},
    )

    link = RecordLink.objects.get()
    assert page.status_code == 302
    assert link.netsuite_internal_id == "2"
    assert link.zuora_account_number == "A00000002"
    assert link.origin == RecordLink.Origin.MANUAL
    assert link.linked_by == admin_user
    assert link.writeback_pending  # the next run writes the cross-references
    detail = admin_client.get(page.url).content.decode()
    history = detail[detail.index('id="link-history"') :]
    assert (
        f"{link.linked_at:%Y-%m-%d %H:%M} UTC</td><td>Linked by hand</td><td>admin</td>" in history
    )


def test_linking_an_id_unknown_to_the_system_is_refused(admin_client, both_sides):
    page = admin_client.post(
        reverse("admin:syncadmin_recordlink_link"),
        {"zuora_account": "A00000002", "netsuite_customer": "CUS-999999"},
    )

    assert "NetSuite has no customer" in page.content.decode()
    assert not RecordLink.objects.exists()


def test_linking_a_record_linked_elsewhere_is_refused_naming_the_other_link(admin_user, both_sides):
    record_link_create(zuora_key="A00000002", netsuite_key="2", user=admin_user)

    with pytest.raises(LinkRefused) as refused:
        record_link_create(zuora_key="A00000003", netsuite_key="CUS-000002", user=admin_user)

    assert "A00000002" in str(refused.value)
    assert "CUS-000002" in str(refused.value)
    assert RecordLink.objects.count() == 1


def test_unlinking_asks_first_then_keeps_who_unlinked_in_the_history(
    admin_client, admin_user, both_sides
):
    link = record_link_create(zuora_key="A00000002", netsuite_key="2", user=admin_user)
    url = reverse("admin:syncadmin_recordlink_unlink", args=[link.pk])

    confirm = admin_client.get(url)
    assert "Yes, unlink" in confirm.content.decode()
    assert RecordLink.objects.exists()

    admin_client.post(url)

    assert not RecordLink.objects.exists()
    assert list(LinkEvent.objects.values_list("action", "user__username")) == [
        ("unlinked", admin_user.username),
        ("linked", admin_user.username),
    ]


# -- CSV import ---------------------------------------------------------------------------------
CSV = (
    "zuora_account,netsuite_customer\n"
    "A00000002,CUS-000002\n"  # ok
    "A00000003,3\n"  # ok, by internal id
    "A00000004,CUS-999999\n"  # unknown NetSuite id
    "A00000003,CUS-000004\n"  # Zuora account already on line 3
    "A00000006,CUS-000005\n"  # already linked (below)
    "A00000007,CUS-000001\n"  # NetSuite customer linked to another account
    "=HYPERLINK(1),\n"  # invalid
)


@pytest.fixture
def existing_links(admin_user, both_sides):
    record_link_create(zuora_key="A00000006", netsuite_key="CUS-000005", user=admin_user)
    record_link_create(zuora_key="A00000001", netsuite_key="CUS-000001", user=admin_user)


def upload(client, text):
    file = io.BytesIO(text.encode())
    file.name = "links.csv"
    return client.post(reverse("admin:syncadmin_recordlink_import"), {"file": file})


def test_csv_preview_shows_a_verdict_for_every_row_and_saves_nothing(admin_client, existing_links):
    page = upload(admin_client, CSV)

    link_import = LinkImport.objects.get()
    assert page.url == reverse("admin:syncadmin_recordlink_import_preview", args=[link_import.pk])
    assert [r["status"] for r in link_import.rows] == [
        "ok",
        "ok",
        "unknown_id",
        "duplicate_in_file",
        "already_linked",
        "conflicting",
        "invalid",
    ]
    assert RecordLink.objects.count() == 2
    html = admin_client.get(page.url).content.decode()
    assert "Duplicate in the file" in html
    assert "Link the 2 OK rows" in html


def test_applying_the_preview_links_the_ok_rows_and_offers_a_report(admin_client, existing_links):
    page = upload(admin_client, CSV)

    admin_client.post(page.url)
    report = admin_client.get(
        reverse("admin:syncadmin_recordlink_import_report", args=[LinkImport.objects.get().pk])
    )

    assert RecordLink.objects.count() == 4
    assert LinkEvent.objects.filter(action="imported").count() == 2
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [r["result"] for r in rows[:3]] == ["linked", "linked", "not imported: unknown id"]
    assert rows[-1]["zuora"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert "already applied" in admin_client.post(page.url, follow=True).content.decode()
    assert RecordLink.objects.count() == 4


# -- match suggestions --------------------------------------------------------------------------
def test_suggestions_pair_unlinked_records_with_a_confidence_and_a_reason(admin_client, both_sides):
    admin_client.post(reverse("admin:syncadmin_matchsuggestion_generate"))

    suggestion = MatchSuggestion.objects.get(zuora_account_number="A00000002")
    assert suggestion.netsuite_entity_id == "CUS-000002"
    assert suggestion.rule == "email"
    assert suggestion.strong and suggestion.confidence == 85
    assert "zoe.alvarez@wayne.example.com" in suggestion.reason
    html = admin_client.get(reverse("admin:syncadmin_matchsuggestion_changelist")).content
    assert b"Same email" in html


def make(number="", name="", email="", postal="", entity="", ns_name="", ns_email="", ns_postal=""):
    z = _Zuora(ZuoraRef(id=f"z{number}{name}", number=number, name=name, email=email), postal)
    n = _NetSuite(
        NetSuiteRef(
            internal_id=f"n{entity}{ns_name}", entity_id=entity, name=ns_name, email=ns_email
        ),
        ns_postal,
    )
    return z, n


def test_account_number_equal_to_entity_id_is_the_strongest_match():
    z, n = make(number="A-100", email="a@x.com", entity="a-100", ns_email="a@x.com")

    [(_, _, rule, confidence, reason)] = find_matches([z], [n])

    assert (rule, confidence) == ("number", 95)
    assert "A-100" in reason


def test_company_names_match_after_normalising_with_the_same_postal_code():
    z, n = make(
        name="Café Lumière, Ltd.", postal="SW1A1AA", ns_name="CAFE LUMIERE", ns_postal="SW1A1AA"
    )

    [(_, _, rule, confidence, _)] = find_matches([z], [n])

    assert normalise_name("Wayne Corp.") == normalise_name("wayne  CORP") == "wayne"
    assert (rule, confidence) == ("name_postal", 75)


def test_a_match_shared_by_several_records_is_too_ambiguous_to_hold_back_the_sync():
    z, n1 = make(email="ap@big.example", ns_email="AP@big.example", entity="1")
    _, n2 = make(ns_email="ap@big.example", entity="2")

    matches = find_matches([z], [n1, n2])

    assert len(matches) == 2
    assert all(c < MatchSuggestion.STRONG_CONFIDENCE for *_, c, _ in matches)
    assert "ambiguous" in matches[0][4]


def test_approving_several_suggestions_links_each_pair(admin_client, admin_user, both_sides):
    match_suggestions_generate()
    chosen = MatchSuggestion.objects.filter(zuora_account_number__in=["A00000002", "A00000003"])

    admin_client.post(
        reverse("admin:syncadmin_matchsuggestion_changelist"),
        {"action": "approve_selected", "_selected_action": [s.pk for s in chosen]},
    )

    assert set(RecordLink.objects.values_list("zuora_account_number", "netsuite_entity_id")) == {
        ("A00000002", "CUS-000002"),
        ("A00000003", "CUS-000003"),
    }
    assert set(RecordLink.objects.values_list("origin", flat=True)) == {"matched"}
    assert set(chosen.values_list("status", flat=True)) == {"approved"}


def test_strong_pending_matches_are_reported_to_the_sync_until_reviewed(admin_user, both_sides):
    match_suggestions_generate()
    wayne = MatchSuggestion.objects.get(zuora_account_number="A00000002")

    to_netsuite = strong_unreviewed_matches(direction=Direction.ZUORA_TO_NETSUITE)
    to_zuora = strong_unreviewed_match_ids(direction=Direction.NETSUITE_TO_ZUORA)

    assert to_netsuite[wayne.zuora_account_id].startswith("Needs review")
    assert "CUS-000002" in to_netsuite[wayne.zuora_account_id]
    assert "2" in to_zuora
    from syncadmin.services.matching import match_suggestions_reject

    match_suggestions_reject(suggestions=[wayne], user=admin_user)
    assert wayne.zuora_account_id not in strong_unreviewed_match_ids(
        direction=Direction.ZUORA_TO_NETSUITE
    )


def test_the_sync_does_not_create_a_record_that_has_an_unreviewed_strong_match(
    both_sides, run_sync
):
    match_suggestions_generate()
    wayne = MatchSuggestion.objects.get(zuora_account_number="A00000002")

    run_sync()

    result = AccountResult.objects.get(source_id=wayne.zuora_account_id)
    assert result.outcome == "review"
    assert (
        both_sides.netsuite.customers_count()
        == 10 + AccountResult.objects.filter(outcome="created").count()
    )


# -- errors: filter, retry, ignore, export ------------------------------------------------------
@pytest.fixture
def failures(db):
    """z0-z2 failed with UNKNOWN_CURRENCY, z3-z4 with UNKNOWN_PAYMENT_TERM, one created."""
    run = SyncRunFactory(partly_failed=True)
    for i in range(5):
        AccountResultFactory(
            run=run,
            source_id=f"z{i}",
            failed=True,
            error_code="UNKNOWN_CURRENCY" if i < 3 else "UNKNOWN_PAYMENT_TERM",
        )
    AccountResultFactory(run=run, source_id="ok")
    return run


def results_url():
    return reverse("admin:syncadmin_accountresult_changelist")


def test_error_code_filter_shows_how_many_accounts_fail_with_each_code(admin_client, failures):
    html = admin_client.get(results_url()).content.decode()

    assert "UNKNOWN_CURRENCY (3)" in html
    assert "UNKNOWN_PAYMENT_TERM (2)" in html


def test_a_failed_result_says_what_to_fix(admin_client, failures):
    result = AccountResult.objects.filter(error_code="UNKNOWN_PAYMENT_TERM").first()

    html = admin_client.get(
        reverse("admin:syncadmin_accountresult_change", args=[result.pk])
    ).content.decode()

    assert "Create a term with exactly this name" in html
    assert "Link by hand" in html
    assert f"{reverse('admin:syncadmin_recordlink_link')}?zuora_q={result.source_number}" in html


def test_retry_selected_queues_a_run_of_just_those_accounts(admin_client, failures):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    broker.purge_queue()
    chosen = AccountResult.objects.filter(error_code="UNKNOWN_CURRENCY")

    admin_client.post(
        results_url(),
        {"action": "retry_selected", "_selected_action": [r.pk for r in chosen]},
    )

    task = SignedPackage.loads(broker.dequeue()[0][1])
    assert task["kwargs"]["trigger"] == "retry"
    assert sorted(task["kwargs"]["account_ids"]) == ["z0", "z1", "z2"]


def test_ignoring_takes_an_account_out_of_the_sync_and_can_be_undone(admin_client, failures):
    chosen = AccountResult.objects.filter(source_id="z0")
    admin_client.post(
        results_url(), {"action": "ignore_selected", "_selected_action": [chosen[0].pk]}
    )

    assert ignored_source_ids(direction=Direction.ZUORA_TO_NETSUITE) == {"z0"}
    assert "z0" not in open_failure_source_ids(direction=Direction.ZUORA_TO_NETSUITE)

    admin_client.post(
        reverse("admin:syncadmin_ignoredaccount_changelist"),
        {
            "action": "unignore_selected",
            "_selected_action": [IgnoredAccount.objects.get().pk],
        },
    )
    assert ignored_source_ids(direction=Direction.ZUORA_TO_NETSUITE) == set()
    assert "z0" in open_failure_source_ids(direction=Direction.ZUORA_TO_NETSUITE)


def test_an_account_put_back_in_the_sync_after_it_failed_is_synced_at_once(
    admin_client, systems, run_sync
):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    accounts = systems.zuora.accounts
    childless = [
        a
        for a in accounts.values()
        if a["status"] == "Active"
        and not a.get("parentId")
        and not any(b.get("parentId") == a["id"] for b in accounts.values())
    ]
    account_id = childless[0]["id"]
    accounts[account_id]["paymentTerm"] = "Net 99"
    run_sync()
    failed = AccountResult.objects.get(source_id=account_id)
    assert failed.error_code == "UNKNOWN_PAYMENT_TERM"
    admin_client.post(results_url(), {"action": "ignore_selected", "_selected_action": [failed.pk]})
    run_sync()  # the ignored account is left out, so its failure is no longer the latest
    accounts[account_id]["paymentTerm"] = "Net 30"  # fixed, without a change Zuora stamps
    broker = get_broker()
    broker.purge_queue()

    response = admin_client.post(
        reverse("admin:syncadmin_ignoredaccount_changelist"),
        {"action": "unignore_selected", "_selected_action": [IgnoredAccount.objects.get().pk]},
        follow=True,
    )

    assert "a run of them has been queued" in response.content.decode()
    task = SignedPackage.loads(broker.dequeue()[0][1])
    assert task["kwargs"]["account_ids"] == [account_id]
    run_sync(trigger=task["kwargs"]["trigger"], account_ids=task["kwargs"]["account_ids"])
    assert RecordLink.objects.filter(zuora_account_id=account_id).exists()


def test_export_downloads_the_current_filter_as_csv(admin_client, failures):
    response = admin_client.get(
        reverse("admin:syncadmin_accountresult_export"), {"error_code": "UNKNOWN_PAYMENT_TERM"}
    )

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["run", "time", "source id"]
    assert sorted(r[2] for r in rows[1:]) == ["z3", "z4"]
    assert "Create a term" in rows[1][-1]


def test_results_page_links_the_export_to_its_filter(admin_client, failures):
    html = admin_client.get(results_url(), {"outcome__exact": "failed"}).content.decode()

    assert reverse("admin:syncadmin_accountresult_export") + "?outcome__exact=failed" in html


# -- dashboard ----------------------------------------------------------------------------------
def test_progress_reports_rate_and_time_left_of_a_running_sync(admin_client, db):
    from syncadmin.services import lease

    lease.lease_acquire(holder="worker-1")  # the run's process is alive
    run = SyncRunFactory(
        started_at=timezone.now() - timezone.timedelta(seconds=60),
        total=400,
        processed=100,
        lease_holder="worker-1",
    )

    data = admin_client.get(reverse("admin:syncadmin_syncrun_progress")).json()["run"]

    assert data["id"] == run.pk and data["running"]
    assert data["percent"] == 25
    assert 95 <= data["rate_per_minute"] <= 100
    assert 175 <= data["seconds_left"] <= 185


def test_dashboard_shows_latest_runs_a_chart_and_connection_health(admin_client, systems, run_sync):
    run_sync()
    admin_client.post(reverse("admin:syncadmin_zuoraconnection_test"))

    html = admin_client.get(reverse("admin:syncadmin_syncrun_dashboard")).content.decode()

    run = SyncRun.objects.get()
    assert f"{reverse('admin:syncadmin_syncrun_change', args=[run.pk])}" in html
    assert 'id="runs-chart"' in html and "series-failed" in html
    assert "Connected:" in html
    assert html.count("Test connection") == 2


def test_finished_run_progress_is_complete(db):
    run = SyncRunFactory(succeeded=True, total=10, processed=10)

    progress = run_progress(run)

    assert progress["percent"] == 100 and not progress["running"]
    assert progress["seconds_left"] == 0


# -- alerts -------------------------------------------------------------------------------------
def test_admins_are_emailed_when_a_run_has_failed_accounts(settings, systems, run_sync):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SyncPreferencesFactory(alert_emails="finance@example.com\nops@example.com")

    report = run_sync()

    run = report.run
    assert run.failed
    [message] = mail.outbox
    assert message.to == ["finance@example.com", "ops@example.com"]
    assert f"failed {run.failed}" in message.body
    assert f"?run__id__exact={run.pk}&outcome__exact=failed" in message.body


def test_no_email_when_a_run_has_no_failure(settings, db):
    from syncadmin.services.alerts import run_alert_send

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SyncPreferencesFactory(alert_emails="finance@example.com")
    run = SyncRunFactory(succeeded=True)

    assert run_alert_send(run=run) is False
    assert mail.outbox == []


def test_admins_are_emailed_when_a_run_stops(settings, db):
    from syncadmin.services.runs import sync_run_execute

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SyncPreferencesFactory(alert_emails="finance@example.com")

    report = sync_run_execute(trigger="schedule")  # no connection configured

    assert report.status == "failed"
    assert "not configured" in mail.outbox[0].body


def test_the_sync_skips_an_ignored_account(admin_user, systems, run_sync):
    account = next(a for a in systems.zuora.accounts.values() if a["status"] == "Active")
    IgnoredAccountFactory(direction=Direction.ZUORA_TO_NETSUITE, source_id=account["id"])

    run_sync()

    result = AccountResult.objects.get(source_id=account["id"])
    assert result.outcome == "skipped"
