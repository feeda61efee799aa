"""The open-problems inbox and the record page in a real browser (Debian's chromium driven by
Selenium over live_server): a failure appears, Retry fixes it and it leaves the inbox; Ignore
removes it; the record page's buttons act on the record. Queued retries run in-process the
way tests/test_browser.py runs them (a worker's job, taken from the broker)."""

from __future__ import annotations

import pytest

from syncadmin.models import AccountResult, IgnoredAccount
from tests import test_browser as shared
from tests.test_browser import click, open_page, run_queued_task, wait_for_text

# The browser fixtures and marks of tests/test_browser.py: one chromium per module, logged in.
pytestmark = shared.pytestmark
driver = shared.driver
browser = shared.browser
empty_queue = shared.empty_queue

INBOX = "admin:syncadmin_openproblem_changelist"


@pytest.fixture
def failing(systems, run_sync):
    """A Zuora account with a currency typo: it fails in the first run."""
    account = next(
        a
        for a in systems.zuora.accounts.values()
        if a["status"] == "Active" and not a.get("parentId") and a["currency"] == "USD"
    )
    account["currency"] = "XYZ"
    run_sync()
    return account


def row_of(page, number):
    return next(
        row
        for row in page.find_elements("css selector", "#result_list tbody tr")
        if number in row.find_element("css selector", ".field-record").text
    )


def test_a_failure_appears_and_leaves_once_a_retry_fixes_it(browser, failing, empty_queue):
    number = failing["accountNumber"]
    open_page(browser, INBOX)
    wait_for_text(browser, f"{number} ({failing['name']})", "#result_list")
    assert "UNKNOWN_CURRENCY" in row_of(browser, number).text
    failing["currency"] = "USD"  # the finance admin corrects the typo in Zuora

    row_of(browser, number).find_element("css selector", "button.problem-retry").click()
    wait_for_text(browser, f"A retry of 1 record(s) is queued ({number}")
    run_queued_task()
    browser.refresh()

    wait_for_text(browser, "Open problems")
    assert number not in browser.find_element("id", "changelist").text
    assert AccountResult.objects.filter(source_id=failing["id"]).first().outcome == "created"


def test_ignore_removes_a_problem(browser, failing):
    number = failing["accountNumber"]
    open_page(browser, INBOX)
    wait_for_text(browser, number, "#result_list")

    row_of(browser, number).find_element("css selector", "button.problem-ignore").click()

    wait_for_text(browser, f"1 record(s) taken out of the sync ({number}")
    assert number not in browser.find_element("id", "changelist").text
    assert IgnoredAccount.objects.filter(source_id=failing["id"]).exists()


def test_the_record_pages_buttons_retry_and_ignore_the_record(browser, failing, empty_queue):
    number = failing["accountNumber"]
    open_page(browser, INBOX)
    wait_for_text(browser, number, "#result_list")
    row_of(browser, number).find_element("css selector", "a.problem-record").click()
    wait_for_text(browser, "What to fix")
    wait_for_text(browser, "UNKNOWN_CURRENCY", "#record-history")
    assert "Link by hand" in browser.find_element("id", "record-actions").text
    page = browser.current_url
    failing["currency"] = "USD"

    click(browser, "#record-actions button.problem-retry")
    wait_for_text(browser, f"A retry of 1 record(s) is queued ({number}")
    assert browser.current_url == page  # back on the record's page
    run_queued_task()
    browser.refresh()
    wait_for_text(browser, "Created", "#record-history")

    click(browser, "#record-actions button.problem-ignore")
    wait_for_text(browser, f"1 record(s) taken out of the sync ({number}")
    assert IgnoredAccount.objects.filter(source_id=failing["id"]).exists()
