"""Change detection: an update is only sent when a mapped value actually changed."""

from __future__ import annotations

import hashlib

import pytest

from connectors.netsuite import fields as ns
from syncadmin.mapping import VOLATILE_FIELDS, changed_fields, payload_hash, update_payload

LINE_BILL = {"defaultBilling": True, "label": "B", "addressBookAddress": {"city": "Paris"}}
LINE_SOLD = {"defaultShipping": True, "label": "S", "addressBookAddress": {"city": "Rome"}}
SENT = {
    "companyName": "Acme",
    "currency": {"id": "1"},
    ns.ZUORA_UPDATED: "2024-01-01T00:00:00Z",
    "addressBook": {"items": [LINE_BILL, LINE_SOLD]},
}
MOVED = {**LINE_SOLD, "addressBookAddress": {"city": "Milan"}}

# (id, previous, current, ignore, expected changed_fields)
CHANGES = [
    ("identical", SENT, SENT, (), {}),
    ("no-previous-everything-new", None, {"a": 1}, (), {"a": (None, 1)}),
    ("value-changed", {"a": 1}, {"a": 2}, (), {"a": (1, 2)}),
    ("new-key", {"a": 1}, {"a": 1, "b": 2}, (), {"b": (None, 2)}),
    ("key-only-in-previous-not-a-change", {"a": 1, "b": 2}, {"a": 1}, (), {}),
    ("ignored-key", {"a": 1}, {"a": 2}, ("a",), {}),
    (
        "read-back-refName-not-a-change",
        {"currency": {"id": "1", "refName": "USD"}},
        {"currency": {"id": "1"}},
        (),
        {},
    ),
    (
        "reference-id-changed",
        {"currency": {"id": "1", "refName": "USD"}},
        {"currency": {"id": "2"}},
        (),
        {"currency": ({"id": "1", "refName": "USD"}, {"id": "2"})},
    ),
    (
        "address-line-changed",
        {"addressBook": {"items": [LINE_BILL, LINE_SOLD]}},
        {"addressBook": {"items": [LINE_BILL, MOVED]}},
        (),
        {
            "addressBook": (
                {"items": [LINE_BILL, LINE_SOLD]},
                {"items": [LINE_BILL, MOVED]},
            )
        },
    ),
    (
        "extra-destination-line-is-a-change",
        {"addressBook": {"items": [LINE_BILL, LINE_SOLD, LINE_SOLD]}},
        {"addressBook": {"items": [LINE_BILL, LINE_SOLD]}},
        (),
        {
            "addressBook": (
                {"items": [LINE_BILL, LINE_SOLD, LINE_SOLD]},
                {"items": [LINE_BILL, LINE_SOLD]},
            )
        },
    ),
    ("false-vs-missing-is-a-change", {}, {"isPerson": False}, (), {"isPerson": (None, False)}),
]


@pytest.mark.parametrize(
    ("previous", "current", "ignore", "expected"),
    [c[1:] for c in CHANGES],
    ids=[c[0] for c in CHANGES],
)
def test_changed_fields(previous, current, ignore, expected):
    assert changed_fields(previous, current, ignore=ignore) == expected


# (id, current, expected update payload); previous is SENT, ignore is VOLATILE_FIELDS
UPDATES = [
    ("nothing-changed", SENT, {}),
    ("volatile-alone-no-update", {**SENT, ns.ZUORA_UPDATED: "2024-02-02T00:00:00Z"}, {}),
    (
        "volatile-rides-along-with-real-change",
        {**SENT, "companyName": "Acme Ltd", ns.ZUORA_UPDATED: "2024-02-02T00:00:00Z"},
        {"companyName": "Acme Ltd", ns.ZUORA_UPDATED: "2024-02-02T00:00:00Z"},
    ),
    (
        "address-book-sent-whole",
        {**SENT, "addressBook": {"items": [LINE_BILL, MOVED]}},
        {"addressBook": {"items": [LINE_BILL, MOVED]}},
    ),
    ("only-changed-keys", {**SENT, "currency": {"id": "2"}}, {"currency": {"id": "2"}}),
]


@pytest.mark.parametrize(
    ("current", "expected"), [u[1:] for u in UPDATES], ids=[u[0] for u in UPDATES]
)
def test_update_payload(current, expected):
    assert update_payload(SENT, current, ignore=VOLATILE_FIELDS) == expected


def test_update_payload_without_previous_sends_everything():
    assert update_payload(None, SENT) == SENT


def test_payload_hash_is_sha256_of_canonical_json():
    expected = hashlib.sha256(b'{"a":1,"b":"\xc3\xa9"}').hexdigest()
    assert payload_hash({"b": "é", "a": 1}) == expected


# (id, other payload, same hash as SENT?)
HASHES = [
    ("key-order-irrelevant", dict(reversed(list(SENT.items()))), True),
    ("value-change", {**SENT, "companyName": "Acme Ltd"}, False),
    ("volatile-change-ignored", {**SENT, ns.ZUORA_UPDATED: "2030-01-01T00:00:00Z"}, True),
    ("line-order-matters", {**SENT, "addressBook": {"items": [LINE_SOLD, LINE_BILL]}}, False),
]


@pytest.mark.parametrize(("other", "same"), [h[1:] for h in HASHES], ids=[h[0] for h in HASHES])
def test_payload_hash(other, same):
    ours = payload_hash(SENT, ignore=VOLATILE_FIELDS)
    assert (payload_hash(other, ignore=VOLATILE_FIELDS) == ours) is same
