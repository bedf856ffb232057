"""A customer's timeline and contact statistics, computed over the customer's entries.

Pure functions over documents already read: filtering, newest-first ordering, keyset
pagination by (event time, id), and the contact statistics. The store reads every entry of the
customer with one `find` on `customer_id`; on FerretDB that filter is served by a full scan
(only `{"_id": ...}` uses an index there), on MongoDB by the `customer_id` index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.interaction.domain.activities import Kind
from shared.mongo import Document


class InvalidCursor(ValueError):
    """A pagination cursor this service did not hand out."""


@dataclass(frozen=True)
class TimelineQuery:
    channel: str | None = None
    kind: Kind | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Document]
    next_cursor: str | None


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _position(doc: Document) -> tuple[int, str]:
    return _millis(doc["occurred_at"]), doc["_id"]


def encode_cursor(doc: Document) -> str:
    millis, doc_id = _position(doc)
    return f"{millis}~{doc_id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    millis, sep, doc_id = cursor.partition("~")
    if not sep or not doc_id:
        raise InvalidCursor(f"not a timeline cursor: {cursor!r}")
    try:
        return int(millis), doc_id
    except ValueError:
        raise InvalidCursor(f"not a timeline cursor: {cursor!r}") from None


def _matches(doc: Document, query: TimelineQuery) -> bool:
    if query.kind is not None and doc["kind"] != query.kind.value:
        return False
    if query.channel is not None and doc.get("channel") != query.channel:
        return False
    if query.since is not None and doc["occurred_at"] < query.since:
        return False
    return query.until is None or doc["occurred_at"] < query.until


def timeline_page(docs: Iterable[Document], query: TimelineQuery) -> TimelinePage:
    """Entries matching `query`, newest first (ties by id), after the cursor; at most `limit`.

    Raises InvalidCursor for a cursor that cannot be decoded.
    """
    after = decode_cursor(query.cursor) if query.cursor is not None else None
    ordered = sorted((d for d in docs if _matches(d, query)), key=_position, reverse=True)
    if after is not None:
        ordered = [d for d in ordered if _position(d) < after]
    page = ordered[: query.limit]
    more = len(ordered) > query.limit
    return TimelinePage(page, encode_cursor(page[-1]) if more and page else None)


@dataclass(frozen=True)
class ContactStats:
    """How and how recently we were in contact with a customer, as of `as_of`."""

    as_of: datetime
    last_contact_at: datetime | None
    last_contact_by_channel: dict[str, datetime] = field(default_factory=dict)
    contacts_30d: int = 0
    contacts_90d: int = 0
    contacts_total: int = 0
    last_order_at: datetime | None = None
    orders_90d: int = 0


def contact_stats(docs: Sequence[Document], *, as_of: datetime) -> ContactStats:
    """Contacts (interactions) and orders up to `as_of`; later entries are not counted."""
    as_of = as_of.astimezone(UTC)
    last_by_channel: dict[str, datetime] = {}
    contacts_30 = contacts_90 = total = orders_90 = 0
    last_order: datetime | None = None
    for doc in docs:
        at: datetime = doc["occurred_at"]
        if at > as_of:
            continue
        age = as_of - at
        if doc["kind"] == Kind.INTERACTION.value:
            total += 1
            channel = doc["channel"]
            if channel not in last_by_channel or at > last_by_channel[channel]:
                last_by_channel[channel] = at
            contacts_30 += age <= timedelta(days=30)
            contacts_90 += age <= timedelta(days=90)
        elif doc["kind"] == Kind.ORDER_PLACED.value:
            if last_order is None or at > last_order:
                last_order = at
            orders_90 += age <= timedelta(days=90)
    return ContactStats(
        as_of=as_of,
        last_contact_at=max(last_by_channel.values(), default=None),
        last_contact_by_channel=dict(sorted(last_by_channel.items())),
        contacts_30d=contacts_30,
        contacts_90d=contacts_90,
        contacts_total=total,
        last_order_at=last_order,
        orders_90d=orders_90,
    )
