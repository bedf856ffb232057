"""Timeline ordering, filters, keyset pages and contact statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.interaction.domain.activities import Kind
from services.interaction.domain.timeline import (
    InvalidCursor,
    TimelineQuery,
    contact_stats,
    timeline_page,
)
from shared.mongo import Document

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def entry(doc_id: str, days_ago: float, kind: Kind = Kind.INTERACTION, **extra: str) -> Document:
    doc: Document = {
        "_id": doc_id,
        "kind": kind.value,
        "occurred_at": NOW - timedelta(days=days_ago),
    }
    if kind is Kind.INTERACTION:
        doc["channel"] = extra.get("channel", "phone")
    return doc


DOCS = [
    entry("a", 1),
    entry("b", 1),  # same time as "a": ties broken by id
    entry("c", 45, channel="email"),
    entry("o", 10, Kind.ORDER_PLACED),
    entry("d", 100, channel="visit"),
    entry("late", -1),  # after as_of
]


def test_newest_first_with_ties_by_id() -> None:
    page = timeline_page(DOCS, TimelineQuery(limit=10))
    assert [d["_id"] for d in page.entries] == ["late", "b", "a", "o", "c", "d"]
    assert page.next_cursor is None


def test_pages_follow_the_cursor_without_gaps_or_repeats() -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = timeline_page(DOCS, TimelineQuery(limit=2, cursor=cursor))
        seen.extend(d["_id"] for d in page.entries)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["late", "b", "a", "o", "c", "d"]


def test_filters() -> None:
    by_channel = timeline_page(DOCS, TimelineQuery(channel="email"))
    assert [d["_id"] for d in by_channel.entries] == ["c"]
    by_kind = timeline_page(DOCS, TimelineQuery(kind=Kind.ORDER_PLACED))
    assert [d["_id"] for d in by_kind.entries] == ["o"]
    period = TimelineQuery(since=NOW - timedelta(days=50), until=NOW - timedelta(days=5))
    assert [d["_id"] for d in timeline_page(DOCS, period).entries] == ["o", "c"]


def test_bad_cursor() -> None:
    with pytest.raises(InvalidCursor):
        timeline_page(DOCS, TimelineQuery(cursor="nope"))
    with pytest.raises(InvalidCursor):
        timeline_page(DOCS, TimelineQuery(cursor="x~a"))


def test_contact_stats() -> None:
    stats = contact_stats(DOCS, as_of=NOW)
    assert (stats.contacts_30d, stats.contacts_90d, stats.contacts_total) == (2, 3, 4)
    assert stats.last_contact_at == NOW - timedelta(days=1)
    assert stats.last_contact_by_channel == {
        "email": NOW - timedelta(days=45),
        "phone": NOW - timedelta(days=1),
        "visit": NOW - timedelta(days=100),
    }
    assert stats.last_order_at == NOW - timedelta(days=10)
    assert stats.orders_90d == 1
    empty = contact_stats([], as_of=NOW)
    assert empty.last_contact_at is None
    assert empty.contacts_total == 0
