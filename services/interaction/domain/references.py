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


class InvalidReference(ValueError):
    """A subject in a reference scheme (`phone:`, `email:`, `erp:`) whose value cannot be one:
    refused (422, or the DLQ on the ingest topic) rather than parked where no customer can
    ever match it."""


# Fewer digits than this cannot be a phone number the customer archive stores.
MIN_PHONE_DIGITS = 5


def reference_in(subject: str) -> str | None:
    """The normalised reference if `subject` is one, None if it is a customer id.

    Raises InvalidReference for a reference scheme with an unusable value."""
    scheme, sep, value = subject.partition(":")
    if not sep or scheme not in (PHONE, EMAIL, *KNOWN_SYSTEMS):
        return None
    value = value.strip()
    if scheme == PHONE:
        if sum(ch.isdigit() for ch in value) < MIN_PHONE_DIGITS:
            raise InvalidReference(f"{subject!r}: a phone reference needs a phone number")
        return phone_reference(value)
    if scheme == EMAIL:
        local, at, domain = value.partition("@")
        if not (local and at and domain):
            raise InvalidReference(f"{subject!r}: an e-mail reference needs an address")
        return f"{EMAIL}:{value.lower()}"
    if not value:
        raise InvalidReference(f"{subject!r}: a {scheme} reference needs a code")
    return f"{scheme}:{value}"


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
