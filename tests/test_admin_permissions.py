"""Every custom view and action refuses, on the server, a role that may not use it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from syncadmin.models import IgnoredAccount, RecordLink
from syncadmin.services.roles import ADMIN, OPERATOR, VIEWER
from tests.factories import (
    AccountResultFactory,
    IgnoredAccountFactory,
    LinkImportFactory,
    MatchSuggestionFactory,
    RecordLinkFactory,
    ZuoraConnectionFactory,
)

ROLES = [VIEWER, OPERATOR, ADMIN]


@pytest.fixture
def objects(db):
    # action_effect finds the effect of ignoring by "z1" and of putting back by "z3".
    result = AccountResultFactory(run__partly_failed=True, source_id="z1", failed=True)
    return {
        "run": result.run,
        "result": result,
        "link": RecordLinkFactory(),
        "import": LinkImportFactory(),
        "suggestion": MatchSuggestionFactory(),
        "ignored": IgnoredAccountFactory(source_id="z3"),
    }


def views(o):
    """(method, url, minimum role)."""
    return [
        ("get", reverse("admin:syncadmin_syncrun_dashboard"), VIEWER),
        ("get", reverse("admin:syncadmin_syncrun_progress"), VIEWER),
        ("get", reverse("admin:syncadmin_accountresult_export"), VIEWER),
        ("get", reverse("admin:syncadmin_matchsuggestion_changelist"), VIEWER),
        ("get", reverse("admin:syncadmin_ignoredaccount_changelist"), VIEWER),
        ("get", reverse("admin:syncadmin_linkevent_changelist"), VIEWER),
        ("post", reverse("admin:syncadmin_syncrun_run_now"), OPERATOR),
        ("post", reverse("admin:syncadmin_zuoraconnection_test"), OPERATOR),
        ("post", reverse("admin:syncadmin_netsuiteconnection_test"), OPERATOR),
        ("get", reverse("admin:syncadmin_recordlink_link"), OPERATOR),
        ("post", reverse("admin:syncadmin_recordlink_link"), OPERATOR),
        ("get", reverse("admin:syncadmin_recordlink_unlink", args=[o["link"].pk]), OPERATOR),
        ("get", reverse("admin:syncadmin_recordlink_import"), OPERATOR),
        (
            "get",
            reverse("admin:syncadmin_recordlink_import_preview", args=[o["import"].pk]),
            OPERATOR,
        ),
        (
            "get",
            reverse("admin:syncadmin_recordlink_import_report", args=[o["import"].pk]),
            OPERATOR,
        ),
        ("post", reverse("admin:syncadmin_matchsuggestion_generate"), OPERATOR),
        ("get", reverse("admin:syncadmin_zuoraconnection_change", args=[1]), VIEWER),
    ]


def allowed(role, minimum):
    return ROLES.index(role) >= ROLES.index(minimum)


@pytest.mark.parametrize("role", ROLES)
def test_each_custom_view_is_refused_below_its_role(as_role, objects, role):
    client = as_role(role)
    for method, url, minimum in views(objects):
        status = getattr(client, method)(url).status_code
        if allowed(role, minimum):
            assert status in (200, 302), (role, method, url, status)
        else:
            assert status == 403, (role, method, url, status)


@pytest.mark.parametrize("role", ROLES)
def test_unlinking_is_refused_below_operator(as_role, objects, role):
    client = as_role(role)

    client.post(reverse("admin:syncadmin_recordlink_unlink", args=[objects["link"].pk]))

    assert RecordLink.objects.exists() == (role == VIEWER)


@pytest.mark.parametrize("role", ROLES)
def test_applying_an_import_is_refused_below_operator(as_role, objects, role):
    client = as_role(role)

    client.post(reverse("admin:syncadmin_recordlink_import_preview", args=[objects["import"].pk]))

    objects["import"].refresh_from_db()
    assert (objects["import"].status == "applied") == (role != VIEWER)


ACTIONS = [
    ("accountresult", "retry_selected", "result"),
    ("accountresult", "ignore_selected", "result"),
    ("matchsuggestion", "reject_selected", "suggestion"),
    ("matchsuggestion", "approve_selected", "suggestion"),
    ("ignoredaccount", "unignore_selected", "ignored"),
]


def action_effect(name, objects):
    if name == "retry_selected":
        from django_q.brokers import get_broker

        return bool(get_broker().queue_size())
    if name == "ignore_selected":
        return IgnoredAccount.objects.filter(source_id="z1").exists()
    if name == "unignore_selected":
        return not IgnoredAccount.objects.filter(source_id="z3").exists()
    objects["suggestion"].refresh_from_db()
    # approve reaches the (unconfigured) systems and reports it; it must at least be offered
    return objects["suggestion"].status != "pending" or name == "approve_selected"


@pytest.mark.parametrize("model, action, target", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_each_action_is_refused_below_operator(as_role, objects, role, model, action, target):
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    client = as_role(role)
    url = reverse(f"admin:syncadmin_{model}_changelist")

    page = client.get(url).content.decode()
    client.post(url, {"action": action, "_selected_action": [objects[target].pk]})

    offered = f'value="{action}"' in page
    assert offered == (role != VIEWER)
    if role == VIEWER:
        assert not action_effect(action, objects) or action == "approve_selected"
    else:
        assert action_effect(action, objects)


@pytest.mark.parametrize("role", ROLES)
def test_only_sync_admins_change_preferences_and_connections(as_role, db, role):
    client = as_role(role)

    preferences = client.post(
        reverse("admin:syncadmin_syncpreferences_change", args=[1]), {"master": "zuora"}
    )
    connection = client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        {"base_url": "https://evil.example", "client_id": "x"},
    )

    from syncadmin.models import ZuoraConnection

    assert (preferences.status_code == 403) == (role != ADMIN)
    assert (connection.status_code == 403) == (role != ADMIN)
    assert ZuoraConnection.load().base_url != "https://evil.example"


def test_a_viewer_never_sees_a_stored_secret(as_role, db):
    ZuoraConnectionFactory(client_secret="s3cr3t")
    client = as_role(VIEWER)

    html = client.get(reverse("admin:syncadmin_zuoraconnection_change", args=[1])).content
    dashboard = client.get(reverse("admin:syncadmin_syncrun_dashboard")).content

    assert b"s3cr3t" not in html and b"s3cr3t" not in dashboard
    assert b"Test connection" not in dashboard
