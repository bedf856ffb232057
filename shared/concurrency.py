"""Optimistic concurrency over HTTP: a document's version is its ETag, writes need If-Match.

A missing If-Match gets 428 (the client must say which version it changes), a stale one 412
with the current ETag, and `If-Match: *` opts out of the check, as HTTP defines it.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

GUARDED_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match does not match the current ETag (the body says so)"},
    428: {"description": "If-Match missing"},
}


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(current: int, if_match: str | None, *, what: str) -> int:
    """The version the client read, checked against `current`; 428 or 412 otherwise."""
    if if_match is None:
        raise HTTPException(428, f"If-Match with the {what}'s ETag is required")
    if if_match.strip() == "*":
        return current
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or int(value) != current:
        raise HTTPException(412, f"the {what} changed since you read it", {"ETag": etag(current)})
    return current


def changed_meanwhile(current: int, *, what: str) -> HTTPException:
    """The 412 for a guarded write that lost the race after the check."""
    return HTTPException(412, f"the {what} changed meanwhile", {"ETag": etag(current)})
