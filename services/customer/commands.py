"""What each customer command changes, which events and which audit entry it produces.

Decided here, written by the store: every function takes the current document (or the new
fields) and returns the Mongo fields, the events and the audit entry that the store applies in
one atomic, version-guarded write. No I/O happens here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.customer.domain import dedupe, erasure
from services.customer.domain import record as records
from services.customer.domain.record import FieldChange
from shared.events import Event, EventData, new_event
from shared.events import customer as events
from shared.mongo import Document

SOURCE = "/services/customer"


@dataclass(frozen=True)
class Change:
    """A command's effect on one customer: fields to `$set`, its events, its audit entry."""

    set: Document
    events: list[Event[Any]]
    audit: Document
    released_keys: frozenset[str] = frozenset()
    """External-id keys the customer no longer holds (freed after the write)."""
    reserved_keys: frozenset[str] = frozenset()
    """External-id keys the customer newly needs (reserved before the write)."""
    pending_audit: list[Document] | None = None
    """When set, the pending audit entries are replaced by these (erasure scrubs them)."""


def new_customer_id() -> str:
    return f"cus-{uuid.uuid4().hex}"


def audit_entry(
    customer_id: str,
    *,
    version: int,
    action: str,
    actor: str | None,
    at: datetime,
    changes: list[FieldChange],
) -> Document:
    """One audit-history entry: who, when, and each field's value before and after."""
    return {
        "_id": f"aud-{uuid.uuid4().hex}",
        "customer_id": customer_id,
        "version": version,
        "action": action,
        "actor": actor,
        "at": at,
        "changes": [change.as_dict() for change in changes],
    }


def _event(
    customer_id: str, data: EventData, *, at: datetime, actor: str | None, version: int
) -> Event[Any]:
    return new_event(
        data, subject=customer_id, source=SOURCE, time=at, actor=actor, sequence=version
    )


def create_customer(
    fields: dict[str, Any], *, customer_id: str, actor: str | None, at: datetime
) -> tuple[Document, Event[Any], Document]:
    """The new customer's document, its `created` event and its first audit entry."""
    record = records.new_record(fields)
    profile = records.profile(record)  # refuses what the event contract would refuse
    doc: Document = {
        "_id": customer_id,
        **record,
        "version": 1,
        "search_text": records.search_text(record),
        "created_at": at,
        "updated_at": at,
        "deleted_at": None,
        "merged_into": None,
        "erased_at": None,
    }
    created = _event(
        customer_id, events.CustomerCreated(profile=profile), at=at, actor=actor, version=1
    )
    changes = records.diff({}, {k: v for k, v in record.items() if v != records.DEFAULTS.get(k)})
    audit = audit_entry(
        customer_id, version=1, action="created", actor=actor, at=at, changes=changes
    )
    return doc, created, audit


def update_customer(
    doc: Document, patch: dict[str, Any], *, actor: str | None, at: datetime
) -> Change | None:
    """The change a PATCH makes, or None when it changes nothing (then nothing is written)."""
    before = records.record_of(doc)
    after = records.patched(before, patch)
    changes = records.diff(before, after)
    if not changes:
        return None
    version = doc["version"] + 1
    updated = events.CustomerUpdated(
        profile=records.profile(after),
        changed_fields=tuple(change.field for change in changes),
    )
    old_keys = records.external_keys(before["external_ids"] or {})
    new_keys = records.external_keys(after["external_ids"] or {})
    return Change(
        set={
            **{change.field: change.after for change in changes},
            "search_text": records.search_text(after),
            "updated_at": at,
        },
        events=[_event(doc["_id"], updated, at=at, actor=actor, version=version)],
        audit=audit_entry(
            doc["_id"], version=version, action="updated", actor=actor, at=at, changes=changes
        ),
        released_keys=frozenset(old_keys - new_keys),
        reserved_keys=frozenset(new_keys - old_keys),
    )


def delete_customer(doc: Document, *, actor: str | None, at: datetime) -> Change:
    """A soft delete: the customer leaves lists and searches but stays restorable.

    No event: the event contract has no `deleted` type yet (see the service's notes).
    """
    change = FieldChange("deleted_at", None, at.isoformat())
    return Change(
        set={"deleted_at": at, "updated_at": at},
        events=[],
        audit=audit_entry(
            doc["_id"],
            version=doc["version"] + 1,
            action="deleted",
            actor=actor,
            at=at,
            changes=[change],
        ),
    )


def merge_customers(
    survivor: Document,
    absorbed: list[Document],
    merged_ids: list[str],
    *,
    actor: str | None,
    at: datetime,
) -> Change:
    """The survivor's change when `absorbed` merge into it (see `dedupe.merged_record`).

    `merged_ids` may name customers merged into the survivor before (a retried merge): they
    appear in the event again but add nothing.
    """
    before = records.record_of(survivor)
    after = dedupe.merged_record(before, [records.record_of(doc) for doc in absorbed])
    changes = [*records.diff(before, after), FieldChange("merged_ids", None, merged_ids)]
    version = survivor["version"] + 1
    merged = events.CustomerMerged(merged_ids=tuple(merged_ids), profile=records.profile(after))
    taken_over = records.external_keys(after["external_ids"]) - records.external_keys(
        before["external_ids"]
    )
    return Change(
        set={
            **{change.field: change.after for change in changes if change.field in after},
            "search_text": records.search_text(after),
            "updated_at": at,
        },
        events=[_event(survivor["_id"], merged, at=at, actor=actor, version=version)],
        audit=audit_entry(
            survivor["_id"], version=version, action="merged", actor=actor, at=at, changes=changes
        ),
        reserved_keys=frozenset(taken_over),
    )


def mark_merged(doc: Document, survivor_id: str, *, actor: str | None, at: datetime) -> Change:
    """A merged customer's change: it now resolves to the survivor (no event of its own —
    the survivor's `merged` event names it)."""
    return Change(
        set={"merged_into": survivor_id, "updated_at": at},
        events=[],
        audit=audit_entry(
            doc["_id"],
            version=doc["version"] + 1,
            action="merged",
            actor=actor,
            at=at,
            changes=[FieldChange("merged_into", None, survivor_id)],
        ),
    )


def erase_customer(
    doc: Document,
    pending_audit: list[Document],
    *,
    reason: str | None,
    actor: str | None,
    at: datetime,
) -> Change:
    """Personal fields emptied, pending audit entries scrubbed, `crm.customer.erased.v1`."""
    before = records.record_of(doc)
    kind = before["kind"]
    after = erasure.erased_record(before)
    changes = [*records.diff(before, after), FieldChange("erased_at", None, at.isoformat())]
    version = doc["version"] + 1
    erased = events.CustomerErased(reason=reason)
    return Change(
        set={
            **{change.field: change.after for change in changes if change.field in after},
            "search_text": records.search_text(after),
            "erased_at": at,
            "updated_at": at,
        },
        events=[_event(doc["_id"], erased, at=at, actor=actor, version=version)],
        audit=audit_entry(
            doc["_id"],
            version=version,
            action="erased",
            actor=actor,
            at=at,
            changes=[
                FieldChange(**c)
                for c in erasure.scrubbed_changes([change.as_dict() for change in changes], kind)
            ],
        ),
        pending_audit=[
            {**entry, "changes": erasure.scrubbed_changes(entry["changes"], kind)}
            for entry in pending_audit
        ],
    )
