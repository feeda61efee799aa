"""The NetSuite sandbox's own rules, exercised over raw HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta, timezone

import pytest
import requests
from requests_oauthlib import OAuth1

from connectors.netsuite.client import NetSuiteClient
from connectors.sandboxes.netsuite import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    NetSuiteSandbox,
)

SUITEQL = "/services/rest/query/v1/suiteql"


def signer(method: str = "HMAC-SHA256", **overrides: str) -> OAuth1:
    options = {
        "client_key": DEFAULT_CONSUMER_KEY,
        "client_secret": DEFAULT_CONSUMER_SECRET,
        "resource_owner_key": DEFAULT_TOKEN_ID,
        "resource_owner_secret": DEFAULT_TOKEN_SECRET,
        "signature_method": method,
        "realm": DEFAULT_ACCOUNT_ID,
    }
    options.update(overrides)
    return OAuth1(**options)


def suiteql(
    sandbox: NetSuiteSandbox, query: str, *, limit: int = 1000, offset: int = 0, prefer=True
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{SUITEQL}",
        params={"limit": limit, "offset": offset},
        json={"q": query},
        headers={"Prefer": "transient"} if prefer else {},
        auth=signer(),
        timeout=5,
    )


def error_code(response: requests.Response) -> str:
    return response.json()["o:errorDetails"][0]["o:errorCode"]


def test_hmac_sha1_is_refused(netsuite_sandbox: NetSuiteSandbox) -> None:
    response = requests.get(
        f"{netsuite_sandbox.url}/services/rest/record/v1/customer/1",
        auth=signer("HMAC-SHA1"),
        timeout=5,
    )
    assert response.status_code == 401 and error_code(response) == "INVALID_LOGIN"


def test_unsigned_unknown_token_and_tampered_query_are_refused(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    url = f"{netsuite_sandbox.url}/services/rest/record/v1/customer/1"
    assert requests.get(url, timeout=5).status_code == 401
    bad = requests.get(url, auth=signer(resource_owner_key="other"), timeout=5)
    assert bad.status_code == 401
    prepared = requests.Request("GET", url, auth=signer()).prepare()
    prepared.url += "?expandSubResources=true"  # signed without the query
    assert requests.Session().send(prepared, timeout=5).status_code == 401


def test_replayed_nonce_and_stale_timestamp_are_refused(netsuite_sandbox: NetSuiteSandbox) -> None:
    url = f"{netsuite_sandbox.url}/services/rest/record/v1/customer/1"
    prepared = requests.Request("GET", url, auth=signer()).prepare()
    session = requests.Session()
    assert session.send(prepared, timeout=5).status_code == 200
    assert session.send(prepared, timeout=5).status_code == 401
    stale = signer(timestamp=str(int(time.time()) - 600))
    assert requests.get(url, auth=stale, timeout=5).status_code == 401


def test_suiteql_requires_prefer_transient(netsuite_sandbox: NetSuiteSandbox) -> None:
    response = suiteql(netsuite_sandbox, "SELECT id FROM customer", prefer=False)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


@pytest.mark.parametrize(
    ("limit", "offset"), [(0, 0), (1001, 0), (10, 5), (10, -10), (1000, 100_000)]
)
def test_suiteql_limit_and_offset_rules(
    netsuite_sandbox: NetSuiteSandbox, limit: int, offset: int
) -> None:
    response = suiteql(netsuite_sandbox, "SELECT id FROM customer", limit=limit, offset=offset)
    assert response.status_code == 400 and error_code(response) == "INVALID_PARAMETER"


def test_suiteql_page_shape(netsuite_sandbox: NetSuiteSandbox) -> None:
    body = suiteql(
        netsuite_sandbox, "SELECT id FROM customer ORDER BY id", limit=3, offset=3
    ).json()
    assert (body["count"], body["hasMore"], body["offset"], body["totalResults"]) == (3, True, 3, 8)
    assert [i["id"] for i in body["items"]] == ["4", "5", "6"]
    assert body["items"][0]["links"] == []
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=6" in rels["next"] and "offset=3" in rels["self"]


def test_suiteql_total_follows_writes_between_pages(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    query = "SELECT id FROM customer ORDER BY id"
    assert suiteql(netsuite_sandbox, query, limit=3).json()["totalResults"] == 8
    assert suiteql(netsuite_sandbox, query, limit=3, offset=3).json()["totalResults"] == 8
    netsuite_client.create_customer({"companyName": "Ninth Co", "subsidiary": {"id": "2"}})
    page = suiteql(netsuite_sandbox, query, limit=3, offset=6).json()
    assert (page["totalResults"], page["hasMore"], page["count"]) == (9, False, 3)


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM customer",
        "SELECT id FROM customer; DELETE FROM customer",
        "SELECT nosuchcolumn FROM customer",
        "SELECT id FROM nosuchtable",
        "SELECT name FROM sqlite_master",
        "SELECT id FROM customer WHERE lastmodifieddate > TO_DATE('2024-01-01', 'YYYY-MM-DD')",
        "SELECT TO_CHAR(lastmodifieddate, 'DD.MM.YYYY') FROM customer",
    ],
)
def test_suiteql_rejects_bad_queries(netsuite_sandbox: NetSuiteSandbox, query: str) -> None:
    response = suiteql(netsuite_sandbox, query)
    assert response.status_code == 400, response.text
    assert error_code(response) == "INVALID_PARAMETER"
    assert netsuite_sandbox.customers_count() == 8


def test_suiteql_runs_real_sql_with_date_functions(netsuite_sandbox: NetSuiteSandbox) -> None:
    query = (
        "SELECT c.id, TO_CHAR(c.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lm,"
        " COUNT(ab.internalid) AS n"
        " FROM customer c JOIN customeraddressbook ab ON ab.entity = c.id"
        " WHERE c.lastmodifieddate >= TO_DATE('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')"
        " GROUP BY c.id, c.lastmodifieddate ORDER BY c.id"
    )
    items = suiteql(netsuite_sandbox, query).json()["items"]
    assert len(items) == 8 and len(items[0]["lm"]) == 19 and int(items[0]["n"]) >= 1


def test_suiteql_dates_follow_the_users_time_zone_and_the_record_api_stays_utc(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    netsuite_sandbox.sql(
        "UPDATE customer SET lastmodifieddate = ? WHERE id = 1", ("2026-01-15 02:30:00.000000",)
    )
    netsuite_sandbox.time_zone = timezone(timedelta(hours=-8))
    stamp = "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lm"

    (row,) = suiteql(netsuite_sandbox, f"SELECT {stamp} FROM customer WHERE id = 1").json()["items"]
    # A TO_DATE literal is read on the same wall clock: 18:30 the day before is 02:30 UTC.
    found = suiteql(
        netsuite_sandbox,
        "SELECT id FROM customer WHERE id = 1 AND lastmodifieddate >= "
        "TO_DATE('2026-01-14 18:30:00', 'YYYY-MM-DD HH24:MI:SS')",
    ).json()["items"]
    missed = suiteql(
        netsuite_sandbox,
        "SELECT id FROM customer WHERE id = 1 AND lastmodifieddate >= "
        "TO_DATE('2026-01-14 18:30:01', 'YYYY-MM-DD HH24:MI:SS')",
    ).json()["items"]

    assert row["lm"] == "2026-01-14 18:30:00"
    assert [r["id"] for r in found] == ["1"] and missed == []
    assert netsuite_sandbox.customer(1)["lastModifiedDate"] == "2026-01-15T02:30:00Z"


def test_every_write_bumps_last_modified_monotonically(netsuite_sandbox: NetSuiteSandbox) -> None:
    url = f"{netsuite_sandbox.url}/services/rest/record/v1/customer/1"
    stamps = []
    for n in range(3):
        patched = requests.patch(url, json={"comments": f"n{n}"}, auth=signer(), timeout=5)
        assert patched.status_code == 204
        stamps.append(netsuite_sandbox.sql("SELECT lastmodifieddate FROM customer WHERE id = 1"))
    values = [s[0]["lastmodifieddate"] for s in stamps]
    assert values == sorted(values) and len(set(values)) == 3


def test_ui_address_edit_moves_only_the_address_row(netsuite_sandbox: NetSuiteSandbox) -> None:
    before = netsuite_sandbox.customer(2)
    response = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/ui/customer/2/address", json={"city": "Oslo"}, timeout=5
    )
    assert response.status_code == 204
    after = netsuite_sandbox.customer(2)
    assert after["lastModifiedDate"] == before["lastModifiedDate"]
    billing = [i for i in after["addressBook"]["items"] if i["defaultBilling"]][0]
    assert billing["addressBookAddress"]["city"] == "Oslo"


def test_throttle_is_problem_details_with_retry_after(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.config.update({"fault_rate": 1.0, "faults": ["429"]})
    response = suiteql(netsuite_sandbox, "SELECT id FROM term")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert error_code(response) == "CONCURRENCY_LIMIT_EXCEEDED"


def test_seed_save_and_load_round_trip(netsuite_sandbox: NetSuiteSandbox, tmp_path) -> None:
    seeded = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/seed", json={"customers": 12, "seed": 1}, timeout=5
    )
    assert seeded.json() == {"customers": 12}
    path = tmp_path / "netsuite.json"
    saved = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/save", json={"path": str(path)}, timeout=5
    )
    assert saved.status_code == 200 and json.loads(path.read_text())["tables"]["customer"]
    copy = NetSuiteSandbox(state_file=str(path))
    assert copy.customers_count() == 12 and copy.customer(5) == netsuite_sandbox.customer(5)
    state = requests.get(f"{netsuite_sandbox.url}/_sandbox/state", timeout=5).json()
    assert state["tables"]["currency"] == 6 and state["tables"]["term"] == 5


def test_seed_sets_send_to_zuora_on_most_customers() -> None:
    sandbox = NetSuiteSandbox()
    sandbox.seed(customers=200, seed=11)
    flagged = sandbox.sql(
        "SELECT COUNT(*) AS n FROM customer WHERE custentity_zuora_send_to_zuora = 'T'"
    )[0]["n"]
    assert 180 <= flagged < 200
    assert sandbox.sql("SELECT COUNT(*) AS n FROM customer WHERE parent IS NOT NULL")[0]["n"] > 10


def test_customers_take_and_return_fax_taxable_and_the_new_custom_fields(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    from connectors.netsuite import fields

    url = f"{netsuite_sandbox.url}/services/rest/record/v1/customer/3"
    body = {
        "fax": "+1 555 0144",
        "isTaxable": True,
        fields.ZUORA_SALES_REP: "Jo Marsh",
        fields.ZUORA_TAX_EXEMPT_CERTIFICATE_ID: "EXM-1",
        fields.ZUORA_MRR: 1234.5,
    }
    assert requests.patch(url, json=body, auth=signer(), timeout=5).status_code == 204

    record = requests.get(url, auth=signer(), timeout=5).json()
    assert {key: record[key] for key in body} == body  # the amount comes back a number
    row = suiteql(
        netsuite_sandbox,
        f"SELECT fax, taxable, {fields.ZUORA_SALES_REP}, {fields.ZUORA_MRR} FROM customer"
        " WHERE id = 3",
    ).json()["items"][0]
    assert (row["fax"], row["taxable"], row[fields.ZUORA_SALES_REP]) == (
        "+1 555 0144",
        "T",
        "Jo Marsh",
    )
    assert row[fields.ZUORA_MRR] == "1234.50"  # SuiteQL answers strings
    text = requests.patch(url, json={fields.ZUORA_MRR: "a lot"}, auth=signer(), timeout=5)
    assert text.status_code == 400 and error_code(text) == "INVALID_CONTENT"
    long_fax = requests.patch(url, json={"fax": "5" * 33}, auth=signer(), timeout=5)
    assert long_fax.status_code == 400


def test_metadata_catalog_lists_every_custom_field_with_its_type(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    from connectors.netsuite import fields

    schema = requests.get(
        f"{netsuite_sandbox.url}/services/rest/record/v1/metadata-catalog/customer",
        headers={"Accept": "application/schema+json"},
        auth=signer(),
        timeout=5,
    ).json()["properties"]
    kinds = {"Free-Form Text": "string", "Currency": "number", "Check Box": "boolean"}
    for name in fields.ALL:
        assert schema[name]["x-ns-custom-field"] is True
        assert schema[name]["type"] == kinds[fields.KIND[name]]
    assert schema["isTaxable"]["type"] == "boolean" and schema["fax"]["type"] == "string"
