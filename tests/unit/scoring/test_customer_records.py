"""The scorer's mapping of customer records over a table of bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scoring import processing
from services.scoring.domain import events as inputs
from services.scoring.tables import CustomerRecords

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def scored(customer_id: str, days: float) -> processing.CustomerRecord:
    at = T0 + timedelta(days=days)
    folded = processing.apply(
        None, event_id=customer_id, item=inputs.OrderPlaced(order_id="o", at=at, amount=10.0)
    )
    assert folded is not None
    rescored = processing.rescore(folded.record, customer_id=customer_id, as_of=at, computed_at=at)
    return rescored.record


def test_records_are_kept_as_bytes_and_read_back_as_records() -> None:
    table: dict[str, bytes] = {}
    records = CustomerRecords(table)
    record = scored("c-1", 0)
    records["c-1"] = record
    assert table["c-1"] == processing.record_bytes(record)
    assert records["c-1"] == record
    assert records.get("c-2") is None
    assert "c-1" in records and "c-2" not in records
    assert list(records) == ["c-1"] and len(records) == 1
    assert records.pop("c-1") == record
    assert table == {}


async def test_due_names_the_customers_whose_review_time_has_passed() -> None:
    records = CustomerRecords({})
    records["early"] = scored("early", 0)
    records["late"] = scored("late", 10)
    unscored = processing.apply(None, event_id="e", item=None)
    assert unscored is not None
    records["never"] = unscored.record
    early = processing.review_time(records["early"])
    late = processing.review_time(records["late"])
    assert early is not None and late is not None
    assert await records.due(early - timedelta(seconds=1)) == []
    assert await records.due(early) == ["early"]
    assert sorted(await records.due(late)) == ["early", "late"]
    assert sorted(await records.due(late, slice_size=1)) == ["early", "late"]
