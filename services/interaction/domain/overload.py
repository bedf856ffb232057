"""Admission control: a bounded number of requests of one sort in flight, the rest refused."""

from __future__ import annotations


class InFlightLimit:
    """Counts requests in flight and refuses more than `limit` (no queue, no waiting)."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.in_flight = 0

    def try_acquire(self) -> bool:
        """Take a slot if one is free; False means: refuse the request now."""
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        if self.in_flight <= 0:
            raise RuntimeError("release without acquire")
        self.in_flight -= 1
