"""NetSuiteClient against the NetSuite sandbox over real HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connectors.http import BadAnswer, RunAborted, TransportError
from connectors.netsuite.client import NetSuiteClient
from connectors.netsuite.errors import NetSuiteError
from connectors.sandboxes.netsuite import DEFAULT_CONSUMER_SECRET, NetSuiteSandbox
from tests.netsuite_fixtures import make_client, oauth2_client, tba_credentials

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def company(**extra):
    return {"companyName": "Example Co", "subsidiary": {"id": "2"}, **extra}


# -- auth ------------------------------------------------------------------
def test_tba_signed_calls_are_accepted(netsuite_client: NetSuiteClient) -> None:
    assert [t["name"] for t in netsuite_client.list_terms()][:2] == ["Net 15", "Net 30"]
    assert netsuite_client.calls_by_kind() == {"query": 1}


def test_wrong_secret_is_refused_permanently_without_leaking_it(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    secret = "wrong-secret-value-123"
    client = make_client(tba_credentials(netsuite_sandbox, token_secret=secret))
    with pytest.raises(RunAborted) as caught:
        client.list_terms()
    error = caught.value
    assert "INVALID_LOGIN" in str(error) and error.status == 401 and not error.retryable
    assert secret not in str(error) and DEFAULT_CONSUMER_SECRET not in str(error)
    assert client.calls_by_kind() == {"query": 1}  # not retried
    assert secret not in repr(client) and secret not in repr(client.credentials)


def test_tba_signs_with_hmac_sha256_in_the_accounts_realm_afresh_each_call(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    # The sandbox's account id in the form NetSuite names its realm (1234567_SB1).
    client = make_client(tba_credentials(netsuite_sandbox, account_id="1234567-sb1"))
    sent: list[str] = []
    client.transport.session.hooks["response"].append(
        lambda answer, **_: sent.append(answer.request.headers["Authorization"].decode())
    )

    client.get_customer("1")
    client.get_customer("1")

    assert client.calls_by_kind() == {"read": 2}  # both accepted, neither retried
    for header in sent:
        assert header.startswith("OAuth ")
        assert 'realm="1234567_SB1"' in header
        assert 'oauth_signature_method="HMAC-SHA256"' in header
    nonces = [header.split('oauth_nonce="')[1].split('"')[0] for header in sent]
    assert len(set(nonces)) == 2


def test_realm_must_be_the_account_id(netsuite_sandbox: NetSuiteSandbox) -> None:
    client = make_client(tba_credentials(netsuite_sandbox, account_id="7654321"))
    with pytest.raises(RunAborted, match="NetSuite refused the credentials"):
        client.list_terms()


@pytest.mark.parametrize("algorithm", ["ES256", "PS256"])
def test_oauth2_client_credentials_accepted(
    netsuite_sandbox: NetSuiteSandbox, algorithm: str
) -> None:
    client = oauth2_client(netsuite_sandbox, algorithm=algorithm)
    assert len(client.list_currencies()) == 6
    client.get_customer("1")
    assert client.calls_by_kind() == {"token": 1, "query": 1, "read": 1}  # token reused


def test_oauth2_token_refreshed_after_expiry(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.token_ttl = 1
    client = oauth2_client(netsuite_sandbox)
    client.list_terms()
    client.list_terms()
    assert netsuite_sandbox.tokens_issued == 1
    time.sleep(1.05)
    client.list_terms()
    assert netsuite_sandbox.tokens_issued == 2
    assert client.calls_by_kind()["token"] == 2


def test_oauth2_unregistered_key_refused(netsuite_sandbox: NetSuiteSandbox) -> None:
    client = oauth2_client(netsuite_sandbox, register=False, client_id="nobody")
    with pytest.raises(RunAborted) as caught:
        client.list_terms()
    assert "invalid_client" in str(caught.value) and not caught.value.retryable


# -- SuiteQL ------------------------------------------------------------------
def test_suiteql_pages_without_repeats_or_losses(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.seed(customers=45, seed=3)
    client = make_client(tba_credentials(netsuite_sandbox))
    ids = [r["id"] for r in client.suiteql("SELECT id FROM customer ORDER BY id", page_size=7)]
    assert ids == [str(i) for i in range(1, 46)]
    assert client.calls_by_kind() == {"query": 7}


def test_suiteql_values_are_strings_booleans_tf_and_nulls_omitted(
    netsuite_client: NetSuiteClient,
) -> None:
    rows = list(
        netsuite_client.suiteql(
            "SELECT id, isperson, parent, lastmodifieddate FROM customer ORDER BY id"
        )
    )
    assert all(isinstance(v, str) for row in rows for v in row.values())
    assert {row["isperson"] for row in rows} <= {"T", "F"}
    assert any("parent" not in row for row in rows)
    assert "/" in rows[0]["lastmodifieddate"]  # raw dates follow the user's format


def test_customers_changed_since_filters_by_date(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    netsuite_sandbox.set_last_modified([1, 2, 3], datetime(2020, 1, 1, tzinfo=UTC))
    netsuite_sandbox.set_last_modified([4], datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC))
    since = datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC)
    found = list(netsuite_client.iter_customers_changed_since(since, extra_where="id <= 5"))
    assert [c["id"] for c in found] == ["4", "5"]
    assert found[0]["lastModifiedDate"] == "2021-06-01T12:00:00Z"
    assert found[0]["subsidiary"]["id"] and isinstance(found[0]["isPerson"], bool)
    assert found[0]["addressBook"]["items"][0]["addressBookAddress"]["country"]


@pytest.mark.parametrize("parallel", [1, 4])
def test_customers_changed_since_rewindows_past_the_row_cap(
    netsuite_sandbox: NetSuiteSandbox, parallel: int
) -> None:
    netsuite_sandbox.seed(customers=130, seed=5)
    netsuite_sandbox.max_rows = 40
    # Many customers in one second straddle every window boundary.
    same_second = datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
    for offset, block in enumerate(range(0, 130, 26)):
        ids = list(range(block + 1, block + 27))
        netsuite_sandbox.set_last_modified(ids, same_second + timedelta(seconds=offset))
    client = make_client(tba_credentials(netsuite_sandbox), max_rows_per_query=40)
    netsuite_sandbox.config.update({"latency_ms": 20})
    found = list(client.iter_customers_changed_since(EPOCH, page_size=10, parallel=parallel))
    # Oldest first, pages read at once or not: each block's second, then by id.
    assert [int(c["id"]) for c in found] == list(range(1, 131))
    assert (netsuite_sandbox.peak_in_flight > 1) == (parallel > 1)
    assert all(c["addressBook"]["items"] for c in found)
    calls = client.calls_by_kind()["query"]
    assert calls < 60  # one address query per page, not one per customer


def test_selection_pages_read_at_once_come_back_whole_and_in_order(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    netsuite_sandbox.seed(customers=95, seed=4)
    netsuite_sandbox.set_last_modified(list(range(1, 96)), datetime(2024, 3, 1, tzinfo=UTC))
    client = make_client(tba_credentials(netsuite_sandbox))
    found = list(
        client.iter_customers_changed_since(EPOCH, page_size=10, address_books=False, parallel=3)
    )
    assert [c["id"] for c in found] == [str(i) for i in range(1, 96)]
    assert client.calls_by_kind() == {"query": 10}  # 95 rows in pages of 10, each read once


def test_suiteql_beyond_row_cap_is_an_error_not_silent_loss(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    netsuite_sandbox.max_rows = 5
    client = make_client(tba_credentials(netsuite_sandbox), max_rows_per_query=5)
    with pytest.raises(NetSuiteError) as caught:
        list(client.suiteql("SELECT id FROM customer ORDER BY id", page_size=2))
    assert caught.value.code == "ROW_CAP"


def test_address_only_ui_edit_found_through_address_table(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = requests.post(
        f"{netsuite_sandbox.url}/_sandbox/ui/customer/3/address",
        json={"addr1": "9 New Road"},
        timeout=5,
    )
    assert response.status_code == 204
    assert list(netsuite_client.iter_customers_changed_since(before)) == []
    assert list(netsuite_client.iter_address_changes_since(before)) == ["3"]
    address = netsuite_client.get_customer("3")["addressBook"]["items"][0]["addressBookAddress"]
    assert address["addr1"] == "9 New Road"


def test_reference_lists(netsuite_client: NetSuiteClient) -> None:
    assert [c["symbol"] for c in netsuite_client.list_currencies()] == [
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "JPY",
        "AUD",
    ]
    names = [s["name"] for s in netsuite_client.list_subsidiaries()]
    assert names == ["Parent Company", "Parent Company : US Sub", "Parent Company : EU Sub"]


# -- records ------------------------------------------------------------------
def test_create_returns_id_and_auto_numbers_entity_id(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    new_id = netsuite_client.create_customer(company(email="a@b.example"))
    record = netsuite_client.get_customer(new_id, expand=False)
    assert record["entityId"].startswith("CUS-") and record["email"] == "a@b.example"
    assert record["subsidiary"] == {"id": "2", "refName": "Parent Company : US Sub"}
    assert "addressBook" not in record


def test_upsert_by_external_id_twice_gives_one_customer(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    count = netsuite_sandbox.customers_count()
    first = netsuite_client.upsert_customer("ZU-42", company(companyName="One"))
    second = netsuite_client.upsert_customer("ZU-42", company(companyName="Two"))
    assert first == second and netsuite_sandbox.customers_count() == count + 1
    assert netsuite_client.get_customer("eid:ZU-42")["companyName"] == "Two"
    assert netsuite_sandbox.find_by_external_id("ZU-42")["id"] == first


def line(addr1: str, *, billing: bool = False, label: str = "L") -> dict:
    return {
        "label": label,
        "defaultBilling": billing,
        "defaultShipping": False,
        "addressBookAddress": {"addr1": addr1, "country": "US"},
    }


def test_patch_merges_address_lines_unless_replace(netsuite_client: NetSuiteClient) -> None:
    cid = netsuite_client.create_customer(company(addressBook={"items": [line("A", billing=True)]}))
    netsuite_client.update_customer(cid, {"addressBook": {"items": [line("B")]}})
    items = netsuite_client.get_customer(cid)["addressBook"]["items"]
    assert [i["addressBookAddress"]["addr1"] for i in items] == ["A", "B"]
    first = items[0]["internalId"]
    netsuite_client.update_customer(
        cid,
        {"addressBook": {"items": [{"internalId": first, "addressBookAddress": {"city": "X"}}]}},
    )
    items = netsuite_client.get_customer(cid)["addressBook"]["items"]
    assert items[0]["addressBookAddress"] == {
        "links": [],
        "addr1": "A",
        "city": "X",
        "country": "US",
    }
    netsuite_client.update_customer(
        cid, {"addressBook": {"items": [line("C", billing=True)]}}, replace_address_book=True
    )
    items = netsuite_client.get_customer(cid)["addressBook"]["items"]
    assert [(i["addressBookAddress"]["addr1"], i["defaultBilling"]) for i in items] == [("C", True)]


def test_lines_are_keyed_by_their_id_with_and_without_replace(
    netsuite_client: NetSuiteClient,
) -> None:
    cid = netsuite_client.create_customer(
        company(addressBook={"items": [line("A", billing=True), line("B"), line("C")]})
    )
    a, b, c = (i["id"] for i in netsuite_client.get_customer(cid)["addressBook"]["items"])
    # Without replace: the named line is updated field by field, the others are kept.
    netsuite_client.update_customer(
        cid,
        {"addressBook": {"items": [{"id": b, "addressBookAddress": {"city": "Y"}}, line("D")]}},
    )
    items = netsuite_client.get_customer(cid)["addressBook"]["items"]
    assert [(i["id"], i["addressBookAddress"]["addr1"]) for i in items][:3] == [
        (a, "A"),
        (b, "B"),
        (c, "C"),
    ]
    assert items[1]["addressBookAddress"]["city"] == "Y"
    assert [i["addressBookAddress"]["addr1"] for i in items] == ["A", "B", "C", "D"]
    # With replace: lines named by id are updated and kept, the others removed.
    netsuite_client.update_customer(
        cid,
        {"addressBook": {"items": [{"id": c, "addressBookAddress": {"city": "Z"}}]}},
        replace_address_book=True,
    )
    items = netsuite_client.get_customer(cid)["addressBook"]["items"]
    assert [
        (i["id"], i["addressBookAddress"]["addr1"], i["addressBookAddress"]["city"]) for i in items
    ] == [(c, "C", "Z")]
    with pytest.raises(NetSuiteError) as caught:
        netsuite_client.update_customer(
            cid, {"addressBook": {"items": [{"id": 999999, "addressBookAddress": {}}]}}
        )
    assert caught.value.status == 400


def test_patch_keeps_omitted_fields_and_null_clears(netsuite_client: NetSuiteClient) -> None:
    cid = netsuite_client.create_customer(company(email="x@y.example", phone="123"))
    before = netsuite_client.get_customer(cid)["lastModifiedDate"]
    netsuite_client.update_customer(cid, {"phone": None, "comments": "hi"})
    record = netsuite_client.get_customer(cid)
    assert record["email"] == "x@y.example" and record["comments"] == "hi"
    assert "phone" not in record
    assert record["lastModifiedDate"] >= before


@pytest.mark.parametrize(
    ("payload", "code", "path"),
    [
        ({"companyName": "No Sub"}, "USER_ERROR", "subsidiary"),
        (company(subsidiary={"id": "99"}), "INVALID_CONTENT", "subsidiary"),
        (company(currency={"id": "99"}), "INVALID_CONTENT", "currency"),
        (company(terms={"id": "99"}), "INVALID_CONTENT", "terms"),
        (company(parent={"id": "9999"}), "INVALID_CONTENT", "parent"),
        (company(entityId="CUS-000001"), "USER_ERROR", "entityId"),
        (company(externalId="has space"), "INVALID_CONTENT", "externalId"),
        (company(email="not-an-email"), "INVALID_CONTENT", "email"),
        (company(companyName="x" * 84), "USER_ERROR", "companyName"),
        (company(phone="1" * 33), "USER_ERROR", "phone"),
        (company(comments="c" * 1000), "USER_ERROR", "comments"),
        (company(firstName="f" * 33), "USER_ERROR", "firstName"),
        (company(colour="blue"), "INVALID_CONTENT", "colour"),
        (
            company(addressBook={"items": [{"addressBookAddress": {"country": "USA"}}]}),
            "INVALID_CONTENT",
            "addressBook.items[0].addressBookAddress.country",
        ),
        (
            company(addressBook={"items": [{"addressBookAddress": {"city": "c" * 51}}]}),
            "USER_ERROR",
            "addressBook.items[0].addressBookAddress.city",
        ),
        (
            company(addressBook={"items": [{"addressBookAddress": {"zip": "1" * 37}}]}),
            "USER_ERROR",
            "addressBook.items[0].addressBookAddress.zip",
        ),
    ],
)
def test_validation_errors_name_the_field(
    netsuite_client: NetSuiteClient, payload: dict, code: str, path: str
) -> None:
    with pytest.raises(NetSuiteError) as caught:
        netsuite_client.create_customer(payload)
    error = caught.value
    assert (error.status, error.code, error.path, error.retryable) == (400, code, path, False)
    assert f"NetSuite {code} at {path}:" in str(error)
    assert netsuite_client.calls_by_kind() == {"write": 1}


def test_unknown_customer_is_nonexistent_id(netsuite_client: NetSuiteClient) -> None:
    for key in ("424242", "eid:nope"):
        with pytest.raises(NetSuiteError) as caught:
            netsuite_client.get_customer(key)
        assert (caught.value.status, caught.value.code) == (404, "NONEXISTENT_ID")
        assert not caught.value.retryable


def test_an_error_names_the_call_by_method_and_path_and_nothing_of_its_credentials(
    netsuite_client: NetSuiteClient,
) -> None:
    with pytest.raises(NetSuiteError) as caught:
        netsuite_client.get_customer("eid:no such one")
    message = str(caught.value)
    assert "(GET /services/rest/record/v1/customer/eid:no%20such%20one)" in message
    assert "?" not in message and "oauth" not in message.lower()
    assert DEFAULT_CONSUMER_SECRET not in message


# -- resilience ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("429", 429, "CONCURRENCY_LIMIT_EXCEEDED"),
        ("503", 503, "UNEXPECTED_ERROR"),
        ("html", 502, "HTTP_502"),
    ],
)
def test_transient_errors_are_retryable(
    netsuite_sandbox: NetSuiteSandbox, fault: str, status: int, code: str
) -> None:
    netsuite_sandbox.config.update({"fault_rate": 1.0, "faults": [fault]})
    client = make_client(tba_credentials(netsuite_sandbox), max_attempts=1)
    with pytest.raises(NetSuiteError) as caught:
        client.get_customer("1")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (status, code, True)


def test_503_and_html_pages_are_retried_until_success(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.config.update({"fault_rate": 0.5, "faults": ["503", "html"]})
    # 30 attempts: at a fault rate of one in two, one read failing them all is a 1e-9 chance.
    client = make_client(tba_credentials(netsuite_sandbox), max_attempts=30)
    client.transport.backoff_cap = 0.02  # the sandbox's Retry-After: 1 would slow the test
    for key in ("1", "2", "3", "4", "5", "6"):
        assert client.get_customer(key)["id"] == key
    assert client.calls_by_kind()["read"] > 6


def test_concurrency_limit_429s_absorbed_by_retries(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.config.update({"latency_ms": 40})
    throttles: list[float | None] = []
    client = make_client(
        tba_credentials(netsuite_sandbox), max_attempts=60, on_throttle=throttles.append
    )
    # Retry-After is 1 s; the cap keeps the test fast, and 60 attempts (about 3 s of retries
    # each) leave no request starved on a loaded machine: all 30 need 0.24 s of slots in all.
    client.transport.backoff_cap = 0.05

    with ThreadPoolExecutor(max_workers=15) as pool:
        results = list(pool.map(lambda i: client.get_customer(str(i % 8 + 1))["id"], range(30)))
    assert len(results) == 30
    assert throttles and throttles[0] == 1.0  # Retry-After honoured
    assert netsuite_sandbox.peak_in_flight <= 5


def test_a_throttled_call_waits_the_retry_after_before_trying_again(
    netsuite_sandbox: NetSuiteSandbox,
) -> None:
    netsuite_sandbox.config.update(
        {"fault_rate": 1.0, "faults": ["429"], "fault_limit": 1, "retry_after_seconds": 1}
    )
    throttles: list[float | None] = []
    client = make_client(tba_credentials(netsuite_sandbox), on_throttle=throttles.append)

    assert client.get_customer("1")["id"] == "1"

    assert throttles == [1.0] and client.calls_by_kind() == {"read": 2}
    first, second = (call["at"] for call in netsuite_sandbox.call_log)
    assert second - first >= 1.0  # the client's backoff alone would have been 0.01 s


def test_hung_call_times_out(netsuite_sandbox: NetSuiteSandbox) -> None:
    netsuite_sandbox.config.update({"fault_rate": 1.0, "faults": ["hang"], "hang_seconds": 1.0})
    client = make_client(tba_credentials(netsuite_sandbox), timeout=0.2, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.get_customer("1")
    assert caught.value.code == "TIMEOUT" and caught.value.retryable
    assert time.monotonic() - started < 1.0


def test_create_is_not_blindly_retried_after_a_dropped_connection(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    netsuite_sandbox.config.update({"fault_rate": 1.0, "faults": ["drop"]})
    with pytest.raises(TransportError):
        netsuite_client.create_customer(company())
    assert netsuite_client.calls_by_kind() == {"write": 1}


def test_a_create_whose_answer_is_garbled_is_not_tried_again(
    netsuite_sandbox: NetSuiteSandbox, netsuite_client: NetSuiteClient
) -> None:
    # The create landed; a second try would make a second customer. The caller recovers by
    # the external id or the cross-reference instead.
    before = netsuite_sandbox.customers_count()
    netsuite_sandbox.config.update(
        {"fault_rate": 1.0, "faults": ["garbage"], "garbage_answers": ["object"]}
    )
    with pytest.raises(BadAnswer) as caught:
        netsuite_client.create_customer(company())
    assert caught.value.retryable and caught.value.code == "BAD_ANSWER"
    assert "NetSuite sent an unreadable answer to POST" in str(caught.value)
    assert netsuite_client.calls_by_kind() == {"write": 1}
    assert netsuite_sandbox.customers_count() == before + 1


def test_a_client_built_from_the_settings_pools_a_connection_per_configured_call(
    db, netsuite_sandbox: NetSuiteSandbox
) -> None:
    from connectors.sandboxes import netsuite as sandbox
    from syncadmin.services.connections import netsuite_client_build, netsuite_connection_update
    from syncadmin.services.preferences import preferences_update

    preferences_update(values={"netsuite_concurrency": 7, "default_subsidiary": "1"})
    netsuite_connection_update(
        account_id=sandbox.DEFAULT_ACCOUNT_ID,
        base_url=netsuite_sandbox.url,
        consumer_key=sandbox.DEFAULT_CONSUMER_KEY,
        consumer_secret=sandbox.DEFAULT_CONSUMER_SECRET,
        token_id=sandbox.DEFAULT_TOKEN_ID,
        token_secret=sandbox.DEFAULT_TOKEN_SECRET,
    )

    client = netsuite_client_build()

    assert client.transport.pool_size == 7  # see test_http_transport: at most 7 connections
    assert client.get_customer("1")["id"] == "1"
