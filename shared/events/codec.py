"""Events to Kafka records and back: binary mode out, binary or structured mode in.

Decoding is where poison is recognised: every way a message can be unusable raises
:class:`PoisonMessage` with a stable `error_class` that the DLQ records in its headers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from shared.events.catalogue import UnknownEventType, spec_for
from shared.events.envelope import (
    Event,
    EventTimeInFuture,
    check_event_time,
    envelope_attributes,
)

ErrorClass = Literal[
    "undecodable", "schema_invalid", "unknown_type", "event_time_in_future", "handler_error"
]

CE_PREFIX = "ce_"
BINARY_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
Headers = Sequence[tuple[str, bytes]]


class PoisonMessage(Exception):
    """A message that cannot be processed, and why."""

    def __init__(self, error_class: ErrorClass, reason: str) -> None:
        super().__init__(f"{error_class}: {reason}")
        self.error_class = error_class
        self.reason = reason


@dataclass(frozen=True)
class KafkaRecord:
    """What goes onto a topic: key = customer id, binary-mode CloudEvent."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def encode(event: Event[Any]) -> KafkaRecord:
    """The event as a binary-mode Kafka record on its catalogue topic."""
    spec = spec_for(event.type)
    attributes = envelope_attributes(event)
    headers = [(CE_PREFIX + name, value.encode()) for name, value in attributes.items()]
    headers.append(("content-type", BINARY_CONTENT_TYPE.encode()))
    return KafkaRecord(
        topic=spec.topic.name,
        key=event.subject.encode(),
        value=event.data.model_dump_json().encode(),
        headers=tuple(headers),
    )


def decode(
    value: bytes | None,
    headers: Headers,
    *,
    now: datetime,
    max_future_skew: timedelta,
) -> Event[Any]:
    """The validated event in a Kafka record, or :class:`PoisonMessage` saying why not.

    Event time may lie anywhere in the past (backfills) but not more than `max_future_skew`
    ahead of `now`: a clock that far off would corrupt every time-based score.
    """
    try:
        header_map = {key: raw.decode() for key, raw in headers}
    except UnicodeDecodeError:
        raise PoisonMessage("undecodable", "a header is not UTF-8") from None
    if value is None:
        raise PoisonMessage("undecodable", "the message has no value (tombstone)")

    if CE_PREFIX + "specversion" in header_map:
        attributes: dict[str, Any] = {
            key[len(CE_PREFIX) :]: text
            for key, text in header_map.items()
            if key.startswith(CE_PREFIX)
        }
        data_json: bytes | None = value
        data_obj: Any = None
    else:
        attributes = _structured(value, header_map)
        data_json = None
        data_obj = attributes.pop("data", None)

    event_type = attributes.get("type")
    if not isinstance(event_type, str):
        raise PoisonMessage("schema_invalid", "the CloudEvents attribute `type` is missing")
    try:
        spec = spec_for(event_type)
    except UnknownEventType:
        raise PoisonMessage(
            "unknown_type", f"event type {event_type!r} is not in the catalogue"
        ) from None

    try:
        if data_json is not None:
            data = spec.data.model_validate_json(data_json)
        else:
            data = spec.data.model_validate(data_obj)
        event = spec.event_model.model_validate({**attributes, "data": data})
    except ValidationError as error:
        raise PoisonMessage("schema_invalid", _summarise(error)) from None

    try:
        check_event_time(event.time, now=now, max_future_skew=max_future_skew)
    except EventTimeInFuture as error:
        raise PoisonMessage("event_time_in_future", str(error)) from None
    return event


def _structured(value: bytes, headers: dict[str, str]) -> dict[str, Any]:
    content_type = headers.get("content-type", "")
    if content_type and not content_type.startswith(STRUCTURED_CONTENT_TYPE):
        raise PoisonMessage(
            "undecodable",
            f"no ce_* headers and content-type {content_type!r} is not {STRUCTURED_CONTENT_TYPE}",
        )
    try:
        envelope = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise PoisonMessage(
            "undecodable", "neither binary-mode ce_* headers nor a JSON structured-mode CloudEvent"
        ) from None
    if not isinstance(envelope, dict) or "specversion" not in envelope:
        raise PoisonMessage("undecodable", "the JSON value is not a CloudEvent (no `specversion`)")
    return envelope


def _summarise(error: ValidationError, limit: int = 5) -> str:
    parts = []
    for detail in error.errors()[:limit]:
        location = ".".join(str(part) for part in detail["loc"]) or "(root)"
        parts.append(f"{location}: {detail['msg']}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
