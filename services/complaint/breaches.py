"""The SLA breach scheduler: finds breaches on event time and records each exactly once.

`new_breaches` is pure: given complaints (their SLA clocks and the breaches already recorded)
and an event-time `now`, it says which breaches are new. `check_breaches` records them, each
complaint in one version-guarded write that also queues `sla_breached` and `escalated` events,
so a breach is emitted once per target however often, and by however many replicas, it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.complaint import commands, metrics
from services.complaint.domain.sla import Breach, breaches
from services.complaint.records import DEFAULT_CALENDAR, clock_of, policy_of
from services.complaint.store import ComplaintStore
from shared.mongo import Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueBreaches:
    """The breaches of one complaint not recorded yet."""

    complaint: Document
    breaches: list[Breach]


def new_breaches(complaints: Iterable[Document], *, now: datetime) -> list[DueBreaches]:
    """For each complaint, the SLA targets breached as of `now` that it has not recorded."""
    found: list[DueBreaches] = []
    for doc in complaints:
        recorded = {entry["target"] for entry in doc.get("sla_breaches", [])}
        fresh = [
            breach
            for breach in breaches(clock_of(doc), policy_of(doc), DEFAULT_CALENDAR, now=now)
            if breach.target.value not in recorded
        ]
        if fresh:
            found.append(DueBreaches(doc, fresh))
    return found


async def check_breaches(store: ComplaintStore, *, now: datetime) -> int:
    """Record every breach due as of event time `now`; the number of breaches recorded.

    A complaint changed meanwhile (stale version) is skipped: the next check sees it again.
    """
    recorded = 0
    open_complaints = await store.not_closed()
    metrics.observe_open(open_complaints)
    for due in new_breaches(open_complaints, now=now):
        change = commands.record_breaches(due.complaint, due.breaches, detected_at=now)
        updated = await store.apply(
            due.complaint, change, version=due.complaint["version"], queued_at=now
        )
        if updated is not None:
            recorded += len(due.breaches)
            for breach in due.breaches:
                metrics.SLA_BREACHES.labels(breach.target.value).inc()
    if recorded:
        log.info("recorded %d SLA breaches", recorded)
    return recorded
