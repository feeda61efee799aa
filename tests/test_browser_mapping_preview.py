"""A field mapping's preview in a real browser (Debian's chromium via Selenium): the mapping in
words, three linked records before → after, and the one-time resync, pressed and run.

The Field mappings add form (another screen) leads here after saving; this test starts on the
preview of a mapping made by the factory."""

from __future__ import annotations

import pytest

from syncadmin.models import RecordLink, SyncRun
from tests.factories import FieldMappingFactory
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
def test_previews_a_mapping_then_resyncs_every_linked_record(browser, systems, run_sync):  # noqa: F811
    run_sync()
    with systems.zuora.state_lock:
        for account in systems.zuora.accounts.values():
            account["Region__c"] = "EMEA"
    mapping = FieldMappingFactory(source_label="Region", destination_label="Region")
    linked = RecordLink.objects.count()

    open_page(browser, "admin:syncadmin_fieldmapping_preview", mapping.pk)

    wait_for_text(
        browser,
        "Zuora Region (Region__c) is copied to NetSuite Region (custentity_region).",
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
