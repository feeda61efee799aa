"""Adding a field mapping in a real browser (Debian's chromium via Selenium): the Add mapping
form with the fields of both sandboxes, then its preview (the mapping in words, three linked
records before → after) and the one-time resync, pressed and run."""

from __future__ import annotations

import pytest

from syncadmin.models import RecordLink, SyncRun
from tests.test_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    browser,
    driver,
    empty_queue,
    open_page,
    run_queued_task,
    wait_for_text,
)

__all__ = ["browser", "driver", "empty_queue"]  # tests/test_browser.py's fixtures, shared

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="browser tests need Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver)",
    ),
]


@pytest.mark.usefixtures("empty_queue")
def test_adds_a_mapping_sees_its_preview_then_resyncs_every_linked_record(  # noqa: F811
    browser, systems, run_sync
):
    from selenium.webdriver.support.ui import Select

    run_sync()
    with systems.zuora.state_lock:
        for account in systems.zuora.accounts.values():
            account["Region__c"] = "EMEA"
    linked = RecordLink.objects.count()

    open_page(browser, "admin:syncadmin_fieldmapping_changelist")
    Select(browser.find_element("id", "id_source_field")).select_by_value("Region__c")
    Select(browser.find_element("id", "id_destination_field")).select_by_value("custentity_region")
    browser.find_element("id", "add-mapping-button").click()

    wait_for_text(
        browser,
        "Zuora Region (Region__c) → NetSuite Region (custentity_region). Copied.",
        "#mapping-in-words",
    )
    samples = browser.find_elements("css selector", "#preview-samples .preview-sample")
    assert len(samples) == 3
    for sample in samples:
        row = sample.find_element("css selector", "table.preview-changes tbody tr")
        assert [td.text for td in row.find_elements("css selector", "td")] == [
            "Region",
            "—",
            "EMEA",
        ]
    button = browser.find_element("id", "resync-all")
    assert button.text == f"Resync all {linked} linked records now"

    button.click()

    wait_for_text(browser, f"A one-time resync of all {linked} linked records is queued.")
    result = run_queued_task()
    run = SyncRun.objects.get(pk=result["run"])
    assert run.updated == linked
    regions = systems.netsuite.sql("SELECT DISTINCT custentity_region AS region FROM customer")
    assert regions == [{"region": "EMEA"}]
