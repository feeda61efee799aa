"""The pages at a finance admin's screen size (1440 x 1000) in a real browser: every column of
every list fits without scrolling sideways, a viewer sees no link to a page they may not open,
and a run that could not reach Zuora turns Zuora red on the dashboard.

Screenshots of the main pages are saved on the way; `SCREENSHOTS_DIR=docs/screenshots` keeps
them (the README shows those)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from syncadmin.models import LinkEvent, MatchSuggestion, Outcome, SyncRun
from syncadmin.services.roles import VIEWER, roles_setup
from tests.factories import (
    AccountResultFactory,
    HookEventFactory,
    IgnoredAccountFactory,
    LinkEventFactory,
    LinkImportFactory,
    MatchSuggestionFactory,
    NetSuiteConnectionFactory,
    RecordLinkFactory,
    SyncRunFactory,
    UserFactory,
    ZuoraConnectionFactory,
)
from tests.test_browser import CHROMEDRIVER, CHROMIUM, driver, open_page, wait_for_text

__all__ = ["driver"]  # the module's browser, shared with tests/test_browser.py's fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="browser tests need Debian's chromium and chromium-driver",
    ),
]
WIDTH, HEIGHT = 1440, 1000
LONG_NAME = "Northwind Traders International Holdings (EMEA Shared Services) Ltd"
LONG_MESSAGE = (
    "Account A00001234 Northwind Traders International Holdings (EMEA Shared Services) Ltd "
    "failed: the payment term 'Net 45 days end of month following invoice' does not exist in "
    "NetSuite. Create or enable it under Setup > Accounting > Accounting Lists, or correct the "
    "account's payment term in Zuora, then retry the account."
)


def realistic_rows() -> SyncRun:
    """A month's worth of the kinds of rows the lists show, with long names and messages."""
    now = timezone.now()
    run = SyncRunFactory(
        partly_failed=True,
        trigger=SyncRun.Trigger.MANUAL,
        total=12840,
        processed=12840,
        created=11800,
        updated=920,
        unchanged=40,
        failed=80,
        finished_at=now,
        message=LONG_MESSAGE,
    )
    SyncRunFactory(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        message="The run stopped: Could not reach Zuora at https://rest.na.zuora.com: connection "
        "refused. Check the base URL and your network.",
    )
    for i in range(6):
        AccountResultFactory(
            run=run,
            failed=True,
            source_name=f"{LONG_NAME} {i}",
            error_message=LONG_MESSAGE,
            destination_id=f"{123456789 + i}",
        )
    AccountResultFactory(
        run=run, outcome=Outcome.SKIPPED, reason=LONG_MESSAGE[:255]
    )  # the longest reason stored
    user = UserFactory(username="finance.operations.manager@northwind-traders.example.com")
    for i in range(6):
        RecordLinkFactory(
            zuora_account_number=f"A{10_000_000 + i}",
            netsuite_entity_id=f"CUS-{LONG_NAME[:40]} {i}",
            linked_by=user,
            last_synced_at=now,
        )
        LinkEventFactory(
            user=user,
            zuora_account_number=f"A{10_000_000 + i}",
            netsuite_entity_id=f"CUS-{LONG_NAME[:40]} {i}",
            note="Same customer: confirmed with the billing team by email on the 3rd",
        )
        MatchSuggestionFactory(
            zuora_account_number=f"A{20_000_000 + i}",
            zuora_name=f"{LONG_NAME} {i}",
            netsuite_entity_id=f"CUS-{30_000 + i}",
            netsuite_name=f"{LONG_NAME} (old) {i}",
            rule=MatchSuggestion.Rule.NAME_POSTAL,
            reason="Same company name and postal code (Northwind Traders ... / EC1A 1BB)",
        )
        IgnoredAccountFactory(
            source_number=f"A{30_000_000 + i}", source_name=f"{LONG_NAME} {i}", ignored_by=user
        )
        HookEventFactory(
            record_key=f"8a{i:030d}",
            event_type="AccountUpdated",
            outcome="failed",
            message=LONG_MESSAGE,
            run=run,
        )
    LinkEvent.objects.update(action=LinkEvent.Action.UNLINKED)
    LinkImportFactory(
        filename="northwind-traders-zuora-netsuite-links-final-v3 (reviewed by finance).csv",
        uploaded_by=user,
    )
    return run


