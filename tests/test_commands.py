"""Headless operation through the management commands."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from syncadmin.models import NetSuiteConnection, SyncPreferences, SyncRun, ZuoraConnection
from tests.conftest import FAST_CLIENTS, TEST_KEY
from tests.factories import RecordLinkFactory, SyncPreferencesFactory

ROOT = Path(__file__).resolve().parent.parent


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


def test_preferences_set_takes_several_pairs_after_one_flag_as_the_readme_shows(db):
    run(
        "preferences",
        "--set",
        "default_subsidiary=Parent Company : US Sub",
        "netsuite_concurrency=7",
        "sync_behavior=new_only",
    )

    preferences = SyncPreferences.load()
    assert preferences.netsuite_concurrency == 7
    assert preferences.sync_behavior == "new_only"


def test_preferences_listing_shows_what_to_type_and_the_choices(db):
    lines = run("preferences").splitlines()

    master = next(line for line in lines if line.startswith("master "))
    assert master.split()[:2] == ["master", "zuora"]
    assert "Customer Account Master: Zuora" in master
    assert any(line.strip() == "one of: zuora (Zuora), netsuite (NetSuite)" for line in lines)
    assert next(line for line in lines if line.startswith("schedule_enabled ")).split()[1] == "no"
    payment_term = next(line for line in lines if line.startswith("default_payment_term "))
    assert "'Net 30'" in payment_term  # quoted as the shell needs it


def test_preferences_refuses_an_invalid_choice_listing_the_valid_ones(db):
    with pytest.raises(CommandError) as caught:
        run("preferences", "--set", "master=sap")

    assert "'sap' is not one of: zuora (Zuora), netsuite (NetSuite)" in str(caught.value)
    assert SyncPreferences.load().master == "zuora"


@pytest.fixture
def subsidiary_set(db):
    SyncPreferencesFactory(default_subsidiary="Parent Company : US Sub")


def test_preferences_takes_a_choice_by_its_label_too(subsidiary_set):
    run("preferences", "--set", "sync_behavior=Sync New Records Only")

    assert SyncPreferences.load().sync_behavior == "new_only"


def test_switching_the_master_with_linked_records_needs_yes(subsidiary_set):
    RecordLinkFactory.create_batch(3)

    with pytest.raises(CommandError) as caught:
        run("preferences", "--set", "master=netsuite")

    assert "3 records are linked" in str(caught.value)
    assert "--yes" in str(caught.value)
    assert SyncPreferences.load().master == "zuora"

    run("preferences", "--set", "master=netsuite", "--yes")

    assert SyncPreferences.load().master == "netsuite"


def test_switching_the_master_without_linked_records_needs_no_confirmation(subsidiary_set):
    run("preferences", "--set", "master=netsuite")

    assert SyncPreferences.load().master == "netsuite"


@pytest.mark.parametrize(
    "command",
    [
        ["sync_customers"],
        ["preferences"],
        ["preferences", "--set", "netsuite_concurrency=7"],
        ["check_setup"],
        ["setup_schedule"],
        [
            "configure_connection",
            "zuora",
            "--base-url",
            "https://x",
            "--client-id",
            "c",
            "--client-secret",
            "s",
        ],
    ],
)
def test_commands_run_before_migrate_say_so_in_one_line(tmp_path, command):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": TEST_KEY,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: The database is not set up yet: run `python manage.py migrate` first."
    ]


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


def test_sync_customers_account_takes_a_zuora_account_number_or_id(systems, fast_clients):
    first, second = [
        a
        for a in systems.zuora.accounts.values()
        if a["status"] == "Active" and not a.get("parentId")
    ][:2]

    call_command(
        "sync_customers",
        "--account",
        first["accountNumber"],
        "--account",
        second["id"],
        stdout=StringIO(),
    )

    run = SyncRun.objects.get()
    assert sorted(run.results.values_list("source_id", flat=True)) == sorted(
        [first["id"], second["id"]]
    )
    assert run.status == SyncRun.Status.SUCCEEDED


def test_sync_customers_account_unknown_is_an_error_that_records_no_run(systems, fast_clients):
    known = next(iter(systems.zuora.accounts.values()))["accountNumber"]

    with pytest.raises(CommandError) as caught:
        call_command("sync_customers", "--account", "NOPE", "--account", known, stdout=StringIO())

    assert caught.value.returncode == 2
    assert "No Zuora account has the number or id NOPE" in str(caught.value)
    assert known not in str(caught.value)
    assert not SyncRun.objects.exists()


def test_sync_customers_account_takes_a_netsuite_customer_number_when_netsuite_is_master(
    systems, fast_clients
):
    systems.netsuite.seed(customers=3, seed=42)
    SyncPreferencesFactory(master="netsuite")

    call_command("sync_customers", "--account", "CUS-000002", stdout=StringIO())

    run = SyncRun.objects.get()
    assert list(run.results.values_list("source_id", flat=True)) == ["2"]
    with pytest.raises(CommandError) as caught:
        call_command("sync_customers", "--account", "CUS-999999", stdout=StringIO())
    assert caught.value.returncode == 2
    assert "No NetSuite customer has the number or id CUS-999999" in str(caught.value)
    assert SyncRun.objects.count() == 1


def test_a_partly_failed_run_lists_the_first_failed_accounts_and_how_many_more(
    systems, fast_clients
):
    accounts = list(systems.zuora.accounts.values())
    draft = next(a for a in accounts if a["status"] == "Draft")
    children = [a for a in accounts if a["status"] == "Active" and a is not draft]
    for account in children:
        account["parentId"] = draft["id"]  # a Draft parent is never synced: children fail
    out = StringIO()

    with pytest.raises(SystemExit):
        call_command("sync_customers", stdout=out)

    text = out.getvalue()
    run = SyncRun.objects.get()
    failed = run.results.filter(outcome="failed").order_by("id")
    total = failed.count()
    assert total > 20
    assert f"Failed accounts ({total}):" in text
    first = failed[0]
    assert f"  {first.source_number} {first.source_name} — {first.error_code}: " in text
    assert failed[19].source_number in text
    assert failed[20].source_number not in text.split("Failed accounts")[1]
    assert f"… and {total - 20} more." in text
    assert f"run__id__exact={run.pk}&outcome__exact=failed" in text


def test_a_connection_failure_is_printed_once(systems, fast_clients, caplog):
    from tests.factories import ZuoraConnectionFactory

    ZuoraConnectionFactory(base_url="http://127.0.0.1:9")  # nothing listens there
    out = StringIO()

    with pytest.raises(SystemExit):
        call_command("sync_customers", stdout=out)

    printed = out.getvalue() + "\n".join(r.getMessage() for r in caplog.records)
    assert printed.count("Could not reach Zuora") == 1, printed
    assert (
        "The run stopped: Could not reach Zuora at http://127.0.0.1:9: connection refused. "
        "Check the base URL and your network." in out.getvalue()
    )


def test_a_command_on_a_database_behind_the_code_says_to_migrate(tmp_path):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": TEST_KEY,
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "syncadmin", "0001", "-v", "0").returncode == 0
    result = manage("preferences")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: The database is not up to date (")
    assert line.endswith("migrations to apply): run `python manage.py migrate` first.")
