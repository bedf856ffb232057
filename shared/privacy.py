"""Masking of personal contact data for callers who may not see it (viewers, by default).

Masked values keep enough to recognise a number or address on the phone with a customer (the
last digits, the domain) and nothing that would let someone contact the person.
"""

from __future__ import annotations

from typing import Any

MASK = "****"


def mask_phone(phone: str) -> str:
    """`+86 138****8000` → `****8000`: the last four digits, which staff read back."""
    digits = [char for char in phone if char.isdigit()]
    return MASK + "".join(digits[-4:]) if len(digits) > 4 else MASK


def mask_email(email: str) -> str:
    """`purchasing@kaida.example.cn` → `p****@kaida.example.cn`."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}{MASK}{at}{domain}" if at else MASK


def mask_contact_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a customer-like record with its (and its contacts') phones and e-mails masked."""
    masked = dict(record)
    if isinstance(masked.get("phones"), list):
        masked["phones"] = [mask_phone(str(value)) for value in masked["phones"]]
    if isinstance(masked.get("emails"), list):
        masked["emails"] = [mask_email(str(value)) for value in masked["emails"]]
    if isinstance(masked.get("contacts"), list):
        masked["contacts"] = [
            mask_contact_fields(contact) if isinstance(contact, dict) else contact
            for contact in masked["contacts"]
        ]
    return masked
