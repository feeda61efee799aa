"""The Zuora sandbox is strict where Zuora is: raw HTTP against it, no client in between."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, timedelta, timezone

import pytest
import requests

from connectors.sandboxes.zuora import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ZuoraSandbox

FORM = {
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "grant_type": "client_credentials",
}
CONTACT = {"firstName": "Ana", "lastName": "Chen", "country": "US", "state": "CA"}


@pytest.fixture
def api(zuora_sandbox):
    token = requests.post(f"{zuora_sandbox.url}/oauth/token", data=FORM, timeout=2).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def call(method, path, **kwargs):
        return session.request(method, f"{zuora_sandbox.url}{path}", timeout=2, **kwargs)

    return call


def _reason(response):
    body = response.json()
    assert body["success"] is False and body["processId"]
    return body["reasons"][0]


def _query(api, path="/object-query/accounts", **params):
    response = api("GET", path, params={"pageSize": 99, **params})
    assert response.status_code == 200, response.text
    return response.json()


# -- auth -----------------------------------------------------------------------------------------
def test_token_endpoint_accepts_form_encoding_only(zuora_sandbox):
    url = f"{zuora_sandbox.url}/oauth/token"
    assert requests.post(url, json=FORM, timeout=2).status_code == 400
    good = requests.post(url, data=FORM, timeout=2)
    assert good.status_code == 200
    assert good.json()["token_type"] == "bearer" and good.json()["expires_in"] == 3599
    wrong = requests.post(url, data={**FORM, "client_secret": "nope"}, timeout=2)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_api_calls_need_a_live_bearer_token(zuora_sandbox, api):
    bare = requests.get(f"{zuora_sandbox.url}/settings/currencies", timeout=2)
    assert bare.status_code == 401 and bare.json() == {"message": "Authentication error"}
    assert api("GET", "/settings/currencies").status_code == 200
    zuora_sandbox.revoke_tokens()
    assert api("GET", "/settings/currencies").status_code == 401


def test_expired_token_is_refused(zuora_sandbox):
    zuora_sandbox.token_ttl = 0
    token = requests.post(f"{zuora_sandbox.url}/oauth/token", data=FORM, timeout=2).json()
    response = requests.get(
        f"{zuora_sandbox.url}/settings/currencies",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=2,
    )
    assert response.status_code == 401


# -- object query ---------------------------------------------------------------------------------
def test_filter_field_names_must_be_lowercase_and_known(api):
    for bad in ("updatedDate.GE:2024-01-01T00:00:00Z", "nosuch.EQ:1"):
        response = api("GET", "/object-query/accounts", params={"filter[]": bad})
        assert response.status_code == 400
        assert _reason(response)["code"] % 100 == 21


@pytest.mark.parametrize("size", [0, 100, "x"])
def test_page_size_outside_1_to_99_is_rejected(api, size):
    response = api("GET", "/object-query/accounts", params={"pageSize": size})
    assert response.status_code == 400 and _reason(response)["code"] % 100 == 20


def test_default_page_is_ten_and_cursor_walks_to_the_end(api, zuora_sandbox):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"cursor": cursor} if cursor else {}
        body = api("GET", "/object-query/accounts", params=params).json()
        seen += [a["id"] for a in body["data"]]
        pages += 1
        cursor = body.get("nextPage")
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(zuora_sandbox.accounts)
    bad = api("GET", "/object-query/accounts", params={"cursor": "garbage"})
    assert bad.status_code == 400


def test_filter_operators(api, zuora_sandbox):
    accounts = list(zuora_sandbox.accounts.values())
    first, second = accounts[0], accounts[1]

    def ids(*filters):
        return {a["id"] for a in _query(api, **{"filter[]": list(filters)})["data"]}

    assert ids(f"id.EQ:{first['id']}") == {first["id"]}
    assert ids(f"accountnumber.IN:[{first['accountNumber']},{second['accountNumber']}]") == {
        first["id"],
        second["id"],
    }
    assert first["id"] not in ids(f"id.NE:{first['id']}")
    assert ids("accountnumber.SW:A0000000") == {
        a["id"] for a in accounts if a["accountNumber"].startswith("A0000000")
    }
    assert ids("status.EQ:Active", "crmid.EQ:null") == {
        a["id"] for a in accounts if a["status"] == "Active" and a["crmId"] is None
    }
    assert ids("billcycleday.GT:15") == {a["id"] for a in accounts if a["billCycleDay"] > 15}


def test_datetime_filters_compare_instants_across_offsets(api, zuora_sandbox):
    target = sorted(zuora_sandbox.accounts.values(), key=lambda a: a["updatedDate"])[10]
    stamp = target["updatedDate"]
    as_utc = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    rendered = _query(api, **{"filter[]": f"id.EQ:{target['id']}"})["data"][0]["updatedDate"]
    assert rendered.endswith("-08:00")  # the tenant's offset, not UTC
    for value in (as_utc, rendered):
        assert {
            a["id"] for a in _query(api, **{"filter[]": f"updateddate.EQ:{value}"})["data"]
        } == {target["id"]}


def test_sort_desc_and_null_fields(api, zuora_sandbox):
    body = _query(api, **{"sort[]": "accountnumber.DESC"})
    numbers = [a["accountNumber"] for a in body["data"]]
    assert numbers == sorted(numbers, reverse=True)
    assert any("crmId" not in a for a in body["data"])  # nulls are omitted...
    with_nulls = _query(api, includeNullFields="true")["data"]
    assert all("crmId" in a and "parentId" in a for a in with_nulls)  # ...unless asked for


def test_expand_embeds_contacts(api):
    plain = _query(api)["data"][0]
    assert "billTo" not in plain
    expanded = _query(api, **{"expand[]": ["billto", "soldto"]})["data"][0]
    assert expanded["billTo"]["id"] == expanded["billToId"]
    assert expanded["soldTo"]["id"] == expanded["soldToId"]


def test_contacts_query(api, zuora_sandbox):
    body = _query(api, "/object-query/contacts", **{"filter[]": "country.EQ:United States"})
    assert body["data"] and all(c["country"] == "United States" for c in body["data"])


# -- v1 writes ------------------------------------------------------------------------------------
def test_integration_id_filter_follows_creates_and_updates(api, zuora_sandbox):
    def ids(*filters):
        return {a["id"] for a in _query(api, **{"filter[]": list(filters)})["data"]}

    assert ids("integrationid__ns.IN:[901,902]") == set()  # builds the index
    created = _create(api, IntegrationId__NS="901").json()["accountId"]
    other = _create(api, IntegrationId__NS="902").json()["accountId"]
    assert ids("integrationid__ns.IN:[901,902]") == {created, other}
    api("PUT", f"/v1/accounts/{created}", json={"IntegrationId__NS": "903"})
    assert ids("integrationid__ns.EQ:901") == set()  # no longer carries it
    assert ids("integrationid__ns.IN:[903,904]") == {created}
    assert ids("integrationid__ns.EQ:902", "status.EQ:Cancelled") == set()
    assert ids(f"id.IN:[{created},{'0' * 32}]") == {created}


def _create(api, **overrides):
    payload = {"name": "Wonka Ltd", "currency": "USD", "billCycleDay": 0, "billToContact": CONTACT}
    payload.update(overrides)
    return api("POST", "/v1/accounts", json=payload)


@pytest.mark.parametrize(
    ("overrides", "category"),
    [
        ({"name": None}, 22),
        ({"name": "x" * 256}, 20),
        ({"currency": "XXX"}, 20),
        ({"billCycleDay": 32}, 20),
        ({"paymentTerm": "Net 99"}, 20),
        ({"accountNumber": "A" * 51}, 20),
        ({"accountNumber": "A00000001"}, 30),
        ({"parentId": "0" * 32}, 40),
        ({"autoPay": True}, 30),
        ({"colour": "red"}, 21),
        ({"billToContact": {"firstName": "Ana"}}, 22),
        ({"billToContact": {**CONTACT, "city": "x" * 41}}, 20),
        ({"billToContact": {**CONTACT, "workEmail": "x" * 81}}, 20),
        ({"billToContact": {**CONTACT, "zipCode": "1" * 21}}, 20),
        ({"billToContact": {**CONTACT, "country": "Atlantis"}}, 20),
        ({"soldToContact": {**CONTACT, "lastName": "x" * 101}}, 20),
    ],
)
def test_invalid_account_is_rejected_and_nothing_is_created(
    api, zuora_sandbox, overrides, category
):
    before = len(zuora_sandbox.accounts), len(zuora_sandbox.contacts)
    response = _create(api, **overrides)
    assert response.status_code == 200  # Zuora's v1 failures often come with HTTP 200
    code = _reason(response)["code"]
    assert len(str(code)) == 8 and code % 100 == category
    assert (len(zuora_sandbox.accounts), len(zuora_sandbox.contacts)) == before


def test_created_account_is_active_with_copied_sold_to_and_full_country(api, zuora_sandbox):
    parent = next(iter(zuora_sandbox.accounts))
    body = _create(api, parentId=parent, accountNumber="NEW-1").json()
    assert body["success"] and body["accountNumber"] == "NEW-1"
    account = zuora_sandbox.accounts[body["accountId"]]
    assert account["status"] == "Active" and account["parentId"] == parent
    sold = zuora_sandbox.contacts[body["soldToContactId"]]
    assert sold["country"] == "United States" and sold["firstName"] == "Ana"
    view = api("GET", "/v1/accounts/NEW-1").json()
    assert set(view) == {
        "basicInfo",
        "billingAndPayment",
        "metrics",
        "taxInfo",
        "billToContact",
        "soldToContact",
        "success",
    }
    assert view["billToContact"]["country"] == "United States"
    # A new account has no subscriptions yet and is not tax exempt.
    assert view["metrics"]["contractedMrr"] == 0 and view["taxInfo"]["exemptStatus"] == "No"


def test_sales_po_and_tax_fields_are_seeded_read_and_written_in_zuoras_shapes(api, zuora_sandbox):
    accounts = _query(api)["data"]
    assert all(
        "mrr" in a and a["taxExemptStatus"] in ("Yes", "No", "PendingVerification")
        for a in accounts
    )
    assert any(a.get("salesRepName") for a in accounts)
    assert any(a.get("purchaseOrderNumber") for a in accounts)
    assert any(a.get("taxExemptCertificateID") for a in accounts)
    account = accounts[0]
    body = {
        "salesRep": "Jo Marsh",
        "customerServiceRepName": "Al Reyes",
        "purchaseOrderNumber": "PO-9",
        "taxInfo": {"exemptStatus": "Yes", "exemptCertificateId": "EXM-9", "VATId": "DE1"},
    }
    assert api("PUT", f"/v1/accounts/{account['id']}", json=body).json()["success"]

    read = _query(api, filter=[f"id.EQ:{account['id']}"])["data"][0]
    assert (read["salesRepName"], read["customerServiceRepName"]) == ("Jo Marsh", "Al Reyes")
    assert (read["purchaseOrderNumber"], read["taxExemptStatus"]) == ("PO-9", "Yes")
    assert (read["taxExemptCertificateID"], read["vATId"]) == ("EXM-9", "DE1")
    view = api("GET", f"/v1/accounts/{account['id']}").json()
    assert view["basicInfo"]["salesRep"] == "Jo Marsh"
    assert view["basicInfo"]["purchaseOrderNumber"] == "PO-9"
    assert view["taxInfo"] == {
        "exemptStatus": "Yes",
        "exemptCertificateId": "EXM-9",
        "VATId": "DE1",
    }
    zoql = api(
        "POST",
        "/v1/action/query",
        json={
            "queryString": f"select SalesRepName, VATId from Account where Id = '{account['id']}'"
        },
    ).json()
    assert zoql["records"][0] == {"SalesRepName": "Jo Marsh", "VATId": "DE1"}


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ({"mrr": 10}, 21),  # computed by Zuora from subscriptions
        ({"salesRep": "x" * 51}, 20),
        ({"purchaseOrderNumber": "x" * 101}, 20),
        ({"taxInfo": {"exemptStatus": "Maybe"}}, 20),
        ({"taxInfo": {"exemptCertificateId": "x" * 33}}, 20),
        ({"taxInfo": {"vatRegNumber": "GB1"}}, 21),
    ],
    ids=["mrr-read-only", "long-sales-rep", "long-po", "bad-status", "long-certificate", "unknown"],
)
def test_invalid_sales_and_tax_values_are_refused_and_change_nothing(
    api, zuora_sandbox, body, category
):
    account = next(iter(zuora_sandbox.accounts.values()))
    before = dict(account)
    reason = _reason(api("PUT", f"/v1/accounts/{account['id']}", json=body))
    assert reason["code"] % 100 == category
    assert zuora_sandbox.accounts[account["id"]] == before


def test_idempotency_key_replays_and_is_bounded(api, zuora_sandbox):
    key = {"Idempotency-Key": "k-1"}
    payload = {"name": "Once", "currency": "USD", "billCycleDay": 1, "billToContact": CONTACT}
    first = api("POST", "/v1/accounts", json=payload, headers=key).json()
    again = api("POST", "/v1/accounts", json=payload, headers=key).json()
    assert first == again and sum(a["name"] == "Once" for a in zuora_sandbox.accounts.values()) == 1
    too_long = api("POST", "/v1/accounts", json=payload, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400


def test_updates_keep_timestamps_strictly_increasing(api, zuora_sandbox):
    account = next(iter(zuora_sandbox.accounts.values()))
    stamps = []
    for i in range(5):
        assert api(
            "PUT", f"/v1/accounts/{account['accountNumber']}", json={"notes": str(i)}
        ).json()["success"]
        stamps.append(zuora_sandbox.accounts[account["id"]]["updatedDate"])
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))


def test_account_put_with_contact_updates_both(api, zuora_sandbox):
    account = next(iter(zuora_sandbox.accounts.values()))
    response = api(
        "PUT", f"/v1/accounts/{account['id']}", json={"billToContact": {"city": "Austin"}}
    )
    assert response.json() == {"success": True}
    assert zuora_sandbox.contacts[account["billToId"]]["city"] == "Austin"


def test_contact_put_leaves_the_account_alone(api, zuora_sandbox):
    account = next(iter(zuora_sandbox.accounts.values()))
    before = account["updatedDate"]
    body = api("PUT", f"/v1/contacts/{account['soldToId']}", json={"country": "gb"}).json()
    assert body["success"] and body["country"] == "United Kingdom"
    assert zuora_sandbox.accounts[account["id"]]["updatedDate"] == before


def test_unknown_account_on_v1_is_not_found(api):
    reason = _reason(api("PUT", "/v1/accounts/NOPE", json={"notes": "x"}))
    assert reason["code"] % 100 == 40


# -- governance, seed, persistence ----------------------------------------------------------------
def test_throttle_answers_in_zuoras_shape(api, zuora_sandbox):
    zuora_sandbox.config.update({"fault_rate": 1.0, "faults": ["429"]})
    response = api("GET", "/settings/currencies")
    assert response.status_code == 429
    for header in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in response.headers
    assert _reason(response)["code"] % 100 == 70


def test_track_id_is_echoed_and_bounded(api):
    ok = api("GET", "/settings/currencies", headers={"Zuora-Track-Id": "t-1"})
    assert ok.headers["Zuora-Track-Id"] == "t-1"
    assert "Concurrency-Limit-Remaining" in ok.headers
    assert (
        api("GET", "/settings/currencies", headers={"Zuora-Track-Id": "x" * 65}).status_code == 400
    )


def test_seed_is_deterministic_and_realistic():
    one, two = ZuoraSandbox(), ZuoraSandbox()
    one.seed(300, seed=9)
    two.seed(300, seed=9)
    assert one.accounts == two.accounts and one.contacts == two.contacts
    accounts = list(one.accounts.values())
    assert all(len(a["id"]) == 32 for a in accounts)
    assert any(a["SynctoNetSuite__NS"] == "No" for a in accounts)
    assert {a["CustomerType__NS"] for a in accounts} == {"Company", "Individual"}
    assert any(a["Subsidiary__NS"] for a in accounts)
    assert any(a["parentId"] in one.accounts for a in accounts)
    assert len(one.contacts) == 600
    assert {a["status"] for a in accounts} == {"Active", "Draft", "Canceled"}


def test_state_survives_save_and_load(tmp_path, zuora_sandbox, api):
    zuora_sandbox.state_file = tmp_path / "zuora.json"
    _create(api, accountNumber="KEEP-1")
    assert requests.post(f"{zuora_sandbox.url}/_sandbox/save", timeout=2).status_code == 200
    restored = ZuoraSandbox(state_file=tmp_path / "zuora.json")
    assert restored.accounts == zuora_sandbox.accounts
    assert restored.contacts == zuora_sandbox.contacts


def test_control_seed_endpoint(zuora_sandbox):
    response = requests.post(
        f"{zuora_sandbox.url}/_sandbox/seed", json={"accounts": 12, "seed": 1}, timeout=2
    )
    assert response.json()["accounts"] == 12
    state = requests.get(f"{zuora_sandbox.url}/_sandbox/state", timeout=2).json()
    assert state["contacts"] == 24


def test_runs_standalone_as_a_module(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.sandboxes",
            "zuora",
            "--port",
            str(port),
            "--accounts",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                state = requests.get(f"http://127.0.0.1:{port}/_sandbox/state", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.05)
        assert json.loads(state.text)["accounts"] == 5
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_account_numbers_stay_unique_and_findable_through_renumbering(api, zuora_sandbox):
    created = _create(api, accountNumber="NEW-2").json()
    assert _reason(_create(api, accountNumber="NEW-2"))["code"] % 100 == 30  # in use
    renumbered = api("PUT", "/v1/accounts/NEW-2", json={"accountNumber": "NEW-3"}).json()
    assert renumbered["success"]

    assert api("GET", "/v1/accounts/NEW-3").json()["basicInfo"]["id"] == created["accountId"]
    assert _reason(api("GET", "/v1/accounts/NEW-2"))["code"] % 100 == 40
    assert _create(api, accountNumber="NEW-2").json()["success"]  # free again


# -- actions query (ZOQL) -------------------------------------------------------------------------
ZOQL_ACCOUNT_FIELDS = {
    "Id": "id",
    "AccountNumber": "accountNumber",
    "Name": "name",
    "Status": "status",
    "Currency": "currency",
    "ParentId": "parentId",
    "BillToId": "billToId",
    "SoldToId": "soldToId",
    "CrmId": "crmId",
    "Batch": "batch",
    "BillCycleDay": "billCycleDay",
    "AutoPay": "autoPay",
    "PaymentTerm": "paymentTerm",
    "Notes": "notes",
    "DefaultPaymentMethodId": "defaultPaymentMethodId",
    "CreatedDate": "createdDate",
    "UpdatedDate": "updatedDate",
    "IntegrationId__NS": "IntegrationId__NS",
    "IntegrationStatus__NS": "IntegrationStatus__NS",
    "SyncDate__NS": "SyncDate__NS",
    "SynctoNetSuite__NS": "SynctoNetSuite__NS",
    "Subsidiary__NS": "Subsidiary__NS",
    "CustomerType__NS": "CustomerType__NS",
    "CustomerId__NS": "CustomerId__NS",
}


def _zoql(api, query, batch_size=None):
    body = {"queryString": query}
    if batch_size is not None:
        body["conf"] = {"batchSize": batch_size}
    response = api("POST", "/v1/action/query", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _zoql_all(api, query, batch_size=None):
    """Every record of a query, following queryMore; also the answers, to check their shape."""
    answers = [_zoql(api, query, batch_size)]
    while not answers[-1]["done"]:
        more = api(
            "POST", "/v1/action/queryMore", json={"queryLocator": answers[-1]["queryLocator"]}
        )
        assert more.status_code == 200, more.text
        answers.append(more.json())
    return [r for a in answers for r in a["records"]], answers


def _zoql_ids(api, where, source="Account"):
    records, _ = _zoql_all(api, f"select Id from {source} where {where}")
    ids = [r["Id"] for r in records]
    assert len(ids) == len(set(ids))
    return set(ids)


def _utc(stamp):
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds")


def test_zoql_pages_every_matching_record_once_with_size_and_done(api, zuora_sandbox):
    records, answers = _zoql_all(api, "select Id, Name from Account", batch_size=7)
    assert [len(a["records"]) for a in answers] == [7, 7, 7, 7, 2]
    assert all(a["size"] == 30 for a in answers)
    assert [a["done"] for a in answers] == [False] * 4 + [True]
    assert all("queryLocator" in a for a in answers[:-1]) and "queryLocator" not in answers[-1]
    assert sorted(r["Id"] for r in records) == sorted(zuora_sandbox.accounts)
    assert zuora_sandbox.calls_to("v1.action.query") == 1
    assert zuora_sandbox.calls_to("v1.action.querymore") == 4


def test_zoql_default_batch_is_2000_and_an_empty_answer_is_done(api, zuora_sandbox):
    zuora_sandbox.seed(2100, seed=4)
    first = _zoql(api, "select Id from Account")
    assert len(first["records"]) == 2000 and first["size"] == 2100 and not first["done"]
    empty = _zoql(api, "select Id from Account where Id = 'none'")
    assert empty == {"records": [], "size": 0, "done": True}


def test_zoql_answers_pascal_case_selected_fields_without_nulls(api, zuora_sandbox):
    records, _ = _zoql_all(api, f"select {', '.join(ZOQL_ACCOUNT_FIELDS)} from Account")
    assert len(records) == 30
    for record in records:
        stored = zuora_sandbox.accounts[record["Id"]]
        expected = {name: stored.get(key) for name, key in ZOQL_ACCOUNT_FIELDS.items()}
        for name in ("CreatedDate", "UpdatedDate"):
            expected[name] = zuora_sandbox._fmt(expected[name])
        assert record == {k: v for k, v in expected.items() if v is not None}
    assert any("CrmId" not in r for r in records) and any("CrmId" in r for r in records)
    narrow, _ = _zoql_all(api, "select Name, UpdatedDate, BillCycleDay, AutoPay from Account")
    assert all(set(r) == {"Name", "UpdatedDate", "BillCycleDay", "AutoPay"} for r in narrow)


def test_zoql_dates_are_formatted_like_object_query(api, zuora_sandbox):
    record = _zoql(api, "select Id, CreatedDate, UpdatedDate from Account", 1)["records"][0]
    same = api("GET", f"/object-query/accounts/{record['Id']}").json()
    assert record["UpdatedDate"] == same["updatedDate"] and record["UpdatedDate"].endswith("-08:00")
    assert record["CreatedDate"] == same["createdDate"]


def test_zoql_keywords_and_field_names_are_case_insensitive(api, zuora_sandbox):
    records, _ = _zoql_all(
        api, "SELECT ID, accountnumber, synctonetsuite__ns FROM account WHERE STATUS = 'Active'"
    )
    assert records and all(set(r) <= {"Id", "AccountNumber", "SynctoNetSuite__NS"} for r in records)
    assert {r["Id"] for r in records} == {
        a["id"] for a in zuora_sandbox.accounts.values() if a["status"] == "Active"
    }


def test_zoql_and_binds_tighter_than_or(api, zuora_sandbox):
    zuora_sandbox.seed(200, seed=8)
    accounts = list(zuora_sandbox.accounts.values())
    found = _zoql_ids(api, "Status = 'Draft' or Status = 'Canceled' and BillCycleDay > 15")
    expected = {
        a["id"]
        for a in accounts
        if a["status"] == "Draft" or (a["status"] == "Canceled" and a["billCycleDay"] > 15)
    }
    grouped_the_other_way = {
        a["id"] for a in accounts if a["status"] in ("Draft", "Canceled") and a["billCycleDay"] > 15
    }
    assert found == expected and expected != grouped_the_other_way
    assert _zoql_ids(api, "AutoPay = true and BillCycleDay <= 5 or Currency = 'JPY'") == {
        a["id"]
        for a in accounts
        if (a["autoPay"] is True and a["billCycleDay"] <= 5) or a["currency"] == "JPY"
    }


def test_zoql_null_tests_and_nulls_match_no_comparison(api, zuora_sandbox):
    accounts = list(zuora_sandbox.accounts.values())
    without = {a["id"] for a in accounts if a["crmId"] is None}
    assert without and _zoql_ids(api, "CrmId = null") == without
    assert _zoql_ids(api, "CrmId != null") == set(zuora_sandbox.accounts) - without
    # As in SQL: a null field is not "different from 'x'"; ask for "or CrmId = null" too.
    assert _zoql_ids(api, "CrmId != 'x'") == set(zuora_sandbox.accounts) - without
    assert _zoql_ids(api, "CrmId != 'x' or CrmId = null") == set(zuora_sandbox.accounts)


def test_zoql_date_comparisons_compare_instants_across_offsets(api, zuora_sandbox):
    records = sorted(zuora_sandbox.accounts.values(), key=lambda a: a["updatedDate"])
    stamp, upper = records[10]["updatedDate"], records[20]["updatedDate"]
    spellings = [
        _utc(stamp)[:-6] + "Z",
        _utc(stamp),
        _utc(stamp)[:-6] + "-00:00",
        zuora_sandbox._fmt(stamp),  # the tenant's -08:00
        stamp.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
    ]
    for text in spellings:
        assert _zoql_ids(api, f"UpdatedDate >= '{text}' and UpdatedDate <= '{text}'") == {
            records[10]["id"]
        }, text
    window = _zoql_ids(api, f"UpdatedDate >= '{spellings[4]}' and UpdatedDate < '{_utc(upper)}'")
    assert window == {a["id"] for a in records[10:20]}
    assert _zoql_ids(api, f"UpdatedDate > '{spellings[0]}'") == {a["id"] for a in records[11:]}


def test_zoql_custom_fields_by_api_name(api, zuora_sandbox):
    account = next(iter(zuora_sandbox.accounts.values()))
    update = {"type": "Account", "objects": [{"Id": account["id"], "IntegrationId__NS": "4711"}]}
    assert api("POST", "/v1/action/update", json=update).json()[0]["Success"]
    query = "select Id, IntegrationId__NS, CustomerType__NS from Account where IntegrationId__NS = "
    record = _zoql(api, query + "'4711'")["records"]
    assert record == [
        {
            "Id": account["id"],
            "IntegrationId__NS": "4711",
            "CustomerType__NS": account["CustomerType__NS"],
        }
    ]
    unsynced = _zoql_ids(api, "SynctoNetSuite__NS = 'No' or SynctoNetSuite__NS = null")
    assert unsynced == {
        a["id"] for a in zuora_sandbox.accounts.values() if a["SynctoNetSuite__NS"] in ("No", None)
    }


def test_zoql_string_literals_escape_quotes_and_backslashes(api, zuora_sandbox):
    created = _create(api, name="O'Brien \\ Sons").json()
    assert created["success"]
    assert _zoql_ids(api, r"Name = 'O\'Brien \\ Sons'") == {created["accountId"]}


def test_zoql_queries_contacts(api, zuora_sandbox):
    records, _ = _zoql_all(
        api,
        "select Id, AccountId, FirstName, LastName, WorkEmail, PostalCode, Country, UpdatedDate "
        "from Contact where Country = 'United States'",
    )
    expected = [c for c in zuora_sandbox.contacts.values() if c["country"] == "United States"]
    assert records and len(records) == len(expected)
    for record in records:
        stored = zuora_sandbox.contacts[record["Id"]]
        assert record["AccountId"] == stored["accountId"]
        assert record.get("PostalCode") == stored["postalCode"]
        assert record["LastName"] == stored["lastName"] and record["Country"] == "United States"
        assert record["UpdatedDate"] == zuora_sandbox._fmt(stored["updatedDate"])
    account = next(iter(zuora_sandbox.accounts.values()))
    assert _zoql_ids(api, f"AccountId = '{account['id']}'", source="Contact") == {
        account["billToId"],
        account["soldToId"],
    }


@pytest.mark.parametrize(
    ("query", "category", "words"),
    [
        ("select Nope from Account", 21, "Account.Nope"),
        ("select Id from Account where Colour = 'red'", 21, "Account.Colour"),
        ("select Id, FirstName from Account", 21, "Account.FirstName"),
        ("select * from Account", 20, "select *"),
        ("select Id from Account order by UpdatedDate", 20, "ORDER BY"),
        ("select Id from Account, Contact", 20, "joins"),
        ("select Id from Account where (Status = 'Active')", 20, "parentheses"),
        ("select Id from Account where Name = 'open", 20, "not closed"),
        ("select Id from Account where Name = 1", 20, "quote the value"),
        ("select Id from Account where BillCycleDay = '1'", 20, "number"),
        ("select Id from Account where UpdatedDate >= 'yesterday'", 20, "date-time"),
        ("select Id from Account where CrmId > null", 20, "null"),
        ("select Id from Account where Name = Notes", 20, "two fields"),
        ("select Id from Account where", 20, "ends"),
        ("select Id from Invoice", 20, "Invoice"),
        ("select Id Account", 20, "'from'"),
    ],
)
def test_zoql_bad_queries_get_a_readable_error(api, query, category, words):
    response = api("POST", "/v1/action/query", json={"queryString": query})
    assert response.status_code == 200  # the v1 status of the sandbox's other invalid requests
    reason = _reason(response)
    assert len(str(reason["code"])) == 8 and reason["code"] % 100 == category
    assert words in reason["message"]


@pytest.mark.parametrize("size", [2001, 0, "10", True])
def test_zoql_batch_size_must_be_1_to_2000(api, size):
    response = api(
        "POST",
        "/v1/action/query",
        json={"queryString": "select Id from Account", "conf": {"batchSize": size}},
    )
    reason = _reason(response)
    assert reason["code"] % 100 == 20 and "batchSize" in reason["message"]


def test_zoql_unknown_or_expired_locator_is_an_error(api, zuora_sandbox):
    for locator in ("garbage", "0" * 32 + "-7", None):
        reason = _reason(api("POST", "/v1/action/queryMore", json={"queryLocator": locator}))
        assert reason["code"] % 100 == 20 and "queryLocator" in reason["message"]
    first = _zoql(api, "select Id from Account", batch_size=10)
    zuora_sandbox.query_locator_ttl = 0
    reason = _reason(
        api("POST", "/v1/action/queryMore", json={"queryLocator": first["queryLocator"]})
    )
    assert "expired" in reason["message"]


def test_zoql_pages_a_snapshot_so_updates_neither_repeat_nor_vanish(api, zuora_sandbox):
    latest = max(a["updatedDate"] for a in zuora_sandbox.accounts.values())
    query = f"select Id, UpdatedDate from Account where UpdatedDate <= '{_utc(latest)}'"
    first = _zoql(api, query, batch_size=10)
    seen = [r["Id"] for r in first["records"]]
    later = next(i for i in zuora_sandbox.accounts if i not in seen)
    before = zuora_sandbox._fmt(zuora_sandbox.accounts[later]["updatedDate"])
    for key in (seen[0], later):  # now newer than the query's bound, and bumped forward
        assert api("PUT", f"/v1/accounts/{key}", json={"notes": "moved"}).json()["success"]
    records = first["records"]
    locator = first["queryLocator"]
    while locator:
        answer = api("POST", "/v1/action/queryMore", json={"queryLocator": locator}).json()
        records += answer["records"]
        locator = answer.get("queryLocator")
    ids = [r["Id"] for r in records]
    assert len(ids) == len(set(ids)) == first["size"] == 30
    assert next(r for r in records if r["Id"] == later)["UpdatedDate"] == before
    assert len(_zoql_all(api, query)[0]) == 28  # a new query sees the two updates


def test_sold_to_same_as_bill_to_is_one_contact_so_updating_either_updates_both(
    zuora_sandbox, zuora_client
):
    made = zuora_client.create_account(
        {
            "name": "Shared Contact Co",
            "currency": "USD",
            "billCycleDay": 1,
            "billToContact": {"firstName": "Bea", "lastName": "Bill", "city": "Austin"},
            "soldToSameAsBillTo": True,
        },
        idempotency_key="shared-contact",
    )
    assert made["billToContactId"] == made["soldToContactId"]
    zuora_client.update_account(made["accountId"], {"soldToContact": {"city": "Reno"}})
    assert zuora_sandbox.contacts[made["billToContactId"]]["city"] == "Reno"
