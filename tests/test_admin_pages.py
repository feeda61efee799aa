"""What the pages say and offer: a viewer never sees a link to a page they may not open nor a
secret's field, the connection pages show what is true, the task queue is for superusers, a
run's record cannot be deleted, and the unlink page asks why."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse

from syncadmin.models import LinkEvent, LinkImport, MatchSuggestion, NetSuiteConnection, RecordLink
from syncadmin.services.linking import record_link_create
from syncadmin.services.roles import ADMIN, OPERATOR, VIEWER
from tests.factories import (
    AccountResultFactory,
    LinkImportFactory,
    MatchSuggestionFactory,
    NetSuiteConnectionFactory,
    RecordLinkFactory,
    SyncRunFactory,
    ZuoraConnectionFactory,
)


def page(client, name, *args, query=""):
    response = client.get(reverse(name, args=args) + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(("role", "shown"), [(VIEWER, False), (OPERATOR, True)])
def test_link_by_hand_is_offered_only_to_who_may_link(as_role, role, shown):
    result = AccountResultFactory(run__partly_failed=True, failed=True)
    html = page(as_role(role), "admin:syncadmin_accountresult_change", result.pk)
    assert (">Link by hand</a>" in html) == shown
    assert (reverse("admin:syncadmin_recordlink_link") in html) == shown


def test_a_viewer_sees_set_or_not_set_for_each_secret(as_role):
    ZuoraConnectionFactory()
    NetSuiteConnectionFactory()
    client = as_role(VIEWER)

    zuora = page(client, "admin:syncadmin_zuoraconnection_change", 1)
    assert "Client secret:" in zuora and "Set" in zuora
    assert "fake-zuora-client-secret" not in zuora
    assert "None" not in zuora
    assert "Clear client secret" not in zuora

    netsuite = page(client, "admin:syncadmin_netsuiteconnection_change", 1)
    assert "Consumer secret:" in netsuite
    assert "None" not in netsuite
    assert "Clear" not in netsuite


def test_the_netsuite_page_shows_only_the_chosen_way_to_sign_in(as_role):
    NetSuiteConnectionFactory(auth_method=NetSuiteConnection.AUTH_OAUTH2)
    html = page(as_role(ADMIN), "admin:syncadmin_netsuiteconnection_change", 1)
    assert 'class="module aligned auth-method auth-tba auth-hidden"' in html
    assert 'class="module aligned auth-method auth-oauth2"' in html


def test_the_netsuite_base_url_help_shows_the_address_it_stands_for(as_role):
    NetSuiteConnectionFactory()
    html = page(as_role(ADMIN), "admin:syncadmin_netsuiteconnection_change", 1)
    assert "https://1234567-sb1.suitetalk.api.netsuite.com" in html
    assert "https://.suitetalk" not in html


@pytest.mark.parametrize("role", [VIEWER, OPERATOR, ADMIN])
def test_the_task_queue_is_not_on_a_sync_role_index(as_role, role):
    client = as_role(role)
    assert "Task queue" not in page(client, "admin:index")
    assert client.get(reverse("admin:django_q_schedule_changelist")).status_code == 403


def test_a_superuser_still_has_the_task_queue(admin_client):
    assert "Failed tasks" in page(admin_client, "admin:index")
    assert admin_client.get(reverse("admin:django_q_failure_changelist")).status_code == 200


def test_a_sync_run_cannot_be_deleted_from_the_admin(admin_client):
    run = SyncRunFactory(succeeded=True)
    assert "delete_selected" not in page(admin_client, "admin:syncadmin_syncrun_changelist")
    response = admin_client.post(reverse("admin:syncadmin_syncrun_delete", args=[run.pk]))
    assert response.status_code == 403
    assert run.__class__.objects.filter(pk=run.pk).exists()


def test_the_unlink_page_reads_right_and_keeps_the_reason(as_role):
    link = RecordLinkFactory(origin=RecordLink.Origin.MANUAL)
    client = as_role(OPERATOR)
    html = page(client, "admin:syncadmin_recordlink_unlink", link.pk)
    assert "linked linked" not in html.lower()
    assert f'href="{reverse("admin:syncadmin_recordlink_changelist")}"' in html
    assert 'name="note"' in html

    client.post(
        reverse("admin:syncadmin_recordlink_unlink", args=[link.pk]),
        {"note": "Wrong customer: belongs to the Canadian subsidiary"},
    )
    event = LinkEvent.objects.get(action=LinkEvent.Action.UNLINKED)
    assert event.note == "Wrong customer: belongs to the Canadian subsidiary"
    assert "belongs to the Canadian subsidiary" in page(
        client, "admin:syncadmin_linkevent_changelist"
    )


def test_the_pages_carry_a_favicon(admin_client):
    assert 'rel="icon"' in page(admin_client, "admin:index")


# -- small ones -----------------------------------------------------------------------------------
def test_the_csv_export_opens_right_in_excel(admin_client, db):
    AccountResultFactory(source_name="Société Générale Zürich", failed=True)
    response = admin_client.get(reverse("admin:syncadmin_accountresult_export"))
    text = b"".join(response.streaming_content).decode("utf-8")

    assert text.startswith("\ufeffrun,time,")
    row = text.splitlines()[1]
    assert "Société Générale Zürich" in row
    assert re.search(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,", row), row


def test_the_link_import_report_carries_a_bom(as_role):
    link_import = LinkImportFactory(rows=[{"zuora_account": "A1", "result": "linked"}])
    response = as_role(OPERATOR).get(
        reverse("admin:syncadmin_recordlink_import_report", args=[link_import.pk])
    )
    assert response.content.decode("utf-8").startswith("\ufeff")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("links.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40),
        ("links.pdf", b"%PDF-1.7\n"),
        ("links.csv", b"PK\x03\x04 an xlsx renamed"),
    ],
)
def test_a_file_that_is_not_csv_is_refused_as_such(as_role, name, content):
    file = io.BytesIO(content)
    file.name = name
    response = as_role(OPERATOR).post(reverse("admin:syncadmin_recordlink_import"), {"file": file})
    assert response.status_code == 200
    assert f"“{name}” is not a CSV file" in response.content.decode()
    assert not LinkImport.objects.exists()


@pytest.mark.parametrize(("role", "shown"), [(VIEWER, False), (OPERATOR, True)])
def test_a_match_suggestion_page_has_approve_and_reject(as_role, role, shown):
    suggestion = MatchSuggestionFactory()
    html = page(as_role(role), "admin:syncadmin_matchsuggestion_change", suggestion.pk)
    assert ('id="approve-suggestion"' in html) == shown
    assert ('id="reject-suggestion"' in html) == shown


def test_rejecting_from_the_suggestion_page(as_role):
    suggestion = MatchSuggestionFactory()
    client = as_role(OPERATOR)
    url = reverse("admin:syncadmin_matchsuggestion_review", args=[suggestion.pk])
    response = client.post(url, {"decision": "reject"})
    assert response.url == reverse("admin:syncadmin_matchsuggestion_change", args=[suggestion.pk])
    suggestion.refresh_from_db()
    assert suggestion.status == MatchSuggestion.Status.REJECTED
    assert 'id="reject-suggestion"' not in page(
        client, "admin:syncadmin_matchsuggestion_change", suggestion.pk
    )


def test_a_viewer_cannot_review_a_suggestion(as_role):
    suggestion = MatchSuggestionFactory()
    url = reverse("admin:syncadmin_matchsuggestion_review", args=[suggestion.pk])
    assert as_role(VIEWER).post(url, {"decision": "reject"}).status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.status == MatchSuggestion.Status.PENDING


def test_link_by_hand_greys_out_records_already_linked(admin_client, systems, admin_user):
    systems.netsuite.seed(customers=10, seed=42)
    record_link_create(zuora_key="A00000002", netsuite_key="CUS-000002", user=admin_user)
    html = admin_client.get(
        reverse("admin:syncadmin_recordlink_link"), {"zuora_q": "wayne", "netsuite_q": "wayne"}
    ).content.decode()
    linked = RecordLink.objects.get()
    assert re.search(rf'value="{linked.zuora_account_id}"\s+disabled', html)
    assert re.search(rf'value="{linked.netsuite_internal_id}"\s+disabled', html)
    assert "already linked: unlink it first" in html
    assert re.search(r'name="zuora_account" value="[^"]+"\s+>', html)  # the others stay open
