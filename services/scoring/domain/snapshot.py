"""The state's features valued at one instant: decayed sums moved to `at`, silences measured.

Computed once per score and shared by the churn, loyalty and segment formulas, and published
as the score's `features` (the model's inputs, so a score can be explained and reproduced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from services.scoring.domain.eventtime import DAY_SECONDS
from services.scoring.domain.features import (
    FeatureConfig,
    FeatureState,
    channels_in_window,
    churned_after_days,
    decayed,
)
from services.scoring.domain.vocabulary import (
    SEVERITY_RANK,
    RelationshipStage,
    Scalar,
    Severity,
)

__all__ = ["Snapshot", "take_snapshot"]

_DAYS_PER_MONTH = 30.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Features as of one instant. None means "unknown / never happened"."""

    orders: int
    days_silent: float | None
    tenure_days: float | None
    days_since_created: float | None
    monetary: float
    frequency: float
    gap_count: int
    usual_interval_days: float | None
    recent_interval_days: float | None
    churned_after_days: float
    won_back_days: float | None
    contacts_per_month_recent: float
    contacts_per_month_usual: float
    days_since_contact: float | None
    channels: int
    sentiment_avg: float | None
    sentiment_evidence: float
    csat_avg: float | None
    csat_evidence: float
    last_csat: int | None
    sla_breaches: int
    sla_recent: float
    days_since_breach: float | None
    complaint_load: float
    open_low: int
    open_medium: int
    open_high: int
    open_critical: int
    oldest_critical_open_days: float | None
    escalated_open: int
    max_open_level: int
    key_account: bool
    relationship_stage: RelationshipStage | None

    def as_features(self) -> dict[str, Scalar]:
        """A flat dict of the known values (unknowns left out; floats rounded to 4 places)."""
        out: dict[str, Scalar] = {}
        for name in _SNAPSHOT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                out[name] = int(value)
            elif isinstance(value, RelationshipStage):
                out[name] = value.value
            elif isinstance(value, float):
                out[name] = round(value, 4)
            else:
                out[name] = value
        return out


_SNAPSHOT_FIELDS = tuple(f.name for f in fields(Snapshot))  # `fields` rebuilds it per call


def _days(later: float, earlier: float | None) -> float | None:
    return None if earlier is None else max(0.0, later - earlier) / DAY_SECONDS


def take_snapshot(state: FeatureState, at: float, config: FeatureConfig) -> Snapshot:
    """The state's features valued at `at` (POSIX seconds, not before `state.observed_until`)."""
    c = config
    fast = decayed(state.contact_fast, state.last_contact_at, at, c.contact_fast_half_life_days)
    slow = decayed(state.contact_slow, state.last_contact_at, at, c.contact_slow_half_life_days)
    # A decayed count with rate k (per day) holds rate/k events in a steady state.
    per_month_fast = fast * math.log(2) / c.contact_fast_half_life_days * _DAYS_PER_MONTH
    per_month_slow = slow * math.log(2) / c.contact_slow_half_life_days * _DAYS_PER_MONTH
    touches = [t for t in (state.last_contact_at, state.last_order_at) if t is not None]
    last_touch = max(touches) if touches else None

    open_counts = [0, 0, 0, 0]
    open_counts[SEVERITY_RANK[Severity.LOW]] += state.untracked_open
    oldest_critical: float | None = None
    escalated = 0
    max_level = 0
    for complaint in state.open_complaints:
        severity = complaint.effective_severity
        open_counts[SEVERITY_RANK[severity]] += 1
        if severity is Severity.CRITICAL:
            opened = complaint.opened_at if complaint.opened_at is not None else complaint.status_at
            age = max(0.0, at - opened) / DAY_SECONDS
            oldest_critical = age if oldest_critical is None else max(oldest_critical, age)
        if complaint.level > 0:
            escalated += 1
            max_level = max(max_level, complaint.level)

    csat_avg = state.csat_sum / state.csat_weight if state.csat_weight > 0 else None
    sentiment_avg = (
        state.sentiment_sum / state.sentiment_weight if state.sentiment_weight > 0 else None
    )
    has_gaps = state.gap_count > 0
    return Snapshot(
        orders=state.orders,
        days_silent=_days(at, state.last_order_at),
        tenure_days=_days(at, state.first_order_at),
        days_since_created=_days(at, state.created_at),
        monetary=decayed(state.monetary, state.orders_ref_at, at, c.monetary_half_life_days),
        frequency=decayed(state.frequency, state.orders_ref_at, at, c.frequency_half_life_days),
        gap_count=state.gap_count,
        usual_interval_days=math.exp(state.gap_log_mean) if has_gaps else None,
        recent_interval_days=math.exp(state.gap_log_fast) if has_gaps else None,
        churned_after_days=churned_after_days(state, c),
        won_back_days=_days(at, state.winback_at),
        contacts_per_month_recent=per_month_fast,
        contacts_per_month_usual=per_month_slow,
        days_since_contact=_days(at, last_touch),
        channels=channels_in_window(state, at, c),
        sentiment_avg=sentiment_avg,
        sentiment_evidence=decayed(
            state.sentiment_weight, state.last_contact_at, at, c.contact_slow_half_life_days
        ),
        csat_avg=csat_avg,
        csat_evidence=decayed(state.csat_weight, state.last_csat_at, at, c.csat_half_life_days),
        last_csat=state.last_csat,
        sla_breaches=state.sla_breaches,
        sla_recent=decayed(state.sla_load, state.last_breach_at, at, c.sla_half_life_days),
        days_since_breach=_days(at, state.last_breach_at),
        complaint_load=decayed(
            state.complaint_load, state.complaints_ref_at, at, c.complaint_half_life_days
        ),
        open_low=open_counts[0],
        open_medium=open_counts[1],
        open_high=open_counts[2],
        open_critical=open_counts[3],
        oldest_critical_open_days=oldest_critical,
        escalated_open=escalated,
        max_open_level=max_level,
        key_account=state.key_account,
        relationship_stage=state.relationship_stage,
    )
