"""What the pages say and offer: a viewer never sees a link to a page they may not open nor a
secret's field, the connection pages show what is true, the task queue is for superusers, a
run's record cannot be deleted, and the unlink page asks why."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from syncadmin.models import LinkEvent, NetSuiteConnection, RecordLink
from syncadmin.services.roles import ADMIN, OPERATOR, VIEWER, roles_setup
from tests.factories import (
    AccountResultFactory,
    NetSuiteConnectionFactory,
    RecordLinkFactory,
    SyncRunFactory,
    UserFactory,
    ZuoraConnectionFactory,
)


@pytest.fixture
def as_role(client, db):
    roles_setup()

    def login(role):
        client.force_login(UserFactory(groups=[Group.objects.get(name=role)]))
        return client

    return login


def page(client, name, *args, query=""):
    response = client.get(reverse(name, args=args) + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(("role", "shown"), [(VIEWER, False), (OPERATOR, True)])
def test_link_by_hand_is_offered_only_to_who_may_link(as_role, role, shown):
    result = AccountResultFactory(run__partly_failed=True, failed=True)
    html = page(as_role(role), "admin:syncadmin_accountresult_change", result.pk)
    assert ("Find its NetSuite record and link it by hand" in html) == shown
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
