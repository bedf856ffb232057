"""The complaint service's own metrics (names and labels per shared/observability.py)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from services.complaint.domain.workflow import Severity
from shared.mongo import Document

SLA_BREACHES = Counter(
    "crm_complaint_sla_breaches_total", "SLA targets breached (recorded once each)", ["target"]
)
OPEN_COMPLAINTS = Gauge(
    "crm_complaints_open",
    "Complaints not closed, by severity (as of the last SLA check)",
    ["severity"],
)


def observe_open(complaints: Iterable[Document]) -> None:
    counts = Tally(doc["severity"] for doc in complaints)
    for severity in Severity:
        OPEN_COMPLAINTS.labels(severity.value).set(counts.get(severity.value, 0))
