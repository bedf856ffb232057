"""Erasure (personal-information law) of a customer's facts in this service.

As the customer archive does for its record (services/customer/domain/erasure.py), erasure
removes the personal data and keeps the non-personal facts: a contact keeps its channel,
direction, agent (our employee, not the customer), times, duration and source ids; an order
keeps its amounts, currency and product lines. What goes is everything written about or by the
customer in free text — the contact's subject, summary and outcome, an assessed sentiment, the
reason given for a cancellation or return — plus every reference (phone, e-mail, ERP code)
that resolved to the customer, and the events parked under those references. So statistics
(contact counts, last contact per channel, order history) stay right, the person is gone.
No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.mongo import Document

# Fields of stored facts (and of their events' data) that hold personal data.
PERSONAL_FIELDS = ("subject", "summary", "outcome", "sentiment", "reason")


def erased_fields(doc: Mapping[str, Any], *, at: datetime) -> Document:
    """The fields to set on a stored fact to erase it (`erased_at` says since when, as in
    the complaint service); empty when the fact was erased already."""
    fields: Document = {name: None for name in PERSONAL_FIELDS if doc.get(name) is not None}
    if doc.get("erased_at") is None:
        fields["erased_at"] = at
    return fields


def erased_event_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """An event's data (as JSON-ready values) with the personal fields emptied."""
    return {name: None if name in PERSONAL_FIELDS else value for name, value in data.items()}
