"""The Zuora client against the in-process sandbox, over real HTTP."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from connectors.http import RunAborted, TransportError
from connectors.sandboxes.zuora import DEFAULT_CLIENT_SECRET
from connectors.zuora.client import (
    ZuoraCredentials,
    format_zoql_datetime,
    parse_zuora_datetime,
    zoql_quote,
)
from connectors.zuora.errors import ZuoraAuthError, ZuoraError, check
from tests.zuora_fixtures import make_zuora_client

NEW_ACCOUNT = {
    "name": "Nordlicht GmbH",
    "currency": "EUR",
    "billCycleDay": 1,
    "paymentTerm": "Net 30",
    "billToContact": {"firstName": "Søren", "lastName": "Weiß", "country": "DE", "city": "Köln"},
}


def _api_calls(sandbox, prefix=""):
    return [r for r in sandbox.requests_seen if r["path"].startswith(prefix)]


# -- tokens ------------------------------------------------------------------------------------
def test_token_is_fetched_once_and_reused_for_many_calls(zuora_client, zuora_sandbox):
    for _ in range(5):
        zuora_client.list_currencies()
    list(zuora_client.iter_accounts(page_size=7))
    assert zuora_client.calls_by_kind()["token"] == 1
    assert zuora_sandbox.token_count == 1


def test_one_token_is_shared_by_threads(zuora_client, zuora_sandbox):
    errors = []

    def work():
        try:
            zuora_client.list_payment_terms()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert zuora_sandbox.token_count == 1


def test_a_later_client_of_the_same_credentials_reuses_the_token(zuora_sandbox):
    # Each sync run builds its own client: only the first run of a process asks for a token.
    make_zuora_client(zuora_sandbox).list_currencies()
    later = make_zuora_client(zuora_sandbox)
    later.list_currencies()
    assert later.calls_by_kind().get("token", 0) == 0
    assert zuora_sandbox.token_count == 1


def test_a_revoked_token_is_not_handed_to_later_clients(zuora_sandbox):
    make_zuora_client(zuora_sandbox).list_currencies()
    zuora_sandbox.revoke_tokens()
    refused = make_zuora_client(zuora_sandbox)
    refused.list_currencies()  # 401, a new token, the call again
    later = make_zuora_client(zuora_sandbox)
    later.list_currencies()
    assert refused.calls_by_kind()["token"] == 1
    assert later.calls_by_kind().get("token", 0) == 0
    assert zuora_sandbox.statuses["settings.currencies 401"] == 1


def test_token_is_refreshed_before_it_expires(zuora_sandbox):
    zuora_sandbox.token_ttl = 1  # the client refreshes half-way through so short a life
    client = make_zuora_client(zuora_sandbox)
    client.list_currencies()
    time.sleep(0.6)
    client.list_currencies()
    assert client.calls_by_kind()["token"] == 2
    assert zuora_sandbox.calls_to("v1.account.get") == 0
    assert zuora_sandbox.statuses.get("settings.currencies 401", 0) == 0


def test_revoked_token_is_refreshed_once_and_the_call_retried(zuora_client, zuora_sandbox):
    zuora_client.list_currencies()
    zuora_sandbox.revoke_tokens()
    assert "USD" in zuora_client.list_currencies()
    assert zuora_client.calls_by_kind()["token"] == 2
    assert zuora_sandbox.statuses["settings.currencies 401"] == 1


def test_a_401_that_persists_after_one_refresh_is_raised(zuora_sandbox):
    zuora_sandbox.token_ttl = 0  # every token is dead on arrival
    client = make_zuora_client(zuora_sandbox)
    with pytest.raises(RunAborted) as caught:
        client.list_currencies()
    assert caught.value.status == 401
    assert caught.value.permanent
    assert zuora_sandbox.statuses["settings.currencies 401"] == 2


def test_wrong_secret_is_a_permanent_auth_error_without_the_secret(zuora_sandbox):
    secret = "s3cr3t-that-must-not-leak"
    client = make_zuora_client(zuora_sandbox, client_secret=secret)
    with pytest.raises(RunAborted) as caught:
        client.get_account("A00000001")
    error = caught.value
    assert error.permanent and error.status == 401
    assert client.calls_by_kind() == {"token": 1}  # not retried
    for text in (str(error), repr(error), error.message, repr(client), str(client)):
        assert secret not in text
    assert "Bad client credentials" in str(error)


def test_secret_and_token_never_appear_in_repr(zuora_client, zuora_sandbox):
    zuora_client.list_currencies()
    token = next(iter(zuora_sandbox.tokens))
    credentials = zuora_client.credentials
    for text in (repr(credentials), str(credentials), repr(zuora_client), str(zuora_client)):
        assert DEFAULT_CLIENT_SECRET not in text
        assert token not in text


# -- reading -------------------------------------------------------------------------------------
def test_paging_returns_every_account_exactly_once(zuora_sandbox):
    zuora_sandbox.seed(250, seed=3)
    client = make_zuora_client(zuora_sandbox)
    accounts = list(client.iter_accounts())
    ids = [a["id"] for a in accounts]
    assert len(ids) == 250 and set(ids) == set(zuora_sandbox.accounts)
    assert client.calls_by_kind()["query"] == 3  # 99 + 99 + 52
    stamps = [parse_zuora_datetime(a["updatedDate"]) for a in accounts]
    assert stamps == sorted(stamps)


def test_small_pages_embed_bill_to_and_sold_to(zuora_client):
    accounts = list(zuora_client.iter_accounts(page_size=7))
    assert len(accounts) == 30
    assert zuora_client.calls_by_kind()["query"] == 5
    assert all(a["billTo"]["id"] == a["billToId"] for a in accounts)
    assert all("soldTo" in a for a in accounts)


def test_accounts_changed_since_includes_the_watermark_instant(zuora_client, zuora_sandbox):
    records = sorted(zuora_sandbox.accounts.values(), key=lambda a: a["updatedDate"])
    watermark = records[20]["updatedDate"]
    # The same instant expressed in another offset must select the same records.
    since = watermark.astimezone(datetime.now().astimezone().tzinfo)
    changed = list(zuora_client.iter_accounts_changed_since(since))
    expected = {a["id"] for a in records if a["updatedDate"] >= watermark}
    assert {a["id"] for a in changed} == expected
    assert records[20]["id"] in expected


def test_naive_datetime_is_refused(zuora_client):
    with pytest.raises(ValueError):
        list(zuora_client.iter_accounts_changed_since(datetime(2024, 1, 1)))


def test_accounts_by_ids_are_fetched_in_chunks(zuora_sandbox):
    zuora_sandbox.seed(120, seed=5)
    client = make_zuora_client(zuora_sandbox)
    wanted = list(zuora_sandbox.accounts)[:75]
    found = list(client.iter_accounts_by_ids(wanted + wanted[:3]))
    assert sorted(a["id"] for a in found) == sorted(wanted)
    assert client.calls_by_kind()["query"] == 2


def test_get_account_by_number_or_id(zuora_client, zuora_sandbox):
    by_number = zuora_client.get_account("A00000001")
    by_id = zuora_client.get_account(by_number["id"])
    assert by_number == by_id
    assert by_number["billTo"]["country"]  # a full country name


def test_missing_account_is_a_permanent_not_found(zuora_client):
    with pytest.raises(ZuoraError) as caught:
        zuora_client.get_account("A99999999")
    assert caught.value.category == 40 and caught.value.permanent
    assert caught.value.status == 404


def test_settings_lists(zuora_client):
    assert {"USD", "EUR"} <= set(zuora_client.list_currencies())
    assert "Net 30" in zuora_client.list_payment_terms()


def test_parse_zuora_datetime_compares_as_instants():
    pacific = parse_zuora_datetime("2024-01-01T16:00:00.000-08:00")
    utc = parse_zuora_datetime("2024-01-02T00:00:00Z")
    assert pacific == utc and pacific.tzinfo is not None
    assert parse_zuora_datetime("2024-01-02T00:00:00").tzinfo is not None


# -- ZOQL -----------------------------------------------------------------------------------------
def test_zoql_pages_through_queryMore_and_yields_every_record_once(zuora_sandbox):
    zuora_sandbox.seed(250, seed=3)
    client = make_zuora_client(zuora_sandbox)
    records = list(client.iter_zoql("select Id, AccountNumber from Account", batch_size=100))
    ids = [r["Id"] for r in records]
    assert len(ids) == 250 and set(ids) == set(zuora_sandbox.accounts)
    assert all(set(r) == {"Id", "AccountNumber"} for r in records)
    assert client.calls_by_kind() == {"token": 1, "query": 3}
    assert zuora_sandbox.calls_to("v1.action.query") == 1
    assert zuora_sandbox.calls_to("v1.action.querymore") == 2


def test_zoql_reads_thousands_of_records_in_two_calls(zuora_sandbox):
    zuora_sandbox.seed(2500, seed=6)
    client = make_zuora_client(zuora_sandbox)
    records = list(
        client.iter_zoql("select Id, Name, UpdatedDate, SynctoNetSuite__NS from Account")
    )
    assert len({r["Id"] for r in records}) == 2500
    assert client.calls_by_kind()["query"] == 2


def test_zoql_changed_since_with_the_literal_helpers(zuora_client, zuora_sandbox):
    records = sorted(zuora_sandbox.accounts.values(), key=lambda a: a["updatedDate"])
    watermark = records[20]["updatedDate"]
    since = watermark.astimezone(timezone(timedelta(hours=-5)))  # the same instant elsewhere
    query = (
        f"select Id, UpdatedDate from Account where UpdatedDate >= {format_zoql_datetime(since)}"
    )
    changed = list(zuora_client.iter_zoql(query))
    assert {r["Id"] for r in changed} == {a["id"] for a in records[20:]}
    assert all(parse_zuora_datetime(r["UpdatedDate"]) >= watermark for r in changed)
    name = "D'Arcy \\ Söhne' or Name != '"  # a quote in data must not widen the query
    created = zuora_client.create_account({**NEW_ACCOUNT, "name": name}, idempotency_key="zoql")
    found = list(zuora_client.iter_zoql(f"select Id from Account where Name = {zoql_quote(name)}"))
    assert found == [{"Id": created["accountId"]}]


def test_zoql_literal_helpers():
    assert format_zoql_datetime(datetime(2024, 1, 1, tzinfo=UTC)) == "'2024-01-01T00:00:00+00:00'"
    pacific = datetime(2024, 1, 1, 16, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-8)))
    assert format_zoql_datetime(pacific) == "'2024-01-02T00:00:00.123+00:00'"
    with pytest.raises(ValueError):
        format_zoql_datetime(datetime(2024, 1, 1))
    assert zoql_quote("O'Brien \\ Co") == "'O\\'Brien \\\\ Co'"


def test_zoql_error_is_a_permanent_zuora_error(zuora_client):
    with pytest.raises(ZuoraError) as caught:
        list(zuora_client.iter_zoql("select Id, Colour from Account"))
    error = caught.value
    assert error.permanent and error.category == 21 and error.code == "56000021"
    assert "Account.Colour" in str(error)
    assert zuora_client.calls_by_kind()["query"] == 1  # not retried


def test_zoql_batch_size_over_2000_is_refused_before_calling(zuora_client, zuora_sandbox):
    for size in (2001, 0):
        with pytest.raises(ValueError, match="1..2000"):
            zuora_client.iter_zoql("select Id from Account", batch_size=size)
    assert zuora_sandbox.calls_to("v1.action.query") == 0


def test_zoql_expired_locator_raises_after_the_first_batch(zuora_client, zuora_sandbox):
    zuora_sandbox.query_locator_ttl = 0
    records = zuora_client.iter_zoql("select Id from Account", batch_size=10)
    assert len([next(records) for _ in range(10)]) == 10
    with pytest.raises(ZuoraError) as caught:
        next(records)
    assert caught.value.permanent and "queryLocator" in str(caught.value)


def test_zoql_paging_survives_retried_faults(zuora_sandbox):
    zuora_sandbox.seed(120, seed=2)
    zuora_sandbox.config.update(
        {"fault_rate": 0.4, "faults": ["503", "drop"], "fault_paths": "^/v1/action/query"}
    )
    client = make_zuora_client(zuora_sandbox, max_attempts=25)  # 0.4^25: never gives up
    client.transport.backoff_cap = 0.05
    ids = [r["Id"] for r in client.iter_zoql("select Id from Account", batch_size=15)]
    assert len(ids) == 120 and set(ids) == set(zuora_sandbox.accounts)
    assert client.calls_by_kind()["query"] > 8


# -- writing --------------------------------------------------------------------------------------
def test_create_account_returns_ids_and_copies_sold_to(zuora_client, zuora_sandbox):
    created = zuora_client.create_account(NEW_ACCOUNT, idempotency_key="create-1")
    assert set(created) == {"accountId", "accountNumber", "billToContactId", "soldToContactId"}
    account = zuora_client.get_account(created["accountId"])
    assert account["status"] == "Active"
    assert account["billTo"]["country"] == "Germany"
    assert account["soldTo"]["lastName"] == "Weiß"
    assert created["billToContactId"] != created["soldToContactId"]


def test_idempotency_key_replay_creates_one_account(zuora_client, zuora_sandbox):
    before = len(zuora_sandbox.accounts)
    first = zuora_client.create_account(NEW_ACCOUNT, idempotency_key="same-key")
    second = zuora_client.create_account(NEW_ACCOUNT, idempotency_key="same-key")
    assert first == second
    assert len(zuora_sandbox.accounts) == before + 1


def test_concurrent_requests_with_one_key_create_one_account(zuora_sandbox):
    zuora_sandbox.write_delay = 0.15  # keeps the first request in flight
    # Backoff long enough for the loser's retries to outlast the winner's write.
    zuora_client = make_zuora_client(zuora_sandbox, backoff_base=0.1, max_attempts=6)
    before = len(zuora_sandbox.accounts)
    results = []

    def create():
        results.append(zuora_client.create_account(NEW_ACCOUNT, idempotency_key="race"))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(zuora_sandbox.accounts) == before + 1
    assert zuora_sandbox.statuses["v1.account.create 409"] >= 1  # the loser was told to wait


def test_validation_failure_with_http_200_is_a_permanent_error(zuora_client, zuora_sandbox):
    before = len(zuora_sandbox.accounts), len(zuora_sandbox.contacts)
    with pytest.raises(ZuoraError) as caught:
        zuora_client.create_account({**NEW_ACCOUNT, "currency": "XYZ"}, idempotency_key="bad")
    error = caught.value
    assert error.status == 200 and error.permanent
    assert error.code == "53100020" and error.category == 20
    assert str(error).startswith("Zuora 53100020: Invalid value for field currency")
    assert error.process_id
    assert (len(zuora_sandbox.accounts), len(zuora_sandbox.contacts)) == before


def test_update_account_bumps_its_updated_date(zuora_client, zuora_sandbox):
    before = parse_zuora_datetime(zuora_client.get_account("A00000002")["updatedDate"])
    zuora_client.update_account("A00000002", {"notes": "renewed", "IntegrationId__NS": "1234"})
    after = zuora_client.get_account("A00000002")
    assert parse_zuora_datetime(after["updatedDate"]) > before
    assert after["IntegrationId__NS"] == "1234"


def test_update_accounts_writes_many_accounts_in_one_call(zuora_client, zuora_sandbox):
    first = zuora_client.get_account("A00000002")
    second = zuora_client.get_account("A00000003")
    errors = zuora_client.update_accounts(
        [
            (first["id"], {"IntegrationId__NS": "11", "IntegrationStatus__NS": "Sync Complete"}),
            (second["id"], {"IntegrationId__NS": "12", "Notes": "via actions"}),
        ]
    )
    assert errors == [None, None]
    assert zuora_client.calls_by_kind()["write"] == 1
    assert zuora_sandbox.calls_to("v1.action.update") == 1
    after = zuora_client.get_account("A00000003")
    assert (after["IntegrationId__NS"], after["notes"]) == ("12", "via actions")
    assert parse_zuora_datetime(after["updatedDate"]) > parse_zuora_datetime(second["updatedDate"])


def test_update_accounts_fails_one_object_and_writes_the_others(zuora_client, zuora_sandbox):
    good = zuora_client.get_account("A00000002")
    errors = zuora_client.update_accounts(
        [
            ("8a8aa0000000000000000000000nope", {"IntegrationId__NS": "13"}),
            (good["id"], {"IntegrationId__NS": "14"}),
            (good["id"], {"Batch": "Batch99"}),
        ]
    )
    missing, written, refused = errors
    assert written is None
    assert missing.code == "INVALID_ID" and not missing.retryable
    assert "nope" in str(missing)
    assert refused.code == "INVALID_VALUE" and "batch" in str(refused)
    assert zuora_client.get_account("A00000002")["IntegrationId__NS"] == "14"


def test_update_accounts_refuses_more_than_fifty_before_calling(zuora_client, zuora_sandbox):
    with pytest.raises(ValueError, match="1 to 50"):
        zuora_client.update_accounts([("x", {})] * 51)
    assert zuora_sandbox.calls_to("v1.action.update") == 0


def test_sandbox_refuses_an_action_update_of_another_type_or_size(zuora_client, zuora_sandbox):
    token = zuora_client._bearer()
    url = f"{zuora_sandbox.url}/v1/action/update"
    headers = {"Authorization": f"Bearer {token}"}
    for body in (
        {"type": "Invoice", "objects": [{"Id": "x"}]},
        {"type": "Account", "objects": [{"Id": "x"}] * 51},
        {"type": "Account", "objects": []},
    ):
        answer = requests.post(url, json=body, headers=headers, timeout=10).json()
        assert answer["success"] is False, body
        assert answer["reasons"][0]["code"] % 100 == 20


def test_contact_edit_bumps_the_contact_not_the_account(zuora_client, zuora_sandbox):
    account = zuora_client.get_account("A00000004")
    watermark = datetime.now(UTC) - timedelta(seconds=1)
    updated = zuora_client.update_contact(account["billToId"], {"city": "Lyon", "country": "FR"})
    assert updated["country"] == "France" and "success" not in updated
    again = zuora_client.get_account("A00000004")
    assert again["updatedDate"] == account["updatedDate"]
    assert parse_zuora_datetime(again["billTo"]["updatedDate"]) > parse_zuora_datetime(
        account["billTo"]["updatedDate"]
    )
    assert [c["id"] for c in zuora_client.iter_contacts_changed_since(watermark)] == [
        account["billToId"]
    ]
    assert account["id"] not in {
        a["id"] for a in zuora_client.iter_accounts_changed_since(watermark)
    }


# -- headers and counting --------------------------------------------------------------------------
def test_every_call_carries_a_track_id_and_entity(zuora_sandbox):
    client = make_zuora_client(zuora_sandbox, entity_id="entity-1")
    client.list_currencies()
    client.get_account("A00000001")
    seen = _api_calls(zuora_sandbox)
    track_ids = [r["track_id"] for r in seen]
    assert all(t and t.startswith("syncadmin-") and len(t) <= 64 for t in track_ids)
    assert len(set(track_ids)) == 2
    assert all(r["entity_ids"] == "entity-1" for r in seen)


def test_calls_are_counted_by_kind(zuora_client):
    list(zuora_client.iter_accounts(page_size=10))
    zuora_client.get_account("A00000001")
    zuora_client.update_account("A00000001", {"notes": "x"})
    assert zuora_client.calls_by_kind() == {"token": 1, "query": 3, "read": 1, "write": 1}


# -- failures and retries -------------------------------------------------------------------------
def test_transient_faults_are_retried_until_success(zuora_sandbox):
    zuora_sandbox.config.update(
        {"fault_rate": 0.3, "faults": ["503", "429", "html"], "fault_paths": "^/object-query"}
    )
    client = make_zuora_client(zuora_sandbox, max_attempts=20)  # 0.3^20: never gives up
    client.transport.backoff_cap = 0.05
    for _ in range(10):
        assert client.get_account("A00000001")["accountNumber"] == "A00000001"
    failures = sum(v for k, v in zuora_sandbox.statuses.items() if k.split()[-1] != "200")
    assert failures > 0
    assert client.calls_by_kind()["read"] == 10 + failures


def test_retries_give_up_with_a_clear_retryable_error(zuora_client, zuora_sandbox):
    zuora_sandbox.config.update(
        {"fault_rate": 1.0, "faults": ["503"], "fault_paths": "^/object-query"}
    )
    with pytest.raises(ZuoraError) as caught:
        zuora_client.get_account("A00000001")
    error = caught.value
    assert error.retryable and error.status == 503 and error.category == 61
    assert "gave up after 4 attempts" in str(error)
    assert zuora_client.calls_by_kind()["read"] == 4


def test_throttling_honours_retry_after_and_reports_it(zuora_sandbox):
    seen = []
    zuora_sandbox.config.update({"fault_rate": 1.0, "faults": ["429"], "fault_paths": "^/set"})
    client = make_zuora_client(zuora_sandbox, max_attempts=2, on_throttle=seen.append)
    with pytest.raises(ZuoraError) as caught:
        client.list_currencies()
    assert caught.value.status == 429 and caught.value.retryable
    assert caught.value.retry_after == 0 and seen == [0.0, 0.0]


def test_hung_call_times_out_and_is_retryable(zuora_sandbox):
    zuora_sandbox.config.update(
        {"fault_rate": 1.0, "faults": ["hang"], "hang_seconds": 0.6, "fault_paths": "^/set"}
    )
    client = make_zuora_client(zuora_sandbox, timeout=0.2, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.list_currencies()
    assert caught.value.code == "TIMEOUT" and caught.value.retryable
    assert time.monotonic() - started < 1.5


def test_dropped_connections_are_retried(zuora_sandbox):
    zuora_sandbox.config.update({"fault_rate": 0.4, "faults": ["drop"], "fault_paths": "^/set"})
    client = make_zuora_client(zuora_sandbox, max_attempts=25)  # 0.4^25: never gives up
    client.transport.backoff_cap = 0.05
    for _ in range(8):
        assert client.list_payment_terms()
    assert client.calls_by_kind()["read"] > 8


def _response(status, body, headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers.update(headers or {"Content-Type": "application/json"})
    return response


@pytest.mark.parametrize(
    ("category", "retryable"),
    [
        (10, False),
        (11, False),
        (20, False),
        (21, False),
        (22, False),
        (30, False),
        (40, False),
        (50, True),
        (60, False),
        (61, True),
        (70, True),
        (90, False),
        (99, True),
    ],
)
def test_reason_category_decides_retry(category, retryable):
    code = 53100000 + category
    body = (
        f'{{"success": false, "processId": "P1", "reasons": [{{"code": {code}, "message": "m"}}]}}'
    )
    error = check(_response(200, body))
    assert error is not None and error.retryable is retryable
    assert error.category == category and error.code == str(code) and error.process_id == "P1"


def test_http_status_without_envelope_decides_retry():
    html = "<html><body>Bad Gateway</body></html>"
    assert check(_response(502, html, {"Content-Type": "text/html"})).retryable
    assert not check(_response(400, "<html>no</html>", {"Content-Type": "text/html"})).retryable
    throttled = check(_response(429, '{"message": "slow down"}', {"Retry-After": "7"}))
    assert throttled.retryable and throttled.retry_after == 7
    assert check(_response(200, '{"success": true}')) is None
    assert check(_response(200, "<html>maintenance</html>")).retryable
    auth = check(_response(401, '{"error": "invalid_client"}'), auth=True)
    assert isinstance(auth, ZuoraAuthError) and auth.permanent


def test_credentials_repr_hides_the_secret():
    credentials = ZuoraCredentials("https://rest.test.zuora.com", "id", "very-secret")
    assert "very-secret" not in repr(credentials)
