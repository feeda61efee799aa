"""The finance admin's day in a real browser: Debian's chromium driven by Selenium over
pytest-django's live_server.

"Run sync now" queues a django-q2 task; with no worker in the test, the test takes the task
from the broker and runs it in-process (syncadmin.tasks.sync_customers_task, as a worker
would), while the page polls the progress endpoint like it does in production."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from syncadmin.models import LinkEvent, RecordLink, SyncPreferences, SyncRun

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="browser tests need Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver)",
    ),
]
WAIT = 15


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="syncadmin-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.implicitly_wait(0)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(driver, live_server, admin_user):
    """Logged in as a superuser."""
    driver.delete_all_cookies()
    driver.get(live_server.url + reverse("admin:login"))
    driver.find_element("name", "username").send_keys(admin_user.username)
    driver.find_element("name", "password").send_keys("password")
    driver.find_element("css selector", "input[type=submit]").click()
    wait_for_text(driver, "customer sync")
    driver.base = live_server.url
    return driver


def open_page(driver, name, *args, query=""):
    driver.get(driver.base + reverse(name, args=args) + query)


def wait_for_text(driver, text, css="body"):
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def shows_text(d):
        try:
            return text in d.find_element("css selector", css).text
        except WebDriverException as exc:
            # Chromium's way of saying "stale" while the page is being replaced.
            if "does not belong to the document" in str(exc):
                return False
            raise

    WebDriverWait(
        driver, WAIT, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(shows_text, message=f"{text!r} never appeared in {css}")


def click(driver, css):
    driver.find_element("css selector", css).click()


def run_queued_task():
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    from syncadmin.tasks import sync_customers_task

    broker = get_broker()
    queued = broker.dequeue()
    assert queued, "nothing was queued"
    task = SignedPackage.loads(queued[0][1])
    broker.acknowledge(queued[0][0])
    return sync_customers_task(**task["kwargs"])


@pytest.fixture
def empty_queue(db):
    from django_q.brokers import get_broker

    get_broker().purge_queue()


def test_sets_preferences(browser, db):
    open_page(browser, "admin:syncadmin_syncpreferences_changelist")
    field = browser.find_element("name", "default_subsidiary")
    field.clear()
    field.send_keys("Parent Company : US Sub")
    concurrency = browser.find_element("name", "netsuite_concurrency")
    concurrency.clear()
    concurrency.send_keys("7")
    click(browser, "input[name=_save]")

    wait_for_text(browser, "was changed successfully")
    assert SyncPreferences.load().netsuite_concurrency == 7


def test_tests_a_connection_from_the_dashboard(browser, systems):
    open_page(browser, "admin:syncadmin_syncrun_dashboard")
    click(browser, "#connections tr:nth-child(2) button.test-connection")

    wait_for_text(browser, "NetSuite connection: Connected: 3 subsidiaries visible.")
    wait_for_text(browser, "OK", css="#connections")


def test_runs_a_sync_and_watches_it_finish(browser, systems, empty_queue):
    open_page(browser, "admin:syncadmin_syncrun_dashboard")
    click(browser, "#run-sync-now")
    wait_for_text(browser, "queued")

    result = run_queued_task()

    run = SyncRun.objects.get(pk=result["run"])
    wait_for_text(browser, f"Run {run.pk} finished: {run.get_status_display()}", "#run-progress")
    assert browser.find_element("id", "run-progress-bar").get_attribute("value") == "100"
    # The latest runs and the chart follow without reloading the page.
    wait_for_text(browser, f"{run.created:,}", "#runs-chart-section")
    wait_for_text(browser, run.get_status_display(), "#latest-runs")
    assert browser.find_elements("css selector", "#runs-chart rect.series-created")


def test_finds_a_failed_account_and_retries_it(browser, systems, run_sync, empty_queue):
    account = next(
        a
        for a in systems.zuora.accounts.values()
        if a["status"] == "Active" and not a.get("parentId") and a["currency"] == "USD"
    )
    account["currency"] = "XYZ"  # a typo the finance admin fixes after seeing the error
    run_sync()
    account["currency"] = "USD"
    open_page(browser, "admin:syncadmin_accountresult_changelist", query="?outcome__exact=failed")
    # A data error the admin can see and fix; parent errors follow their parent instead.
    code = next(
        a
        for a in browser.find_elements("css selector", "#changelist-filter a[href*='error_code=']")
        if not a.text.startswith("PARENT")
    )
    code_name = code.text.split(" (")[0]
    code.click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT).until(lambda d: "error_code=" in d.current_url)
    wait_for_text(browser, code_name, "#result_list")
    first = browser.find_element("css selector", "#result_list tbody tr")
    number = first.find_element("css selector", ".field-source_number").text
    first.find_element("css selector", "input.action-select").click()
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("name", "action")).select_by_value("retry_selected")
    click(browser, "button[name=index]")
    wait_for_text(browser, "A retry of 1 account(s) is queued")

    result = run_queued_task()

    retry = SyncRun.objects.get(pk=result["run"])
    assert retry.trigger == "retry" and retry.total == 1
    assert number == account["accountNumber"]
    assert retry.results.get().outcome == "created"


def test_links_two_records_by_hand(browser, systems):
    systems.netsuite.seed(customers=10, seed=42)
    open_page(browser, "admin:syncadmin_recordlink_link")
    browser.find_element("name", "zuora_q").send_keys("A00000002")
    browser.find_element("name", "netsuite_q").send_keys("wayne")
    click(browser, "#search-button")
    wait_for_text(browser, "CUS-000002", "#link-form")
    click(browser, "input[name=zuora_account]")
    click(browser, "input[name=netsuite_customer]")
    click(browser, "#link-button")

    wait_for_text(browser, "Linked: Zuora A00000002 ↔ NetSuite CUS-000002")
    wait_for_text(browser, "Linked by hand", "#link-history")
    assert RecordLink.objects.get().linked_by.username == "admin"


def test_imports_a_csv_of_links(browser, systems, tmp_path: Path):
    systems.netsuite.seed(customers=10, seed=42)
    csv_file = tmp_path / "links.csv"
    csv_file.write_text(
        "zuora_account,netsuite_customer\nA00000002,CUS-000002\nA00000003,CUS-999999\n"
    )
    open_page(browser, "admin:syncadmin_recordlink_import")
    browser.find_element("name", "file").send_keys(str(csv_file))
    click(browser, "#preview-button")
    wait_for_text(browser, "OK: 1", "#import-summary")
    wait_for_text(browser, "Unknown id", "#import-rows")
    assert not RecordLink.objects.exists()

    click(browser, "#apply-button")

    wait_for_text(browser, "1 link(s) saved")
    assert (
        browser.find_element("id", "download-report").get_attribute("href").endswith("report.csv")
    )
    assert LinkEvent.objects.get().action == "imported"
