"""Big tables stay fast: a fixed number of queries per page whatever the row count, and no
COUNT over a whole table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from syncadmin.models import (
    AccountResult,
    LinkEvent,
    MatchSuggestion,
    RecordLink,
    SyncRun,
)
from syncadmin.paginator import CappedCountPaginator
from tests.factories import (
    AccountResultFactory,
    LinkEventFactory,
    MatchSuggestionFactory,
    RecordLinkFactory,
    SyncRunFactory,
)


def fill(rows: int) -> None:
    """`rows` rows in each big table, inserted in bulk; results are named Customer 0, 1, ..."""
    run = SyncRunFactory(partly_failed=True)
    links = RecordLink.objects.bulk_create(RecordLinkFactory.build_batch(rows))
    AccountResult.objects.bulk_create(
        AccountResultFactory.build(
            run=run,
            link=links[i],
            source_name=f"Customer {i}",
            outcome="failed" if i % 3 else "created",
            error_code=f"CODE_{i % 4}" if i % 3 else "",
        )
        for i in range(rows)
    )
    LinkEvent.objects.bulk_create(LinkEventFactory.build_batch(rows))
    MatchSuggestion.objects.bulk_create(MatchSuggestionFactory.build_batch(rows))
    SyncRun.objects.bulk_create(SyncRunFactory.build_batch(rows, succeeded=True))


PAGES = [
    ("admin:syncadmin_accountresult_changelist", {}),
    ("admin:syncadmin_accountresult_changelist", {"outcome__exact": "failed"}),
    ("admin:syncadmin_accountresult_changelist", {"error_code": "CODE_1"}),
    ("admin:syncadmin_recordlink_changelist", {}),
    ("admin:syncadmin_linkevent_changelist", {}),
    ("admin:syncadmin_matchsuggestion_changelist", {"status__exact": "pending"}),
    ("admin:syncadmin_syncrun_changelist", {}),
    ("admin:syncadmin_syncrun_dashboard", {}),
    ("admin:syncadmin_syncrun_progress", {}),
    ("admin:syncadmin_accountresult_changelist", {"q": "customer 1"}),
    ("admin:syncadmin_accountresult_changelist", {"q": "A1"}),
    ("admin:syncadmin_openproblem_changelist", {}),
    ("admin:syncadmin_openproblem_changelist", {"code": "CODE_1"}),
]


def queries(client, name, params):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(name), params).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("name, params", PAGES)
def test_page_costs_the_same_queries_with_few_or_many_rows(admin_client, db, name, params):
    fill(5)
    queries(admin_client, name, params)  # the first visit creates the settings rows
    small = queries(admin_client, name, params)
    fill(400)
    big = queries(admin_client, name, params)

    assert len(big) == len(small), "\n".join(big)


@pytest.mark.parametrize("name, params", PAGES[:6])
def test_big_lists_never_count_the_whole_table(admin_client, db, name, params, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 50)
    fill(120)

    sql = queries(admin_client, name, params)
    html = admin_client.get(reverse(name), params).content.decode()

    counts = [q for q in sql if "COUNT(" in q.upper() and "GROUP BY" not in q.upper()]
    assert counts and all("LIMIT" in q.upper() for q in counts), counts
    if not params or "outcome__exact" in params:
        assert "More than 50" in html


def test_every_list_filter_has_an_index(db):
    from django.contrib import admin

    for model in (AccountResult, RecordLink, SyncRun, LinkEvent, MatchSuggestion):
        admin_class = admin.site._registry[model]
        leading = {index.fields[0].lstrip("-") for index in model._meta.indexes} | {
            c.fields[0] for c in model._meta.constraints
        }
        leading |= {f.name for f in model._meta.fields if f.db_index or f.unique}
        for item in admin_class.list_filter:
            name = item if isinstance(item, str) else item.parameter_name
            assert name in leading, f"{model.__name__}.{name} has no index"


def test_name_search_never_matches_inside_names(admin_client, db):
    # A pattern with a leading wildcard ('%...') reads every row: the search must not send one.
    fill(20)

    sql = queries(admin_client, "admin:syncadmin_accountresult_changelist", {"q": "Customer 1"})

    searched = [q for q in sql if "accountresult" in q and "name_key" in q]
    assert searched, sql
    assert not any("'%" in q for q in searched), searched


def test_name_search_is_served_by_the_name_index(db):
    fill(50)
    if connection.vendor == "postgresql":
        # A table this small is cheaper to read whole; forbid that to see whether the index
        # can serve the lookup at all (LIKE 'prefix%' needs the pattern opclass).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")

    plan = AccountResult.objects.filter(name_key__startswith="customer 1").order_by().explain()

    assert "result_name_key" in plan, plan


def test_results_recorded_before_the_name_key_get_one_from_the_migration(db):
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps

    fill(3)
    AccountResult.objects.update(name_key="")

    migration = import_module("syncadmin.migrations.0006_result_name_key")
    migration.fill_name_keys(apps, SimpleNamespace(connection=connection))

    assert sorted(AccountResult.objects.values_list("name_key", flat=True)) == [
        "customer 0",
        "customer 1",
        "customer 2",
    ]
