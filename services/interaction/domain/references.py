"""Customers referred to by phone, e-mail or an external code, resolved to customer ids.

An ingested event's `subject` may be a reference instead of a customer id:
`phone:<number>`, `email:<address>` or `<system>:<code>` for an external id the customer
archive knows (e.g. `erp:K-1001`). The interaction service keeps a read model of those
references from `crm.customer.v1`; an event whose reference is not known yet is parked and
recorded when the customer appears. No I/O happens here.
"""

from __future__ import annotations

from typing import Any

from shared.events import Event
from shared.events.customer import CustomerProfile

PHONE = "phone"
EMAIL = "email"
KNOWN_SYSTEMS = frozenset({"erp"})


def reference_in(subject: str) -> str | None:
    """The normalised reference if `subject` is one, None if it is a customer id."""
    scheme, sep, value = subject.partition(":")
    if not sep or not value:
        return None
    if scheme == PHONE:
        return phone_reference(value)
    if scheme == EMAIL:
        return f"{EMAIL}:{value.strip().lower()}"
    if scheme in KNOWN_SYSTEMS:
        return f"{scheme}:{value.strip()}"
    return None


def phone_reference(number: str) -> str:
    """`phone:+<digits>` (E.164 as the customer archive stores it, whatever the punctuation)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"{PHONE}:+{digits}"


def references_of(profile: CustomerProfile) -> list[str]:
    """Every reference under which a customer can be found, normalised and deduplicated."""
    refs = [phone_reference(p) for p in profile.phones]
    refs += [f"{EMAIL}:{e.strip().lower()}" for e in profile.emails]
    for contact in profile.contacts:
        refs += [phone_reference(p) for p in contact.phones]
        refs += [f"{EMAIL}:{e.strip().lower()}" for e in contact.emails]
    refs += [
        f"{system}:{code.strip()}"
        for system, code in profile.external_ids.items()
        if system in KNOWN_SYSTEMS
    ]
    return list(dict.fromkeys(refs))


def resolved(event: Event[Any], customer_id: str) -> Event[Any]:
    """The event addressed to the customer it referred to."""
    return event.model_copy(update={"subject": customer_id})
