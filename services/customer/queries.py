"""How list and search requests become Mongo queries: filters, search, sort, cursors.

Only shapes FerretDB 1.24 evaluates like MongoDB: equality, `$regex` on one string field,
`$or`/`$and`, `$gt`/`$lt`, sort on one field plus `_id`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.customer.domain.dedupe import name_core
from services.customer.domain.normalise import phone_digits


class SortKey(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"
    NAME = "name"
    NAME_DESC = "-name"

    @property
    def field(self) -> str:
        return self.value.lstrip("-")

    @property
    def direction(self) -> int:
        return -1 if self.value.startswith("-") else 1


_DATETIME_FIELDS = {"created_at", "updated_at"}


class InvalidCursor(ValueError):
    pass


def encode_cursor(doc: Mapping[str, Any], sort: SortKey) -> str:
    value = doc.get(sort.field)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort.value, value, doc["_id"]], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: SortKey) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_value, value, customer_id = json.loads(raw)
        if sort_value != sort.value or not isinstance(customer_id, str):
            raise InvalidCursor("the cursor belongs to another sort order")
        if sort.field in _DATETIME_FIELDS:
            value = datetime.fromisoformat(value)
    except (ValueError, TypeError) as error:
        raise InvalidCursor(f"not a cursor of this list: {error}") from None
    return value, customer_id


def list_query(
    filters: Mapping[str, Any], *, q: str | None, sort: SortKey, cursor: str | None
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """The Mongo filter and sort of one page of customers (deleted and merged ones left out)."""
    clauses: list[dict[str, Any]] = [{"deleted_at": None}, {"merged_into": None}]
    clauses += [{name: value} for name, value in filters.items() if value is not None]
    if q is not None and q.strip():
        needles = [re.escape(q.strip().lower())]
        digits = phone_digits(q)
        if digits is not None:
            needles.append(re.escape(digits))
        clauses.append({"$or": [{"search_text": {"$regex": needle}} for needle in needles]})
    if cursor is not None:
        value, after_id = decode_cursor(cursor, sort)
        op = "$gt" if sort.direction == 1 else "$lt"
        clauses.append(
            {"$or": [{sort.field: {op: value}}, {sort.field: value, "_id": {op: after_id}}]}
        )
    return {"$and": clauses}, [(sort.field, sort.direction), ("_id", sort.direction)]


def duplicate_query(record: Mapping[str, Any], customer_id: str) -> dict[str, Any] | None:
    """Live customers sharing a phone, e-mail or external id with `record`, or whose searchable
    text contains its name core; None when the record has nothing to compare."""
    alternatives: list[dict[str, Any]] = []
    alternatives += [{"phones": phone} for phone in record.get("phones") or ()]
    alternatives += [{"emails": email} for email in record.get("emails") or ()]
    alternatives += [
        {f"external_ids.{system}": value}
        for system, value in (record.get("external_ids") or {}).items()
    ]
    for name in ("name", "name_latin"):
        core = name_core(record.get(name))
        if len(core) >= 2:
            alternatives.append({"search_text": {"$regex": re.escape(core)}})
    if not alternatives:
        return None
    return {
        "$and": [
            {"deleted_at": None},
            {"merged_into": None},
            {"_id": {"$ne": customer_id}},
            {"$or": alternatives},
        ]
    }
