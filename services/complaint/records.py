"""How a complaint is stored: its Mongo document, and the domain values read back from it.

One complaint is one document in the `complaints` collection; its pending events travel in the
same document (embedded outbox), so a state change and its events are one atomic write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.complaint.domain.sla import (
    DEFAULT_SLA_POLICIES,
    BusinessCalendar,
    Pause,
    SlaClock,
    SlaDue,
    SlaPolicy,
    due_times,
)
from services.complaint.domain.workflow import Severity
from shared.mongo import Document

COMPLAINTS = "complaints"
# `_id` = SHA-256 of a survey token → the complaint it belongs to (lookups by `_id` only).
SURVEY_LINKS = "survey_links"
# `_id` = a merged-away customer id → the id it was merged into.
CUSTOMER_ALIASES = "customer_aliases"
# Dedupe marks of the crm.customer.v1 consumer.
CUSTOMERS_PROCESSED = "customers_processed"
DEFAULT_CALENDAR = BusinessCalendar()


def to_millis(moment: datetime) -> datetime:
    """`moment` cut to what Mongo stores (milliseconds), so stored and computed times agree."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def policy_of(doc: Document) -> SlaPolicy:
    return DEFAULT_SLA_POLICIES[Severity(doc["severity"])]


def clock_of(doc: Document) -> SlaClock:
    """The complaint's SLA clock as stored on its document."""
    sla: dict[str, Any] = doc["sla"]
    return SlaClock(
        opened_at=sla["opened_at"],
        pauses=tuple(
            Pause(started_at=p["started_at"], ended_at=p["ended_at"]) for p in sla["pauses"]
        ),
        paused_since=sla.get("paused_since"),
        first_response_at=sla.get("first_response_at"),
        resolved_at=sla.get("resolved_at"),
    )


def clock_fields(clock: SlaClock) -> Document:
    """The `$set` fields that store `clock` and the due times it implies."""
    return {
        "sla": {
            "opened_at": clock.opened_at,
            "pauses": [{"started_at": p.started_at, "ended_at": p.ended_at} for p in clock.pauses],
            "paused_since": clock.paused_since,
            "first_response_at": clock.first_response_at,
            "resolved_at": clock.resolved_at,
        },
    }


def due_fields(clock: SlaClock, policy: SlaPolicy) -> Document:
    due: SlaDue = due_times(clock, policy, DEFAULT_CALENDAR)
    return {"first_response_due": due.first_response_due, "resolution_due": due.resolution_due}
