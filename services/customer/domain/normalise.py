"""Normalisation of phone numbers and e-mail addresses, so equal ones compare equal.

Phones become E.164 (`+8613800138000`); e-mails become lower-case. Anything that cannot be
normalised is refused with `InvalidValue` (the API turns it into a 422 naming the field).
"""

from __future__ import annotations

import re


class InvalidValue(ValueError):
    """A value that cannot be normalised; the message says why."""


_PHONE_PUNCTUATION = re.compile(r"[\s\-().\u00a0]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_CN_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_CN_LANDLINE = re.compile(r"^0[1-9][0-9]{8,10}$")
# Deliberately plain: one @, a dot-separated domain with a TLD, no spaces.
_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,63}$")


def normalise_phone(raw: str) -> str:
    """`raw` as E.164: spaces, dashes, dots and brackets removed; `00` → `+`;
    a Chinese mobile (11 digits starting 13–19) or landline with trunk 0 gets +86."""
    compact = _PHONE_PUNCTUATION.sub("", raw.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        if compact.startswith("+860"):  # +86 followed by the domestic trunk prefix
            compact = "+86" + compact[4:]
        if _E164.match(compact):
            return compact
        raise InvalidValue(f"{raw!r} is not a phone number (E.164: + and 7–15 digits)")
    if _CN_MOBILE.match(compact):
        return "+86" + compact
    if _CN_LANDLINE.match(compact):
        return "+86" + compact[1:]
    if compact.startswith("86") and _CN_MOBILE.match(compact[2:]):
        return "+" + compact
    raise InvalidValue(
        f"{raw!r} is not a phone number: give +<country><number> or a Chinese mobile "
        "(11 digits starting with 1) or landline (starting with 0)"
    )


def normalise_email(raw: str) -> str:
    """`raw` trimmed and lower-cased; refused unless it looks like local@domain.tld."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or ".." in email:
        raise InvalidValue(f"{raw!r} is not an e-mail address")
    return email


def unique_in_order(values: list[str]) -> list[str]:
    """`values` without repeats, first occurrence kept (normalised duplicates collapse)."""
    return list(dict.fromkeys(values))


def phone_digits(query: str) -> str | None:
    """The digits of a search query that looks like (part of) a phone number, else None."""
    compact = _PHONE_PUNCTUATION.sub("", query.strip()).lstrip("+")
    if len(compact) >= 4 and compact.isdigit():
        return compact
    return None
