"""Connection health comes from every run, not only from Test connection, and a run that
could not reach a system says which, where, and what to check, once."""

from __future__ import annotations

from django.urls import reverse

from syncadmin.models import NetSuiteConnection, SyncRun, ZuoraConnection


def test_a_run_that_cannot_reach_zuora_turns_zuora_red_with_what_to_check(systems, run_sync):
    url = systems.zuora.url
    systems.zuora.stop()
    report = run_sync()

    zuora = ZuoraConnection.load()
    expected = (
        f"Could not reach Zuora at {url}: connection refused. Check the base URL and your network."
    )
    assert report.status == SyncRun.Status.FAILED
    assert report.run.message == f"The run stopped: {expected}"
    assert "/oauth/token" not in report.run.message
    assert zuora.last_check_ok is False
    assert zuora.last_checked_at is not None
    assert zuora.last_check_message == f"Run {report.run.pk}: {expected}"
    assert NetSuiteConnection.load().last_check_ok is None  # never reached, never judged


def test_a_run_that_talked_to_both_systems_turns_them_green(systems, run_sync):
    ZuoraConnection.objects.filter(pk=1).update(last_check_ok=False, last_check_message="old")
    report = run_sync()

    assert report.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTLY_FAILED)
    for model, name in ((ZuoraConnection, "Zuora"), (NetSuiteConnection, "NetSuite")):
        connection = model.load()
        assert connection.last_check_ok is True
        assert connection.last_check_message == f"Run {report.run.pk} exchanged data with {name}."


def test_the_dashboard_shows_the_failed_run_against_zuora(systems, run_sync, admin_client):
    url = systems.zuora.url
    systems.zuora.stop()
    run = run_sync().run

    page = admin_client.get(reverse("admin:syncadmin_syncrun_dashboard")).content.decode()
    assert "Failing" in page
    assert f"Run {run.pk}: Could not reach Zuora at {url}" in page
    connections = page[page.index('id="connections"') :]
    connections = connections[: connections.index("</table>")]
    assert connections.count("Could not reach Zuora") == 1
    assert run.message.count("Could not reach Zuora") == 1


def test_test_connection_says_the_same_in_finance_words(systems):
    from syncadmin.services.connections import zuora_connection_test

    url = systems.zuora.url
    systems.zuora.stop()
    ok, message = zuora_connection_test()
    assert not ok
    assert message == (
        f"Could not reach Zuora at {url}: connection refused. Check the base URL and your network."
    )