CHANGELISTS = [
    "admin:syncadmin_openproblem_changelist",
    "admin:syncadmin_syncrun_changelist",
    "admin:syncadmin_accountresult_changelist",
    "admin:syncadmin_recordlink_changelist",
    "admin:syncadmin_matchsuggestion_changelist",
    "admin:syncadmin_linkevent_changelist",
    "admin:syncadmin_ignoredaccount_changelist",
    "admin:syncadmin_linkimport_changelist",
    "admin:syncadmin_hookevent_changelist",
]


def log_in(driver, live_server, user) -> None:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    driver.set_window_size(WIDTH, HEIGHT)
    driver.get(live_server.url + "/static/admin/css/base.css")  # a page of the site's domain
    driver.delete_all_cookies()
    driver.add_cookie({"name": "sessionid", "value": session.session_key, "path": "/"})
    driver.base = live_server.url


@pytest.fixture
def as_superuser(driver, live_server, admin_user):
    log_in(driver, live_server, admin_user)
    return driver


@pytest.fixture
def as_viewer(driver, live_server, db):
    roles_setup()
    log_in(driver, live_server, UserFactory(groups=[Group.objects.get(name=VIEWER)]))
    return driver


def columns_outside(driver) -> list[str]:
    """The column headers of the list whose right edge lies beyond the window."""
    return driver.execute_script(
        """
        const results = document.querySelector('#changelist-form .results');
        const width = Math.min(
          document.documentElement.clientWidth,
          results ? results.getBoundingClientRect().right : Infinity);
        return Array.from(document.querySelectorAll('#result_list thead th'))
          .filter(th => th.getBoundingClientRect().right > width + 0.5)
          .map(th => th.innerText.trim() || th.className);
        """
    )


def scrolls_sideways(driver) -> bool:
    return driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth;"
    )


def screenshot(driver, name: str) -> None:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(folder / f"{name}.png"))


@pytest.mark.parametrize("name", CHANGELISTS)
def test_every_list_fits_1440_px_without_hiding_a_column(as_superuser, name):
    realistic_rows()
    open_page(as_superuser, name)
    wait_for_text(as_superuser, "", "#result_list")
    screenshot(as_superuser, "list-" + name.split("_")[1])
    assert as_superuser.execute_script("return document.documentElement.clientWidth") >= 1400
    assert columns_outside(as_superuser) == []
    assert not scrolls_sideways(as_superuser)


def test_a_long_message_is_cut_with_the_whole_text_on_hover(as_superuser):
    realistic_rows()
    open_page(as_superuser, "admin:syncadmin_accountresult_changelist")
    cells = as_superuser.find_elements("css selector", "#result_list td.field-short_message span")
    full = [c for c in cells if c.get_attribute("title") == LONG_MESSAGE]
    assert full, "no failed account's message carries its whole text on hover"
    cell = full[0]
    assert as_superuser.execute_script(
        "return arguments[0].scrollWidth > arguments[0].clientWidth", cell
    ), "the message is not cut"


def test_a_viewer_sees_no_link_they_may_not_open_and_no_secret_field(as_viewer):
    result = AccountResultFactory(run__partly_failed=True, failed=True)
    ZuoraConnectionFactory()
    pages = [
        ("admin:syncadmin_syncrun_dashboard", ()),
        ("admin:syncadmin_accountresult_changelist", ()),
        ("admin:syncadmin_accountresult_change", (result.pk,)),
        ("admin:syncadmin_recordlink_changelist", ()),
        ("admin:syncadmin_matchsuggestion_changelist", ()),
        ("admin:syncadmin_zuoraconnection_change", (1,)),
        ("admin:index", ()),
    ]
    for name, args in pages:
        open_page(as_viewer, name, *args)
        wait_for_text(as_viewer, "syncadmin", "#header")
        links = [
            a.get_attribute("href")
            for a in as_viewer.find_elements("css selector", "#content a[href]")
            if a.get_attribute("href").startswith(as_viewer.base)
        ]
        for href in set(links):
            status = as_viewer.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch(arguments[0], {credentials: 'same-origin'}).then(r => done(r.status));",
                href,
            )
            assert status == 200, f"{name} links to {href}, which answers {status}"
        assert not as_viewer.find_elements("css selector", "#run-sync-now, .test-connection")

    open_page(as_viewer, "admin:syncadmin_zuoraconnection_change", 1)
    assert "Client secret:\nSet" in as_viewer.find_element("id", "content").text


