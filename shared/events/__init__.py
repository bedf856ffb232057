"""Event contracts: the CloudEvents envelope, the catalogue of event types, the Kafka codec."""

from shared.events.catalogue import CATALOGUE, EventSpec, spec_for, spec_of, types_on
from shared.events.codec import KafkaRecord, PoisonMessage, decode, encode
from shared.events.envelope import Event, EventData, new_event, utc_now

__all__ = [
    "CATALOGUE",
    "Event",
    "EventData",
    "EventSpec",
    "KafkaRecord",
    "PoisonMessage",
    "decode",
    "encode",
    "new_event",
    "spec_for",
    "spec_of",
    "types_on",
    "utc_now",
]
