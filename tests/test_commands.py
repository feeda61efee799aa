"""Headless operation through the management commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from syncadmin.models import NetSuiteConnection, SyncPreferences, SyncRun, ZuoraConnection
from tests.conftest import FAST_CLIENTS


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_configure_connection_stores_zuora_settings_with_an_encrypted_secret(db):
    output = run(
        "configure_connection",
        "zuora",
        "--base-url",
        "https://rest.apisandbox.zuora.com",
        "--client-id",
        "cid",
        "--client-secret",
        "s3cret",
    )

    connection = ZuoraConnection.load()
    assert connection.client_id == "cid"
    assert connection.secret("client_secret") == "s3cret"
    assert "s3cret" not in output


def test_configure_connection_stores_netsuite_token_based_auth(db):
    run(
        "configure_connection",
        "netsuite",
        "--account-id",
        "1234567_SB1",
        "--consumer-key",
        "ck",
        "--consumer-secret",
        "cs",
        "--token-id",
        "ti",
        "--token-secret",
        "ts",
    )

    connection = NetSuiteConnection.load()
    assert connection.is_configured
    assert connection.secret("token_secret") == "ts"


def test_configure_connection_refuses_incomplete_token_based_auth(db):
    with pytest.raises(CommandError, match="--token-secret"):
        run("configure_connection", "netsuite", "--account-id", "1234567", "--consumer-key", "ck")


def test_preferences_prints_every_preference_with_its_value(db):
    output = run("preferences")

    assert "master" in output and "Zuora" in output
    assert "sync_behavior" in output
    assert "netsuite_concurrency" in output


def test_preferences_set_validates_and_saves(db):
    run(
        "preferences",
        "--set",
        "default_subsidiary=Parent Company : US Sub",
        "--set",
        "netsuite_concurrency=10",
        "--set",
        "sync_behavior=new_only",
    )

    preferences = SyncPreferences.load()
    assert preferences.netsuite_concurrency == 10
    assert preferences.sync_behavior == "new_only"


def test_preferences_refuses_bad_values_with_the_field_and_saves_nothing(db):
    run("preferences", "--set", "default_subsidiary=Parent Company")

    with pytest.raises(CommandError) as caught:
        run("preferences", "--set", "schedule_every=90", "--set", "netsuite_concurrency=3")

    assert "schedule_every" in str(caught.value)
    assert SyncPreferences.load().netsuite_concurrency == 5


def test_preferences_refuses_one_world_without_default_subsidiary(db):
    with pytest.raises(CommandError, match="default_subsidiary"):
        run("preferences", "--set", "netsuite_one_world=yes")


def test_preferences_refuses_unknown_names(db):
    with pytest.raises(CommandError, match="Unknown preference 'colour'"):
        run("preferences", "--set", "colour=blue")


@pytest.fixture
def fast_clients(monkeypatch):
    from syncadmin.services import runs

    original = runs.sync_run_execute

    def fast(**kwargs):
        kwargs.setdefault("client_options", FAST_CLIENTS)
        return original(**kwargs)

    monkeypatch.setattr("syncadmin.management.commands.sync_customers.sync_run_execute", fast)


def test_sync_customers_prints_a_summary_and_exits_1_when_an_account_failed(systems, fast_clients):
    out = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("sync_customers", stdout=out)

    assert caught.value.code == 1  # the seed has children of Draft parents, which fail
    text = out.getvalue()
    assert "created" in text and "failed" in text
    assert "netsuite API calls" in text
    assert SyncRun.objects.get().trigger == "command"


def test_sync_customers_exits_0_when_every_account_succeeded(systems, fast_clients):
    for account in systems.zuora.accounts.values():
        account["parentId"] = None
    out = StringIO()

    call_command("sync_customers", stdout=out)

    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_sync_customers_dry_run_prints_actions_with_field_changes_and_writes_nothing(
    systems, fast_clients
):
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("sync_customers", "--dry-run", stdout=out)

    text = out.getvalue()
    first = next(
        a
        for a in systems.zuora.accounts.values()
        if a["status"] == "Active" and not a.get("parentId")
    )
    assert f"CREATED   {first['accountNumber']}" in text
    assert f"companyName: — -> {first['name']}" in text
    assert systems.netsuite.customers_count() == 0
    assert not SyncRun.objects.exists()