def test_a_run_that_could_not_reach_zuora_turns_zuora_red(as_superuser, systems, run_sync):
    url = systems.zuora.url
    open_page(as_superuser, "admin:syncadmin_syncrun_dashboard")
    systems.zuora.stop()
    run = run_sync().run

    # The page notices the run that ended and redraws the connections with it.
    wait_for_text(as_superuser, f"Run {run.pk}: Could not reach Zuora at {url}", "#connections")
    red = as_superuser.find_element("css selector", "#connections tr:first-child .health-bad")
    assert red.text == "Failing"
    assert red.value_of_css_property("color") == "rgba(198, 40, 40, 1)"
    screenshot(as_superuser, "dashboard-zuora-unreachable")


def test_the_master_switch_confirmation_appears_only_when_the_master_changes(as_superuser):
    from selenium.webdriver.support.ui import Select

    open_page(as_superuser, "admin:syncadmin_syncpreferences_changelist")
    confirmation = as_superuser.find_element("css selector", ".field-confirm_master_switch")
    assert not confirmation.is_displayed()
    Select(as_superuser.find_element("id", "id_master")).select_by_value("netsuite")
    assert confirmation.is_displayed()
    Select(as_superuser.find_element("id", "id_master")).select_by_value("zuora")
    assert not confirmation.is_displayed()


def test_the_netsuite_page_shows_the_fields_of_the_chosen_sign_in_only(as_superuser):
    from selenium.webdriver.support.ui import Select

    open_page(as_superuser, "admin:syncadmin_netsuiteconnection_changelist")
    consumer_key = as_superuser.find_element("id", "id_consumer_key")
    certificate = as_superuser.find_element("id", "id_certificate_id")
    assert consumer_key.is_displayed() and not certificate.is_displayed()
    Select(as_superuser.find_element("id", "id_auth_method")).select_by_value("oauth2")
    assert certificate.is_displayed() and not consumer_key.is_displayed()


MAIN_PAGES = [
    ("open-problems", "admin:syncadmin_openproblem_changelist"),
    ("dashboard", "admin:syncadmin_syncrun_dashboard"),
    ("sync-runs", "admin:syncadmin_syncrun_changelist"),
    ("account-results", "admin:syncadmin_accountresult_changelist"),
    ("record-links", "admin:syncadmin_recordlink_changelist"),
    ("match-suggestions", "admin:syncadmin_matchsuggestion_changelist"),
    ("zuora-connection", "admin:syncadmin_zuoraconnection_changelist"),
    ("netsuite-connection", "admin:syncadmin_netsuiteconnection_changelist"),
    ("preferences", "admin:syncadmin_syncpreferences_changelist"),
    ("near-real-time", "admin:syncadmin_hooksettings_changelist"),
]


def a_month_of_runs() -> None:
    now = timezone.now()
    for days_ago in range(0, 30, 2):
        SyncRunFactory(
            succeeded=True,
            started_at=now - timezone.timedelta(days=days_ago, hours=1),
            finished_at=now - timezone.timedelta(days=days_ago),
            total=40 + days_ago,
            processed=40 + days_ago,
            created=5 + days_ago % 7,
            updated=20 + days_ago,
            failed=days_ago % 5,
        )


def test_the_main_pages_fit_1440_px(as_superuser):
    """Saves their screenshots too: SCREENSHOTS_DIR=docs/screenshots for the README's."""
    a_month_of_runs()
    realistic_rows()
    ZuoraConnectionFactory(base_url="https://rest.na.zuora.com")
    NetSuiteConnectionFactory()
    for name, page in MAIN_PAGES:
        open_page(as_superuser, page)
        wait_for_text(as_superuser, "syncadmin", "#header")
        assert not scrolls_sideways(as_superuser), name
        screenshot(as_superuser, name)
