"""Batch items validated one by one; admission control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.interaction.api.intake import Clock, batch_item
from services.interaction.domain.activities import Recorded
from services.interaction.domain.overload import InFlightLimit

CLOCK = Clock(now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC), max_future_skew=timedelta(minutes=5))


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_id": "C-1",
        "channel": "sms",
        "direction": "outbound",
        "occurred_at": "2026-11-20T08:00:00+08:00",
        "source_system": "cc",
        "external_id": "sms-1",
    } | overrides


def test_good_item_becomes_a_fact() -> None:
    result = batch_item(item(), CLOCK, kind="interaction", actor="agent:li", correlation_id=None)
    assert isinstance(result, Recorded)
    assert result.event.actor == "agent:li"
    assert result.document["occurred_at"] == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (item(channel="fax"), "interaction", "channel"),
        (item(extra=1), "interaction", "extra"),
        (item(occurred_at="2026-11-24T08:00:00Z"), "interaction", "future"),
        (item(), None, "kind"),
        (item(kind="order"), None, "order_id"),
    ],
)
def test_bad_items_get_a_reason(raw: dict[str, Any], kind: str | None, expected: str) -> None:
    result = batch_item(raw, CLOCK, kind=kind, actor=None, correlation_id=None)
    assert isinstance(result, str)
    assert expected in result


def test_missing_event_time_means_now() -> None:
    raw = {k: v for k, v in item().items() if k != "occurred_at"}
    result = batch_item(raw, CLOCK, kind="interaction", actor=None, correlation_id=None)
    assert isinstance(result, Recorded)
    assert result.document["occurred_at"] == CLOCK.now


def test_in_flight_limit() -> None:
    limit = InFlightLimit(2)
    assert limit.try_acquire() and limit.try_acquire()
    assert not limit.try_acquire()
    limit.release()
    assert limit.try_acquire()
    with pytest.raises(ValueError):
        InFlightLimit(-1)
    empty = InFlightLimit(0)
    assert not empty.try_acquire()
    with pytest.raises(RuntimeError):
        empty.release()
