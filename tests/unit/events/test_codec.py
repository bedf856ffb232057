"""Encoding and decoding CloudEvents on Kafka, and every way a message can be poison."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.events import PoisonMessage, decode, encode, new_event
from shared.events.complaint import ComplaintOpened
from shared.events.interaction import OrderPlaced
from shared.events.vocabulary import ComplaintCategory, Severity

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def order() -> OrderPlaced:
    return OrderPlaced(order_id="SO-1", amount=Decimal("1200.50"))


def test_binary_mode_round_trip_keeps_every_attribute() -> None:
    event = new_event(
        order(),
        subject="C-1001",
        source="/services/interaction",
        time=NOW - timedelta(days=400),
        actor="agent:wang",
        correlation_id="corr-1",
        sequence=7,
    )
    record = encode(event)
    assert record.topic == "crm.interaction.v1"
    assert record.key == b"C-1001"
    headers = dict(record.headers)
    assert headers["ce_type"] == b"crm.order.placed.v1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["content-type"] == b"application/json"
    assert json.loads(record.value)["amount"] == "1200.50"
    assert decode(record.value, record.headers, now=NOW, max_future_skew=SKEW) == event


def test_structured_mode_is_accepted_on_input() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "ext-42",
        "source": "cti://pbx-hangzhou",
        "type": "crm.complaint.opened.v1",
        "time": "2026-11-23T15:30:00+08:00",
        "subject": "C-1001",
        "datacontenttype": "application/json",
        "data": {
            "complaint_id": "CP-1",
            "category": "product_quality",
            "subcategory": "leakage",
            "severity": "high",
            "title": "罐体泄漏",
        },
    }
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    event = decode(json.dumps(envelope).encode(), headers, now=NOW, max_future_skew=SKEW)
    assert isinstance(event.data, ComplaintOpened)
    assert event.data.category is ComplaintCategory.PRODUCT_QUALITY
    assert event.data.severity is Severity.HIGH
    assert event.time == datetime(2026, 11, 23, 7, 30, tzinfo=UTC)


def test_a_v1_consumer_reads_a_v1_event_with_an_extra_optional_field() -> None:
    event = new_event(order(), subject="C-1", source="/x", time=NOW)
    record = encode(event)
    enriched = json.loads(record.value) | {"sales_channel": "key_account_desk"}
    decoded = decode(json.dumps(enriched).encode(), record.headers, now=NOW, max_future_skew=SKEW)
    assert decoded.data == event.data


def _poison(value: bytes | None, headers: list[tuple[str, bytes]]) -> PoisonMessage:
    with pytest.raises(PoisonMessage) as caught:
        decode(value, headers, now=NOW, max_future_skew=SKEW)
    return caught.value


def _good_headers(**override: bytes) -> list[tuple[str, bytes]]:
    record = encode(new_event(order(), subject="C-1", source="/x", time=NOW))
    headers = dict(record.headers) | override
    return list(headers.items())


@pytest.mark.parametrize(
    ("value", "headers", "error_class", "reason_part"),
    [
        (b"\xff\xfe garbage", [], "undecodable", "neither binary-mode"),
        (b"{not json", [], "undecodable", "neither binary-mode"),
        (b'{"hello": 1}', [], "undecodable", "not a CloudEvent"),
        (b"plain text", [("content-type", b"text/plain")], "undecodable", "text/plain"),
        (None, [], "undecodable", "tombstone"),
        (b"{not json", "good", "schema_invalid", "Invalid JSON"),
        (b'{"order_id": "SO-1", "amount": "lots"}', "good", "schema_invalid", "amount"),
        (b'{"order_id": "SO-1"}', "good", "schema_invalid", "amount: Field required"),
        (b"{}", "unknown", "unknown_type", "crm.order.teleported.v1"),
        (b'{"order_id": "SO-1", "amount": 1}', "future", "event_time_in_future", "ahead"),
        (b'{"order_id": "SO-1", "amount": 1}', "naive", "schema_invalid", "time zone"),
        (b"{}", [("ce_specversion", b"\xff")], "undecodable", "UTF-8"),
    ],
)
def test_each_kind_of_poison_is_named(
    value: bytes | None, headers: object, error_class: str, reason_part: str
) -> None:
    if headers == "good":
        headers = _good_headers()
    elif headers == "unknown":
        headers = _good_headers(ce_type=b"crm.order.teleported.v1")
    elif headers == "future":
        headers = _good_headers(ce_time=(NOW + timedelta(hours=1)).isoformat().encode())
    elif headers == "naive":
        headers = _good_headers(ce_time=b"2026-11-23T08:00:00")
    assert isinstance(headers, list)
    poison = _poison(value, headers)
    assert poison.error_class == error_class
    assert reason_part in poison.reason


def test_event_time_within_the_skew_and_far_in_the_past_is_accepted() -> None:
    for at in (NOW + SKEW - timedelta(seconds=1), NOW - timedelta(days=3650)):
        record = encode(new_event(order(), subject="C-1", source="/x", time=at))
        assert decode(record.value, record.headers, now=NOW, max_future_skew=SKEW).time == at


def test_customer_id_is_validated() -> None:
    with pytest.raises(ValueError):
        new_event(order(), subject="bad id with spaces", source="/x", time=NOW)
