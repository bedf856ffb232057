"""Event time: aware datetimes at the edges, POSIX seconds (float, UTC) inside the state."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["DAY_SECONDS", "from_seconds", "require_aware", "to_seconds"]

DAY_SECONDS = 86_400.0


def require_aware(at: datetime, name: str = "at") -> None:
    """Refuse naive datetimes: a naive time has no defined instant, so it could not replay."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (event time, UTC)")


def to_seconds(at: datetime) -> float:
    """POSIX seconds of an aware datetime."""
    require_aware(at)
    return at.timestamp()


def from_seconds(seconds: float) -> datetime:
    """The UTC datetime of POSIX seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)
