"""Lifecycle transitions (including won_back) and value tiers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.scoring.domain.events import (
    Event,
    Interaction,
    OrderCancelled,
    OrderPlaced,
    ProfileChanged,
    SurveyAnswered,
)
from services.scoring.domain.features import FeatureState, fold, fold_all
from services.scoring.domain.model import ScoringParams, score
from services.scoring.domain.population import DEFAULT_POPULATION
from services.scoring.domain.segments import value_tier
from services.scoring.domain.vocabulary import (
    Channel,
    ChurnBand,
    Direction,
    Lifecycle,
    RelationshipStage,
    ValueTier,
)

T0 = datetime(2022, 1, 3, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def engaged_monthly_customer(months: int) -> FeatureState:
    """A large key account ordering monthly, in touch on three channels, very satisfied."""
    events: list[Event] = [ProfileChanged(day(0), True, RelationshipStage.ALLIANCE)]
    channels = [Channel.PHONE, Channel.WECHAT, Channel.VISIT]
    for i in range(months):
        events.append(OrderPlaced(f"o{i}", day(30 * i), 60_000.0))
        events.append(Interaction(day(30 * i + 10), channels[i % 3], Direction.INBOUND))
        events.append(Interaction(day(30 * i + 20), channels[(i + 1) % 3], Direction.OUTBOUND))
    events.append(SurveyAnswered(day(30 * months - 40), 5))
    return fold_all(events)


def stage(state: FeatureState, at: datetime) -> Lifecycle:
    return score(state, as_of=at).lifecycle


def test_a_customer_goes_through_every_stage() -> None:
    assert stage(FeatureState(), day(0)) is Lifecycle.PROSPECT

    first = fold(FeatureState(), OrderPlaced("o0", day(0), 60_000.0))
    assert stage(first, day(5)) is Lifecycle.NEW

    year = engaged_monthly_customer(months=6)
    assert stage(year, day(155)) is Lifecycle.ACTIVE  # past 90 days, tenure < 1 year

    loyal = engaged_monthly_customer(months=24)
    last = day(30 * 23)
    assert score(loyal, as_of=last + timedelta(days=5)).loyalty.score >= 60
    assert stage(loyal, last + timedelta(days=5)) is Lifecycle.LOYAL

    at_risk = score(loyal, as_of=last + timedelta(days=70))
    assert at_risk.churn.band in (ChurnBand.HIGH, ChurnBand.CRITICAL)
    assert at_risk.lifecycle is Lifecycle.AT_RISK

    # Churned after max(3 × 30 days, 90 days) of silence.
    assert stage(loyal, last + timedelta(days=89)) is Lifecycle.AT_RISK
    assert stage(loyal, last + timedelta(days=91)) is Lifecycle.CHURNED

    back_at = last + timedelta(days=200)
    won_back = fold(loyal, OrderPlaced("back", back_at, 60_000.0))
    assert won_back.winback_at == back_at.timestamp()
    assert stage(won_back, back_at + timedelta(days=1)) is Lifecycle.WON_BACK

    # Once re-established (beyond the won-back window, ordering again), no longer "won back".
    again = fold_all(
        [OrderPlaced(f"r{i}", back_at + timedelta(days=30 * i), 60_000.0) for i in range(1, 8)],
        state=won_back,
    )
    assert stage(again, back_at + timedelta(days=30 * 7 + 2)) in (Lifecycle.LOYAL, Lifecycle.ACTIVE)


def test_an_order_within_the_usual_rhythm_is_not_a_win_back() -> None:
    state = fold_all([OrderPlaced(f"o{i}", day(30 * i), 100.0) for i in range(6)])
    assert state.winback_at is None
    assert stage(state, day(30 * 5 + 1)) is not Lifecycle.WON_BACK


def test_cancelling_the_returning_order_undoes_the_win_back() -> None:
    state = fold_all([OrderPlaced(f"o{i}", day(30 * i), 100.0) for i in range(6)])
    back = fold(state, OrderPlaced("back", day(30 * 5 + 200), 100.0))
    assert back.winback_at is not None
    cancelled = fold(back, OrderCancelled("back", day(30 * 5 + 201), 100.0))
    assert cancelled.winback_at is None
    assert stage(cancelled, day(30 * 5 + 202)) is Lifecycle.CHURNED


def test_at_risk_takes_precedence_over_won_back() -> None:
    state = fold_all([OrderPlaced(f"o{i}", day(3 * i), 100.0) for i in range(20)])
    back = fold(state, OrderPlaced("back", day(3 * 19 + 120), 100.0))
    assert stage(back, day(3 * 19 + 121)) is Lifecycle.WON_BACK
    # The long break widened the rhythm's spread, but a month of silence is alarming again.
    assert stage(back, day(3 * 19 + 150)) is Lifecycle.AT_RISK


def test_value_tiers_use_the_population_thresholds_on_decayed_value() -> None:
    population = DEFAULT_POPULATION
    assert value_tier(population.value_a_min, population) is ValueTier.A
    assert value_tier(population.value_b_min, population) is ValueTier.B
    assert value_tier(population.value_b_min - 1, population) is ValueTier.C
    big = fold(FeatureState(), OrderPlaced("o", day(0), 1.01 * population.value_a_min))
    assert score(big, as_of=day(1)).value_tier is ValueTier.A
    # Value decays (half-life one year), so a big but old order drops tiers.
    assert score(big, as_of=day(366)).value_tier is ValueTier.B
    assert score(big, as_of=day(365 * 3)).value_tier is ValueTier.C
    tighter = ScoringParams(
        population=replace(population, value_a_min=2 * population.value_a_min, version="x")
    )
    assert score(big, as_of=day(1), params=tighter).value_tier is ValueTier.B
