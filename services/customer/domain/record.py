"""The customer record: its fields, how a change is described for the audit, how it is found.

A record here is a plain dict of JSON-able values (what the API validated and normalised); the
store keeps it as the top-level fields of the customer's document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.events.customer import CustomerProfile

RECORD_FIELDS: tuple[str, ...] = (
    "kind",
    "name",
    "name_latin",
    "contacts",
    "phones",
    "emails",
    "addresses",
    "region",
    "industry",
    "segments",
    "external_ids",
    "tags",
    "owner",
    "key_account",
    "relationship_stage",
    "tier",
    "credit_grade",
    "share_of_volume",
    "grade_override",
    "consent",
    "notes",
    "customer_since",
)
"""Every field a caller may set, in display order."""

DEFAULTS: Mapping[str, Any] = {
    "contacts": [],
    "phones": [],
    "emails": [],
    "addresses": [],
    "segments": [],
    "external_ids": {},
    "tags": [],
    "key_account": False,
    "consent": {},
}
"""Values of fields left out on create (the rest default to None)."""


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after a change (None when absent)."""

    field: str
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


def new_record(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A complete record: `fields` plus the defaults of every field not given."""
    return {name: fields.get(name, DEFAULTS.get(name)) for name in RECORD_FIELDS}


def record_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The record part of a stored customer document."""
    return {name: doc.get(name, DEFAULTS.get(name)) for name in RECORD_FIELDS}


def patched(record: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with the fields in `patch` replaced (lists and maps replaced whole)."""
    unknown = set(patch) - set(RECORD_FIELDS)
    if unknown:
        raise ValueError(f"not record fields: {sorted(unknown)}")
    return {**record, **patch}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """The fields whose value differs, in record order, with both values."""
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in RECORD_FIELDS
        if before.get(name) != after.get(name)
    ]


def external_keys(external_ids: Mapping[str, str]) -> set[str]:
    """The uniqueness keys of a record's external ids, e.g. ``erp:C001``."""
    return {f"{system}:{value}" for system, value in external_ids.items()}


def _text_parts(record: Mapping[str, Any]) -> Iterable[str]:
    for name in ("name", "name_latin"):
        if record.get(name):
            yield str(record[name])
    yield from record.get("phones") or ()
    yield from record.get("emails") or ()
    yield from (record.get("external_ids") or {}).values()
    for contact in record.get("contacts") or ():
        yield contact.get("name") or ""
        yield from contact.get("phones") or ()
        yield from contact.get("emails") or ()


def search_text(record: Mapping[str, Any]) -> str:
    """One lower-case string holding every searchable value, one per line.

    Stored with the document so a search is one `$regex` on one string field (which FerretDB
    evaluates like MongoDB), instead of a query per field.
    """
    return "\n".join(part.lower() for part in _text_parts(record) if part)


def profile(record: Mapping[str, Any]) -> CustomerProfile:
    """The record as the event contract's shareable profile."""
    share = record.get("share_of_volume")
    since = record.get("customer_since")
    return CustomerProfile(
        kind=record["kind"],
        name=record["name"],
        name_latin=record.get("name_latin"),
        region=record.get("region"),
        industry=record.get("industry"),
        segments=tuple(record.get("segments") or ()),
        tier=record.get("tier"),
        key_account=bool(record.get("key_account")),
        relationship_stage=record.get("relationship_stage"),
        credit_grade=record.get("credit_grade"),
        owner=record.get("owner"),
        tags=tuple(record.get("tags") or ()),
        external_ids=dict(record.get("external_ids") or {}),
        phones=tuple(record.get("phones") or ()),
        emails=tuple(record.get("emails") or ()),
        contacts=tuple(record.get("contacts") or ()),
        share_of_volume=None if share is None else Decimal(str(share)),
        grade_override=record.get("grade_override"),
        customer_since=datetime.fromisoformat(since) if isinstance(since, str) else since,
    )
