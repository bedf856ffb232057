"""The scoring model: one `score(state, as_of=…, params=…)` combining churn, loyalty, value tier
and lifecycle, plus the churn trend and when a silent customer needs rescoring.

Deterministic: the same state, `as_of` and params always give the same `Score`; nothing here
reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from services.scoring.domain.churn import (
    DEFAULT_CHURN_PARAMS,
    ChurnParams,
    ChurnRisk,
    assess_churn,
)
from services.scoring.domain.eventtime import from_seconds, require_aware, to_seconds
from services.scoring.domain.features import DEFAULT_FEATURE_CONFIG, FeatureConfig, FeatureState
from services.scoring.domain.loyalty import (
    DEFAULT_LOYALTY_PARAMS,
    LoyaltyParams,
    LoyaltyScore,
    assess_loyalty,
)
from services.scoring.domain.population import DEFAULT_POPULATION, PopulationParameters
from services.scoring.domain.segments import (
    DEFAULT_LIFECYCLE_PARAMS,
    LifecycleParams,
    lifecycle,
    value_tier,
)
from services.scoring.domain.snapshot import take_snapshot
from services.scoring.domain.vocabulary import Lifecycle, Scalar, Trend, ValueTier

__all__ = [
    "DEFAULT_PARAMS",
    "MODEL_VERSION",
    "Score",
    "ScoringParams",
    "churn_trend",
    "next_review_at",
    "score",
]

MODEL_VERSION = "churn-loyalty-1"
"""Bump when a formula, a default or the fold changes meaning."""


@dataclass(frozen=True, slots=True)
class ScoringParams:
    """Everything the model depends on besides the state: the fold config, the formula
    parameters and the fitted population (whose version is part of the model version)."""

    features: FeatureConfig = DEFAULT_FEATURE_CONFIG
    churn: ChurnParams = DEFAULT_CHURN_PARAMS
    loyalty: LoyaltyParams = DEFAULT_LOYALTY_PARAMS
    lifecycle: LifecycleParams = DEFAULT_LIFECYCLE_PARAMS
    population: PopulationParameters = DEFAULT_POPULATION
    trend_tolerance: float = 0.02
    review_min: timedelta = timedelta(hours=1)
    review_max: timedelta = timedelta(days=7)
    # Offsets probed by `next_review_at`, then refined by bisection down to `review_precision`.
    review_probes: tuple[timedelta, ...] = field(
        default=tuple(
            [timedelta(hours=h) for h in (1, 6)] + [timedelta(days=d) for d in (1, 2, 4, 7)]
        )
    )
    review_precision: timedelta = timedelta(minutes=10)

    @property
    def model_version(self) -> str:
        return f"{MODEL_VERSION}+pop.{self.population.version}"


DEFAULT_PARAMS = ScoringParams()


@dataclass(frozen=True, slots=True)
class Score:
    """One customer's scores as of `as_of` (event time).

    `features` are the model inputs and intermediate quantities, flat and JSON/Mongo-safe
    (strings, ints, finite floats); a missing key means unknown.
    """

    as_of: datetime
    loyalty: LoyaltyScore
    churn: ChurnRisk
    value_tier: ValueTier
    lifecycle: Lifecycle
    trend: Trend
    model_version: str
    features: Mapping[str, Scalar]


def churn_trend(previous: float | None, current: float, tolerance: float = 0.02) -> Trend:
    """up / down when the risk moved by more than `tolerance` since `previous`, else flat
    (also flat when there is no previous score)."""
    # Rounded so that a move of exactly `tolerance` between 4-decimal risks is flat, whatever
    # binary floating point makes of the difference.
    if previous is None or round(abs(current - previous), 9) <= tolerance:
        return Trend.FLAT
    return Trend.UP if current > previous else Trend.DOWN


def _effective_time(state: FeatureState, as_of: datetime) -> tuple[float, datetime]:
    """Scoring never looks before the state's latest event: the state cannot un-fold events,
    so an earlier `as_of` (e.g. after a late event) is moved up to that event's time."""
    require_aware(as_of, "as_of")
    at = to_seconds(as_of)
    observed = state.observed_until
    if observed is not None and observed > at:
        return observed, from_seconds(observed)
    return at, as_of.astimezone(UTC)


