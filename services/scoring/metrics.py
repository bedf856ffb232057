"""The scorer's own metrics (names and labels per shared/observability.py).

The worker exports the streaming ones on its Faust web port; the read API exports the
customers-by-band gauge, refreshed from the stored scores (it owns the read side).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.scoring.read_models import distribution
from shared.events.vocabulary import ChurnBand
from shared.mongo import Database

EVENTS_SCORED = Counter(
    "crm_scorer_events_scored_total", "Events that produced a new score, by event type", ["type"]
)
SCORE_WRITE = Histogram(
    "crm_scorer_score_write_seconds",
    "Time to store and publish one slice of a batch's scores (up to 250 customers)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
EVENT_TO_SCORE = Histogram(
    "crm_scorer_event_to_score_seconds",
    "From an event's time to its score being stored and published",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
CUSTOMERS_BY_CHURN_BAND = Gauge(
    "crm_customers_by_churn_band", "Customers whose latest score is in each churn band", ["band"]
)


async def observe_churn_bands(db: Database) -> None:
    counts = (await distribution(db)).churn_band
    for band in ChurnBand:
        CUSTOMERS_BY_CHURN_BAND.labels(band.value).set(counts.get(band.value, 0))
