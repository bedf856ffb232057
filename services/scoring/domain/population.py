"""Population parameters: value-tier thresholds and the purchase-rhythm prior.

They need a pass over all customers, so a batch command fits them (`fit_population`) and stores
them with a version; per-event scoring only reads them and stays O(1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.scoring.domain.eventtime import require_aware, to_seconds
from services.scoring.domain.features import (
    DEFAULT_FEATURE_CONFIG,
    FeatureConfig,
    FeatureState,
    decayed,
)

__all__ = [
    "DEFAULT_POPULATION",
    "PopulationParameters",
    "PopulationSample",
    "fit_population",
    "population_sample",
    "quantile",
]


@dataclass(frozen=True, slots=True)
class PopulationParameters:
    """Fitted, versioned parameters of the whole customer base.

    value_a_min / value_b_min: decayed monetary value at the `quantile_a` / `quantile_b`
    percentile of buyers (tier A at or above the first, B at or above the second).
    value_share_a: share of all buyers' value held by tier A (a check of the 80/20 claim).
    frequency_median: median decayed order count of buyers.
    gap_log_mean / gap_log_sd / gap_log_mean_sd: prior of a customer's log inter-purchase gap
    (days): the mean of customers' own means, the pooled within-customer spread, and the spread
    of customers' means around the population mean (which sets how fast a customer's own
    rhythm overrides the prior).
    """

    version: str
    fitted_at: datetime | None
    customers: int
    buyers: int
    value_a_min: float
    value_b_min: float
    value_share_a: float
    frequency_median: float
    gap_log_mean: float
    gap_log_sd: float
    gap_log_mean_sd: float

    def __post_init__(self) -> None:
        if self.fitted_at is not None:
            require_aware(self.fitted_at, "fitted_at")
        if not 0 < self.value_b_min <= self.value_a_min:
            raise ValueError("need 0 < value_b_min ≤ value_a_min")
        if min(self.frequency_median, self.gap_log_sd, self.gap_log_mean_sd) <= 0:
            raise ValueError("frequency_median, gap_log_sd and gap_log_mean_sd must be > 0")


# Placeholders until the first fit (assumptions, see docs/scoring.md): A from ¥1,000,000 and B
# from ¥200,000 of decayed value (≈ 1.44 × annual spend at a steady rate), ~6 orders a year,
# a monthly rhythm with a spread of 0.8 in log-days, customers' rhythms spread by a factor e.
DEFAULT_POPULATION = PopulationParameters(
    version="default-0",
    fitted_at=None,
    customers=0,
    buyers=0,
    value_a_min=1_000_000.0,
    value_b_min=200_000.0,
    value_share_a=0.0,
    frequency_median=8.0,
    gap_log_mean=math.log(30.0),
    gap_log_sd=0.8,
    gap_log_mean_sd=1.0,
)


@dataclass(frozen=True, slots=True)
class PopulationSample:
    """What the fit needs from one customer (`population_sample` extracts it from a state)."""

    value: float
    frequency: float
    gap_count: int = 0
    gap_log_mean: float = 0.0
    gap_log_var: float = 0.0


def population_sample(
    state: FeatureState, *, as_of: datetime, config: FeatureConfig = DEFAULT_FEATURE_CONFIG
) -> PopulationSample:
    """The customer's contribution to a population fit, with sums decayed to `as_of`."""
    at = to_seconds(as_of)
    return PopulationSample(
        value=decayed(state.monetary, state.orders_ref_at, at, config.monetary_half_life_days),
        frequency=decayed(
            state.frequency, state.orders_ref_at, at, config.frequency_half_life_days
        ),
        gap_count=state.gap_count,
        gap_log_mean=state.gap_log_mean,
        gap_log_var=state.gap_log_var,
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of ascending values, linearly interpolated (Hyndman & Fan type 7)."""
    if not ordered:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be within [0, 1]")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fit_population(
    samples: Iterable[PopulationSample],
    *,
    version: str,
    fitted_at: datetime,
    quantile_a: float = 0.8,
    quantile_b: float = 0.5,
    min_prior_customers: int = 20,
    ewma_cap: float = (2.0 - DEFAULT_FEATURE_CONFIG.gap_alpha) / DEFAULT_FEATURE_CONFIG.gap_alpha,
    defaults: PopulationParameters = DEFAULT_POPULATION,
) -> PopulationParameters:
    """Fit the population parameters from every customer's sample.

    Thresholds come from buyers only (value > 0), since prospects would drag the percentiles to
    zero. The rhythm prior needs `min_prior_customers` customers with at least one gap (and as
    many with two, for the within-customer spread); below that the `defaults` are kept. Each
    customer's estimate is weighted by its evidence, min(gaps, EWMA cap).
    Raises ValueError when there is no buyer at all.
    """
    if not 0 < quantile_b < quantile_a < 1:
        raise ValueError("need 0 < quantile_b < quantile_a < 1")
    rows = list(samples)
    buyers = [s for s in rows if s.value > 0]
    if not buyers:
        raise ValueError("no customer with a positive value: nothing to fit")
    values = sorted(s.value for s in buyers)
    value_a = quantile(values, quantile_a)
    value_b = quantile(values, quantile_b)
    total = math.fsum(values)
    share_a = math.fsum(v for v in values if v >= value_a) / total
    frequency_median = quantile(sorted(s.frequency for s in buyers), 0.5)

    with_gap = [s for s in rows if s.gap_count >= 1]
    with_spread = [s for s in rows if s.gap_count >= 2]
    gap_log_sd = defaults.gap_log_sd
    if len(with_spread) >= min_prior_customers:
        weights = [min(float(s.gap_count - 1), ewma_cap - 1.0) for s in with_spread]
        pooled = _weighted_mean([s.gap_log_var for s in with_spread], weights)
        gap_log_sd = max(math.sqrt(pooled), 0.05)
    gap_log_mean, gap_log_mean_sd = defaults.gap_log_mean, defaults.gap_log_mean_sd
    if len(with_gap) >= min_prior_customers:
        evidence = [min(float(s.gap_count), ewma_cap) for s in with_gap]
        means = [s.gap_log_mean for s in with_gap]
        gap_log_mean = _weighted_mean(means, evidence)
        spread = _weighted_mean([(m - gap_log_mean) ** 2 for m in means], evidence)
        # Part of that spread is each customer's estimation noise (σ²/n), not a real difference
        # between customers; take it out (method of moments), keeping a small floor.
        noise = _weighted_mean([gap_log_sd**2 / n for n in evidence], evidence)
        gap_log_mean_sd = math.sqrt(max(spread - noise, 0.1**2))

    return PopulationParameters(
        version=version,
        fitted_at=fitted_at,
        customers=len(rows),
        buyers=len(buyers),
        value_a_min=value_a,
        value_b_min=value_b,
        value_share_a=share_a,
        # A tiny median (mostly decayed buyers) would make every customer "frequent".
        frequency_median=max(frequency_median, 1e-6),
        gap_log_mean=gap_log_mean,
        gap_log_sd=gap_log_sd,
        gap_log_mean_sd=gap_log_mean_sd,
    )


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return math.fsum(w * v for w, v in zip(weights, values, strict=True)) / math.fsum(weights)