def score(
    state: FeatureState,
    *,
    as_of: datetime,
    params: ScoringParams = DEFAULT_PARAMS,
    previous_risk: float | None = None,
) -> Score:
    """Score a customer as of `as_of` (event time; moved up to the state's latest event time
    if earlier). `previous_risk` is the churn risk last published, for the trend."""
    at, as_of_utc = _effective_time(state, as_of)
    snap = take_snapshot(state, at, params.features)
    churn, churn_features = assess_churn(
        state, snap, params=params.churn, population=params.population, config=params.features
    )
    loyalty, loyalty_features = assess_loyalty(
        snap, params=params.loyalty, population=params.population, config=params.features
    )
    stage = lifecycle(snap, churn_band=churn.band, loyalty=loyalty.score, params=params.lifecycle)
    features: dict[str, Scalar] = snap.as_features()
    features.update(churn_features)
    features.update(loyalty_features)
    return Score(
        as_of=as_of_utc,
        loyalty=loyalty,
        churn=churn,
        value_tier=value_tier(snap.monetary, params.population),
        lifecycle=stage,
        trend=churn_trend(previous_risk, churn.risk, params.trend_tolerance),
        model_version=params.model_version,
        features=MappingProxyType(features),
    )


def _material(s: Score) -> tuple[str, str, str, str]:
    return (s.churn.band.value, s.loyalty.band.value, s.value_tier.value, s.lifecycle.value)


def next_review_at(
    state: FeatureState,
    params: ScoringParams,
    now: datetime,
    *,
    current: Score | None = None,
) -> datetime:
    """When the customer's score would next change materially with no new event (churn band,
    loyalty band, value tier or lifecycle), so a sweeper can rescore silent customers.

    At least `review_min` and at most `review_max` after `now` (or after the state's latest
    event, if later). The score is probed at `review_probes` offsets and the first change is
    located by bisection to `review_precision`; a change that reverts between two probes is not
    seen (the probes are dense where it matters, in the first days). `current` is the score as
    of `now` if the caller has it (saves computing it again). Probes compute only what
    `_material` compares (no reasons, no features): this runs after every score.
    """
    _, start = _effective_time(state, now)
    baseline = _material(current) if current is not None else _material_at(state, start, params)

    def changed(offset: timedelta) -> bool:
        return _material_at(state, start + offset, params) != baseline

    previous = timedelta(0)
    for probe in sorted(p for p in params.review_probes if p <= params.review_max):
        if changed(probe):
            low, high = previous, probe
            while high - low > params.review_precision:
                middle = low + (high - low) / 2
                if changed(middle):
                    high = middle
                else:
                    low = middle
            return start + max(high, params.review_min)
        previous = probe
    return start + params.review_max


def _material_at(
    state: FeatureState, as_of: datetime, params: ScoringParams
) -> tuple[str, str, str, str]:
    """`_material(score(state, as_of=as_of))`, computing only the four parts compared."""
    at, _ = _effective_time(state, as_of)
    snap = take_snapshot(state, at, params.features)
    churn, _ = assess_churn(
        state,
        snap,
        params=params.churn,
        population=params.population,
        config=params.features,
        explain=False,
    )
    loyalty, _ = assess_loyalty(
        snap, params=params.loyalty, population=params.population, config=params.features
    )
    stage = lifecycle(snap, churn_band=churn.band, loyalty=loyalty.score, params=params.lifecycle)
    return (
        churn.band.value,
        loyalty.band.value,
        value_tier(snap.monetary, params.population).value,
        stage.value,
    )
