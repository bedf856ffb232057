"""Segments: the value tier (A/B/C, Pareto by decayed value) and the lifecycle stage."""

from __future__ import annotations

from dataclasses import dataclass

from services.scoring.domain.population import PopulationParameters
from services.scoring.domain.snapshot import Snapshot
from services.scoring.domain.vocabulary import ChurnBand, Lifecycle, ValueTier

__all__ = [
    "DEFAULT_LIFECYCLE_PARAMS",
    "LifecycleParams",
    "lifecycle",
    "value_tier",
]


def value_tier(value: float, population: PopulationParameters) -> ValueTier:
    """A from the population's 80th-percentile value, B from the median, C below (and for no
    value at all). `value` is the decayed monetary value as of the scoring time."""
    if value > 0 and value >= population.value_a_min:
        return ValueTier.A
    if value > 0 and value >= population.value_b_min:
        return ValueTier.B
    return ValueTier.C


@dataclass(frozen=True, slots=True)
class LifecycleParams:
    new_customer_days: float = 90.0
    won_back_days: float = 180.0
    loyal_min_loyalty: float = 60.0
    loyal_min_tenure_days: float = 365.0


DEFAULT_LIFECYCLE_PARAMS = LifecycleParams()


def lifecycle(
    snap: Snapshot,
    *,
    churn_band: ChurnBand,
    loyalty: float,
    params: LifecycleParams = DEFAULT_LIFECYCLE_PARAMS,
) -> Lifecycle:
    """The first rule that holds, in this order:

    prospect  no (net) order yet
    churned   silent for longer than max(3 × usual interval, 90 days)  (`churned_after_days`)
    at_risk   churn band high or critical
    won_back  the latest return after a churned-length silence was within `won_back_days`
    new       first order within `new_customer_days`
    loyal     loyalty ≥ `loyal_min_loyalty` and tenure ≥ `loyal_min_tenure_days`
    active    otherwise
    """
    if snap.orders == 0 or snap.days_silent is None:
        return Lifecycle.PROSPECT
    if snap.days_silent > snap.churned_after_days:
        return Lifecycle.CHURNED
    if churn_band in (ChurnBand.HIGH, ChurnBand.CRITICAL):
        return Lifecycle.AT_RISK
    if snap.won_back_days is not None and snap.won_back_days <= params.won_back_days:
        return Lifecycle.WON_BACK
    tenure = snap.tenure_days or 0.0
    if tenure <= params.new_customer_days:
        return Lifecycle.NEW
    if loyalty >= params.loyal_min_loyalty and tenure >= params.loyal_min_tenure_days:
        return Lifecycle.LOYAL
    return Lifecycle.ACTIVE
