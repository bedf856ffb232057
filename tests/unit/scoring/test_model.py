"""The top-level score: determinism, event time, features, trend and the next review time."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.scoring.domain.events import (
    ComplaintOpened,
    Interaction,
    OrderPlaced,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.features import FeatureState, fold, fold_all
from services.scoring.domain.model import (
    DEFAULT_PARAMS,
    MODEL_VERSION,
    ScoringParams,
    _material,
    _material_at,
    churn_trend,
    next_review_at,
    score,
)
from services.scoring.domain.population import DEFAULT_POPULATION
from services.scoring.domain.vocabulary import (
    Channel,
    ChurnBand,
    Direction,
    Lifecycle,
    RelationshipStage,
    Severity,
    SlaTarget,
    Trend,
)

T0 = datetime(2024, 2, 5, 10, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def monthly(count: int = 10) -> tuple[FeatureState, datetime]:
    events = [OrderPlaced(f"o{i}", day(30 * i), 8000.0) for i in range(count)]
    return fold_all(events), day(30 * (count - 1))


def test_an_order_moves_loyalty_up_and_churn_down() -> None:
    state, last = monthly()
    now = last + timedelta(days=55)
    before = score(state, as_of=now)
    after = score(fold(state, OrderPlaced("new", now, 8000.0)), as_of=now)
    assert after.loyalty.score > before.loyalty.score
    assert after.churn.risk < before.churn.risk
    assert before.churn.band in (ChurnBand.HIGH, ChurnBand.CRITICAL)
    assert after.churn.band is ChurnBand.LOW


def test_the_same_state_and_time_always_give_the_same_score() -> None:
    state, last = monthly()
    state = fold_all(
        [
            ComplaintOpened("c1", last, Severity.HIGH),
            SlaBreached("c1", last + timedelta(days=1), SlaTarget.RESOLUTION),
            Interaction(last, Channel.WECHAT, Direction.INBOUND, -0.5),
        ],
        state=state,
    )
    at = last + timedelta(days=33)
    first = score(state, as_of=at, previous_risk=0.3)
    assert first == score(state, as_of=at, previous_risk=0.3)
    assert list(first.features) == list(score(state, as_of=at, previous_risk=0.3).features)


def test_as_of_is_event_time_and_never_before_the_latest_event() -> None:
    state, last = monthly()
    assert score(state, as_of=last + timedelta(days=3)).as_of == last + timedelta(days=3)
    early = score(state, as_of=last - timedelta(days=40))
    assert early.as_of == last
    assert early == score(state, as_of=last)
    with pytest.raises(ValueError, match="timezone-aware"):
        score(state, as_of=datetime(2024, 1, 1))


def test_as_of_in_another_timezone_is_reported_in_utc() -> None:
    state, last = monthly()
    shanghai = timezone(timedelta(hours=8))
    result = score(state, as_of=(last + timedelta(days=1)).astimezone(shanghai))
    assert result.as_of.utcoffset() == timedelta(0)
    assert result.as_of == last + timedelta(days=1)


@pytest.mark.parametrize(
    "state",
    [
        FeatureState(),
        fold(FeatureState(), ProfileChanged(T0, True, RelationshipStage.PARTNER, created_at=T0)),
        fold_all(
            [
                OrderPlaced("o1", T0, 1.0),
                SurveyAnswered(T0, 2),
                ComplaintOpened("c", T0, Severity.CRITICAL),
                Interaction(T0, Channel.VISIT, Direction.OUTBOUND, 0.9),
            ]
        ),
        monthly()[0],
    ],
)
def test_features_are_flat_finite_and_json_safe(state: FeatureState) -> None:
    result = score(state, as_of=day(400))
    json.dumps(dict(result.features), allow_nan=False)
    for name, value in result.features.items():
        assert isinstance(value, str | int | float), name
        if isinstance(value, float):
            assert math.isfinite(value), name
    assert 0.0 <= result.churn.risk <= 1.0
    assert result.churn.horizon_days >= 90
    for reason in result.churn.reasons:
        json.dumps(dict(reason.params), allow_nan=False)


def test_model_version_names_the_population_fit() -> None:
    fitted = replace(DEFAULT_POPULATION, version="2025-06-01")
    result = score(FeatureState(), as_of=T0, params=ScoringParams(population=fitted))
    assert result.model_version == f"{MODEL_VERSION}+pop.2025-06-01"


def test_prospect_lifecycle_for_an_empty_state() -> None:
    assert score(FeatureState(), as_of=T0).lifecycle is Lifecycle.PROSPECT


@pytest.mark.parametrize(
    ("previous", "current", "trend"),
    [
        (None, 0.9, Trend.FLAT),
        (0.30, 0.31, Trend.FLAT),
        (0.30, 0.32, Trend.FLAT),
        (0.30, 0.33, Trend.UP),
        (0.30, 0.27, Trend.DOWN),
    ],
)
def test_churn_trend_with_tolerance(previous: float | None, current: float, trend: Trend) -> None:
    assert churn_trend(previous, current, tolerance=0.02) is trend


def test_score_reports_the_trend_against_the_previous_risk() -> None:
    state, last = monthly()
    earlier = score(state, as_of=last + timedelta(days=35))
    later = score(state, as_of=last + timedelta(days=60), previous_risk=earlier.churn.risk)
    assert later.trend is Trend.UP
    assert score(state, as_of=last, previous_risk=0.9).trend is Trend.DOWN


# --- next review --------------------------------------------------------------------------------


def test_a_fresh_stable_customer_is_reviewed_after_the_maximum_delay() -> None:
    state, last = monthly()
    assert next_review_at(state, DEFAULT_PARAMS, last) == last + timedelta(days=7)


def test_review_lands_where_the_band_changes() -> None:
    state, last = monthly()
    now = last + timedelta(days=36)
    review = next_review_at(state, DEFAULT_PARAMS, now)
    assert now + timedelta(hours=1) <= review < now + timedelta(days=7)
    band_now = score(state, as_of=now).churn.band
    assert score(state, as_of=review).churn.band != band_now
    before = review - DEFAULT_PARAMS.review_precision
    assert score(state, as_of=before).churn.band == band_now


def test_review_is_at_least_the_minimum_delay_away() -> None:
    state, last = monthly()
    now = last + timedelta(days=36)
    crossing = next_review_at(state, DEFAULT_PARAMS, now)
    just_before = crossing - timedelta(minutes=5)
    assert next_review_at(state, DEFAULT_PARAMS, just_before) == just_before + timedelta(hours=1)


def test_review_counts_from_the_latest_event_when_now_is_earlier() -> None:
    state, last = monthly()
    assert next_review_at(state, DEFAULT_PARAMS, last - timedelta(days=3)) == last + timedelta(
        days=7
    )


def test_review_also_watches_lifecycle_changes() -> None:
    # A first order: "new" ends 90 days after it, whatever the churn band does.
    state = fold(FeatureState(), OrderPlaced("o", T0, 10.0))
    now = T0 + timedelta(days=88)
    review = next_review_at(state, DEFAULT_PARAMS, now)
    assert review <= T0 + timedelta(days=90, minutes=10)
    assert score(state, as_of=review).lifecycle != score(state, as_of=now).lifecycle


def test_review_probes_see_exactly_what_a_full_score_sees() -> None:
    # The probes skip reasons and features; the four parts they compare must not differ.
    states = [
        FeatureState(),
        monthly()[0],
        fold_all(
            [
                OrderPlaced("o1", T0, 5000.0),
                OrderPlaced("o2", day(3), 40.0),
                ComplaintOpened("c", day(4), Severity.CRITICAL),
                SurveyAnswered(day(5), 1),
                Interaction(day(6), Channel.WECHAT, Direction.INBOUND, -0.8),
            ]
        ),
    ]
    for state in states:
        for days in (0, 0.5, 3, 20, 45, 90, 200, 400, 800):
            at = day(days)
            full = score(state, as_of=at)
            assert _material_at(state, at, DEFAULT_PARAMS) == _material(full), (state, days)
            assert next_review_at(state, DEFAULT_PARAMS, at, current=full) == next_review_at(
                state, DEFAULT_PARAMS, at
            )
