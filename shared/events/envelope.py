"""The CloudEvents 1.0 envelope every event travels in, and the base of every event's data.

On Kafka we write **binary mode**: the attributes go into `ce_*` headers and the value is the
event's data as JSON (`content-type: application/json`). On input we also accept **structured
mode** (`content-type: application/cloudevents+json`, the whole envelope as the JSON value),
which is what most external producers find easiest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (RFC 3339, e.g. 2026-11-23T08:00:00Z)")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_aware_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are refused."""

# Wide enough for external references that producers put in `subject` before the customer id
# is known (phone:+8613800138000, email:buyer@example.com, erp:C001).
CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+-]+$")]


class EventData(BaseModel):
    """Base of every event's data: immutable, and tolerant of fields it does not know.

    Ignoring unknown fields is what lets a v1 consumer read a v1 event that a newer producer
    enriched with an additional optional field (schema evolution is additive within a version).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    """The CloudEvents `type`, e.g. ``crm.complaint.opened.v1``; set by every subclass."""


DataT = TypeVar("DataT", bound=EventData)


class Event(BaseModel, Generic[DataT]):
    """One event: CloudEvents attributes plus the typed data."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=128, description="Unique; consumers dedupe by it")
    source: str = Field(min_length=1, max_length=256, description="URI-reference of the producer")
    type: str = Field(pattern=r"^crm\.[a-z_]+\.[a-z_]+\.v[0-9]+$")
    time: UtcDateTime = Field(description="Event time (when it happened), RFC 3339")
    subject: CustomerId = Field(description="The customer id; also the Kafka key")
    specversion: Literal["1.0"] = "1.0"
    datacontenttype: Literal["application/json"] = "application/json"
    actor: str | None = Field(default=None, max_length=128, description="Who caused it")
    correlationid: str | None = Field(default=None, max_length=128)
    sequence: int | None = Field(default=None, ge=0, description="Per-aggregate order")
    data: DataT

    def age(self, now: datetime) -> timedelta:
        return now - self.time


def new_event(
    data: DataT,
    *,
    subject: str,
    source: str,
    time: datetime,
    actor: str | None = None,
    correlation_id: str | None = None,
    sequence: int | None = None,
    event_id: str | None = None,
) -> Event[DataT]:
    """A new event with a fresh id (or the given one, for idempotent re-emission)."""
    # pydantic caches each parametrisation, so this is a dictionary lookup after the first call.
    model = cast("type[Event[DataT]]", Event.__class_getitem__(type(data)))
    return model(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=data.event_type,
        time=time,
        subject=subject,
        actor=actor,
        correlationid=correlation_id,
        sequence=sequence,
        data=data,
    )


def envelope_attributes(event: Event[Any]) -> dict[str, str]:
    """The CloudEvents attributes of an event as strings (for `ce_*` headers)."""
    attributes = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "subject": event.subject,
        "specversion": event.specversion,
    }
    for name in ("actor", "correlationid", "sequence"):
        value = getattr(event, name)
        if value is not None:
            attributes[name] = str(value)
    return attributes


class EventTimeInFuture(ValueError):
    """The event time lies further ahead of the receiver's clock than the allowed skew."""


def check_event_time(at: datetime, *, now: datetime, max_future_skew: timedelta) -> datetime:
    """`at` if acceptable as an event time: any past (backfills), the future only within the
    skew — a clock that far off would corrupt every time-based score."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("event time must carry a time zone")
    if at > now + max_future_skew:
        raise EventTimeInFuture(
            f"event time {at.isoformat()} is more than "
            f"{max_future_skew.total_seconds():.0f} s in the future (ahead of the receiver's clock)"
        )
    return at


def utc_now() -> datetime:
    """The current instant; only composition roots call it, the domain receives time."""
    return datetime.now(UTC)
