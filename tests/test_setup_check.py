"""Check setup: what a finance team sees before its first run, against the sandboxes over HTTP."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from syncadmin.models import SetupCheck, SyncPreferences
from syncadmin.services.preferences import preferences_update
from syncadmin.services.setup_check import setup_check_run
from tests.factories import UserFactory


def check_setup() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_setup", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def by_name(result: SetupCheck) -> dict[str, dict]:
    return {f"{c['system']}: {c['name']}": c for c in result.checks}


def test_every_check_passes_on_a_correctly_set_up_pair_of_systems(systems):
    code, output = check_setup()

    assert code == 0, output
    assert "FAILED" not in output
    result = SetupCheck.objects.get()
    assert result.passed
    names = by_name(result)
    for expected in (
        "Zuora: Credentials",
        "Zuora: Object Query (reading accounts)",
        "Zuora: Object Query (reading changed contacts)",
        "Zuora: v1 account API",
        "Zuora: Actions API (writing back the NetSuite id)",
        "Zuora: ZOQL (Actions query)",
        "Zuora: Account field IntegrationId__NS",
        "Zuora: Account field CustomerId__NS",
        "Zuora: Currencies",
        "Zuora: Payment terms",
        "NetSuite: Credentials",
        "NetSuite: Role may run SuiteQL",
        "NetSuite: Role may read and edit customers",
        "NetSuite: Customer field custentity_zuora_id",
        "NetSuite: Query: customer selection (NetSuite → Zuora)",
        "NetSuite: Query: address book lines",
        "NetSuite: Query: reference lookups",
        "NetSuite: Default subsidiary",
        "Zuora: Default currency USD",
        'NetSuite: Default payment term "Net 30"',
    ):
        assert names[expected]["ok"], expected


def test_nothing_is_written_to_either_system_by_the_checks(systems):
    zuora_before = {k: dict(v) for k, v in systems.zuora.accounts.items()}
    netsuite_before = systems.netsuite.sql("SELECT * FROM customer")

    check_setup()

    assert {k: dict(v) for k, v in systems.zuora.accounts.items()} == zuora_before
    assert systems.netsuite.sql("SELECT * FROM customer") == netsuite_before


def test_a_missing_zuora_custom_field_fails_its_check_with_the_fix(systems):
    # Zuora's Actions update ignores unknown fields: without this check every write-back
    # would "succeed" while writing nothing.
    systems.zuora.remove_custom_field("IntegrationId__NS")

    code, output = check_setup()

    assert code == 1
    check = by_name(SetupCheck.objects.get())["Zuora: Account field IntegrationId__NS"]
    assert not check["ok"]
    assert "Extension Studio > Object Manager > Account > Custom Fields" in check["fix"]
    assert "IntegrationId__NS" in check["fix"]
    assert "Account field IntegrationId__NS" in output
    assert "FAILED" in output
    others = by_name(SetupCheck.objects.get())
    assert others["Zuora: Account field IntegrationStatus__NS"]["ok"]


def test_a_netsuite_column_named_differently_fails_the_query_that_names_it(systems):
    systems.netsuite.rename_column("customeraddressbookentityaddress", "addrphone", "phone")

    code, output = check_setup()

    assert code == 1
    checks = by_name(SetupCheck.objects.get())
    failed = checks["NetSuite: Query: address book lines"]
    assert not failed["ok"]
    assert "addrphone" in failed["detail"]
    assert "address book lines query" in failed["fix"]
    assert checks["NetSuite: Query: customer selection (NetSuite → Zuora)"]["ok"]
    assert "Query: address book lines" in output


def test_a_missing_netsuite_custom_field_fails_its_check_and_the_selection(systems):
    systems.netsuite.remove_custom_field("custentity_zuora_send_to_zuora")

    setup_check_run()

    checks = by_name(SetupCheck.objects.get())
    field = checks["NetSuite: Customer field custentity_zuora_send_to_zuora"]
    assert not field["ok"]
    assert "Entity Fields > New" in field["fix"]
    assert "Check Box" in field["fix"]
    assert not checks["NetSuite: Query: customer selection (NetSuite → Zuora)"]["ok"]


def test_refused_credentials_fail_with_where_to_get_new_ones(systems):
    systems.zuora.clients = {"sandbox-client-id": "rotated-secret"}

    code, _ = check_setup()

    assert code == 1
    checks = by_name(SetupCheck.objects.get())
    assert not checks["Zuora: Credentials"]["ok"]
    assert "Manage Users" in checks["Zuora: Credentials"]["fix"]
    assert "Zuora: Object Query (reading accounts)" not in checks
    assert checks["NetSuite: Credentials"]["ok"]


def test_an_unknown_default_subsidiary_fails_with_the_valid_names(systems):
    SyncPreferences.objects.update(default_subsidiary="Parent Company : UK Sub")

    code, _ = check_setup()

    assert code == 1
    check = by_name(SetupCheck.objects.get())["NetSuite: Default subsidiary"]
    assert not check["ok"]
    assert "Parent Company : US Sub" in check["fix"]
    assert "Parent Company : EU Sub" in check["fix"]


def test_without_connections_the_check_says_what_to_configure(db):
    code, output = check_setup()

    assert code == 1
    assert "Connections > Zuora connection" in output
    assert "Connections > NetSuite connection" in output


# -- preferences resolved against the live systems --------------------------------------------
def test_saving_an_unknown_default_subsidiary_is_refused_with_the_valid_names(systems):
    with pytest.raises(CommandError) as refused:
        call_command(
            "preferences", "--set", "default_subsidiary=Parent Company : UK Sub", stdout=StringIO()
        )

    message = str(refused.value)
    assert "default_subsidiary" in message
    assert "Parent Company : US Sub" in message
    assert "Parent Company : EU Sub" in message
    assert SyncPreferences.load().default_subsidiary == "Parent Company : US Sub"


def test_saving_a_currency_zuora_does_not_have_is_refused(systems):
    with pytest.raises(Exception) as refused:
        preferences_update(values={"zuora_default_currency": "NOK"})

    assert "USD" in str(refused.value)
    assert SyncPreferences.load().zuora_default_currency == "USD"


def test_a_value_the_system_has_is_saved(systems):
    preferences_update(
        values={"default_subsidiary": "Parent Company : EU Sub", "default_payment_term": "Net 45"}
    )

    preferences = SyncPreferences.load()
    assert preferences.default_subsidiary == "Parent Company : EU Sub"
    assert preferences.default_payment_term == "Net 45"


def test_when_the_system_cannot_be_reached_the_value_is_saved_with_a_warning(systems):
    systems.netsuite.stop()
    warnings: list[str] = []

    preferences_update(
        values={"default_subsidiary": "Parent Company : EU Sub"}, on_warning=warnings.append
    )

    assert SyncPreferences.load().default_subsidiary == "Parent Company : EU Sub"
    assert len(warnings) == 1
    assert "without checking" in warnings[0]
    assert "Check setup" in warnings[0]


def test_the_admin_shows_the_refusal_next_to_the_subsidiary_field(admin_client, systems):
    from tests.test_admin import preferences_form

    page = admin_client.post(
        reverse("admin:syncadmin_syncpreferences_change", args=[1]),
        preferences_form(default_subsidiary="Parent Company : UK Sub"),
    )

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert "Parent Company : US Sub" in errors["default_subsidiary"][0]
    assert SyncPreferences.load().default_subsidiary == "Parent Company : US Sub"


def test_the_admin_saves_with_a_warning_when_netsuite_is_down(admin_client, systems):
    from tests.test_admin import preferences_form

    systems.netsuite.stop()
    page = admin_client.post(
        reverse("admin:syncadmin_syncpreferences_change", args=[1]),
        preferences_form(default_subsidiary="Parent Company : EU Sub"),
        follow=True,
    )

    assert "without checking" in page.content.decode()
    assert SyncPreferences.load().default_subsidiary == "Parent Company : EU Sub"


# -- the dashboard ----------------------------------------------------------------------------
def test_the_dashboard_button_runs_the_checks_and_shows_what_failed(admin_client, systems):
    systems.zuora.remove_custom_field("IntegrationId__NS")
    dashboard = reverse("admin:syncadmin_syncrun_dashboard")

    before = admin_client.get(dashboard).content.decode()
    assert "Check setup" in before
    assert "Never checked" in before

    page = admin_client.post(reverse("admin:syncadmin_syncrun_check_setup"), follow=True)

    html = page.content.decode()
    assert page.redirect_chain[-1][0] == dashboard
    assert "Account field IntegrationId__NS" in html
    assert "Extension Studio &gt; Object Manager &gt; Account" in html
    assert SetupCheck.objects.get().ran_by == "admin"


def test_the_dashboard_shows_when_the_last_check_passed(admin_client, systems):
    setup_check_run(ran_by="check_setup command")

    html = admin_client.get(reverse("admin:syncadmin_syncrun_dashboard")).content.decode()

    assert "Every check passed" in html
    assert "Account field IntegrationId__NS" not in html


def test_checking_setup_needs_the_permission_to_test_connections(client, systems):
    client.force_login(UserFactory())

    page = client.post(reverse("admin:syncadmin_syncrun_check_setup"))

    assert page.status_code == 403
    assert not SetupCheck.objects.exists()


# -- what the checks rely on: the vendors' describe API and metadata catalog --------------------
def test_zuora_describe_lists_the_account_custom_fields_with_their_types(systems):
    described = systems.zuora_client().describe_fields("Account")

    assert described["IntegrationId__NS"]["label"] == "Integration ID"
    assert described["IntegrationId__NS"]["type"] == "text"
    assert described["SynctoNetSuite__NS"]["type"] == "picklist"
    assert "AccountNumber" in described


def test_zuora_ignores_an_action_update_of_a_field_it_lacks(systems):
    # Why the describe check exists: the write-back "succeeds" and nothing is written.
    systems.zuora.remove_custom_field("IntegrationId__NS")
    client = systems.zuora_client()
    account = next(iter(client.iter_accounts(page_size=1)))

    (error,) = client.update_accounts([(account["id"], {"IntegrationId__NS": "107"})])

    assert error is None
    assert "IntegrationId__NS" not in systems.zuora.accounts[account["id"]]


def test_a_describe_answer_declaring_a_doctype_is_refused():
    from connectors.zuora.client import parse_describe

    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE object [<!ENTITY a "aaaaaaaaaa">]>'
        b"<object><fields><field><name>&a;</name></field></fields></object>"
    )

    with pytest.raises(ValueError, match="DOCTYPE"):
        parse_describe(bomb)


def test_netsuite_metadata_catalog_marks_the_custom_fields(systems):
    properties = systems.netsuite_client().customer_record_fields()

    assert properties["custentity_zuora_id"]["x-ns-custom-field"] is True
    assert properties["custentity_zuora_send_to_zuora"]["type"] == "boolean"
    assert "x-ns-custom-field" not in properties["companyName"]


def test_a_system_that_does_not_answer_is_told_apart_from_refused_credentials(systems):
    systems.netsuite.stop()

    code, _ = check_setup()

    assert code == 1
    checks = by_name(SetupCheck.objects.get())
    assert not checks["NetSuite: Credentials"]["ok"]
    assert "NetSuite did not answer" in checks["NetSuite: Credentials"]["fix"]
    assert checks["Zuora: Credentials"]["ok"]


def test_the_checks_read_one_row_at_a_time(systems):
    systems.zuora.requests_seen.clear()

    setup_check_run()

    account_reads = [
        r for r in systems.zuora.requests_seen if r["path"] == "/object-query/accounts"
    ]
    assert len(account_reads) == 1


def test_a_currencies_answer_in_another_shape_fails_its_check(systems):
    systems.zuora.config.update(
        {
            "fault_rate": 1.0,
            "faults": ["garbage"],
            "garbage_answers": ["object"],
            "fault_paths": "^/settings/currencies$",
        }
    )

    setup_check_run()

    check = by_name(SetupCheck.objects.get())["Zuora: Currencies"]
    assert not check["ok"]
    assert "unreadable answer" in check["detail"]
    assert "Customize Currencies" in check["fix"]
