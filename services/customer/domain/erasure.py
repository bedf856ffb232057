"""Erasure (personal-information law): which fields hold personal data and how they go.

A person's names are personal data; an organisation's name is not, but its contact people,
phones, e-mails, addresses and notes are. Erased values are replaced by `ERASED` in the audit
history, so the history still says *that* a field changed, never what it held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ERASED = "[erased]"

_ALWAYS_PERSONAL = ("contacts", "phones", "emails", "addresses", "notes", "consent")
_PERSON_NAMES = ("name", "name_latin")


def personal_fields(kind: str) -> tuple[str, ...]:
    """The fields erasure removes for a customer of this kind."""
    return _ALWAYS_PERSONAL + (_PERSON_NAMES if kind == "person" else ())


def erased_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with every personal field emptied (a person's name becomes `ERASED`)."""
    erased = dict(record)
    for name in personal_fields(record["kind"]):
        value = record.get(name)
        if name == "name":
            erased[name] = ERASED
        elif isinstance(value, list):
            erased[name] = []
        elif isinstance(value, dict):
            erased[name] = {}
        else:
            erased[name] = None
    return erased


def scrubbed_changes(changes: Sequence[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Audit changes with the values of personal fields replaced by `ERASED`."""
    personal = set(personal_fields(kind))

    def scrub(field: str, value: Any) -> Any:
        return ERASED if field in personal and value not in (None, "", [], {}) else value

    return [
        {
            **change,
            "before": scrub(change["field"], change["before"]),
            "after": scrub(change["field"], change["after"]),
        }
        for change in changes
    ]
