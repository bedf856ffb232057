"""Loyalty 0–100: components, bands and the direction each input moves it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.domain.events import (
    ComplaintOpened,
    Event,
    Interaction,
    OrderPlaced,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.features import FeatureState, fold, fold_all
from services.scoring.domain.loyalty import LoyaltyParams, loyalty_band
from services.scoring.domain.model import score
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    LoyaltyBand,
    RelationshipStage,
    Severity,
    SlaTarget,
)

T0 = datetime(2022, 6, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def monthly_buyer(count: int = 12, amount: float = 20_000.0) -> FeatureState:
    return fold_all([OrderPlaced(f"o{i}", day(30 * i), amount) for i in range(count)])


AT = day(30 * 11 + 5)


def loyalty_of(state: FeatureState) -> float:
    return score(state, as_of=AT).loyalty.score


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, LoyaltyBand.BRONZE),
        (39.9, LoyaltyBand.BRONZE),
        (40.0, LoyaltyBand.SILVER),
        (60.0, LoyaltyBand.GOLD),
        (79.9, LoyaltyBand.GOLD),
        (80.0, LoyaltyBand.PLATINUM),
        (100.0, LoyaltyBand.PLATINUM),
    ],
)
def test_loyalty_bands(value: float, band: LoyaltyBand) -> None:
    assert loyalty_band(value) is band


def test_weights_must_sum_to_100() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        LoyaltyParams(weight_recency=30.0)


def test_a_prospect_has_no_purchase_loyalty() -> None:
    result = score(FeatureState(), as_of=T0)
    assert result.loyalty.band is LoyaltyBand.BRONZE
    for part in ("recency", "frequency", "monetary", "tenure"):
        assert result.features[f"loyalty_{part}"] == 0.0


def test_satisfaction_moves_loyalty() -> None:
    base = monthly_buyer()
    happy = fold(base, SurveyAnswered(day(300), 5))
    unhappy = fold(base, SurveyAnswered(day(300), 1))
    assert loyalty_of(happy) > loyalty_of(base) > loyalty_of(unhappy)


def test_complaints_and_breaches_lower_loyalty() -> None:
    base = monthly_buyer()
    troubled = fold_all(
        [
            ComplaintOpened("c1", day(300), Severity.HIGH),
            SlaBreached("c1", day(302), SlaTarget.RESOLUTION),
        ],
        state=base,
    )
    assert loyalty_of(troubled) < loyalty_of(base)


def test_relationship_stage_and_key_account_raise_loyalty() -> None:
    base = monthly_buyer()
    vendor = fold(base, ProfileChanged(day(1), False, RelationshipStage.VENDOR))
    alliance = fold(base, ProfileChanged(day(1), False, RelationshipStage.ALLIANCE))
    key_alliance = fold(base, ProfileChanged(day(1), True, RelationshipStage.ALLIANCE))
    assert loyalty_of(vendor) < loyalty_of(alliance) < loyalty_of(key_alliance)


def test_engagement_across_channels_raises_loyalty() -> None:
    base = monthly_buyer()
    one_channel = fold_all(
        [Interaction(day(300 + i), Channel.PHONE, Direction.INBOUND) for i in range(6)], state=base
    )
    three_channels = fold_all(
        [
            Interaction(day(300 + i), channel, Direction.INBOUND)
            for i, channel in enumerate([Channel.PHONE, Channel.WECHAT, Channel.VISIT] * 2)
        ],
        state=base,
    )
    assert loyalty_of(base) < loyalty_of(one_channel) < loyalty_of(three_channels)


def test_bigger_and_more_frequent_buyers_are_more_loyal() -> None:
    assert loyalty_of(monthly_buyer(amount=100_000.0)) > loyalty_of(monthly_buyer())
    frequent = fold_all([OrderPlaced(f"w{i}", day(7 * i), 20_000.0) for i in range(48)])
    assert score(frequent, as_of=day(7 * 47 + 2)).loyalty.score > loyalty_of(monthly_buyer())


def test_loyalty_fades_with_silence() -> None:
    state = monthly_buyer()
    values = [score(state, as_of=AT + timedelta(days=d)).loyalty.score for d in (0, 60, 180, 400)]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("seed", range(8))
def test_loyalty_and_components_stay_in_range_for_any_history(seed: int) -> None:
    rng = random.Random(seed)
    events: list[Event] = []
    for _ in range(60):
        at = day(rng.uniform(0, 700))
        kind = rng.randrange(5)
        if kind == 0:
            events.append(OrderPlaced(f"o{rng.random()}", at, rng.uniform(0, 1e6)))
        elif kind == 1:
            channel = rng.choice(list(Channel))
            events.append(Interaction(at, channel, Direction.INBOUND, rng.uniform(-1, 1)))
        elif kind == 2:
            events.append(ComplaintOpened(f"c{rng.random()}", at, rng.choice(list(Severity))))
        elif kind == 3:
            events.append(SlaBreached("c", at, SlaTarget.RESOLUTION))
        else:
            events.append(SurveyAnswered(at, rng.randint(1, 5)))
    result = score(fold_all(events), as_of=day(800))
    assert 0.0 <= result.loyalty.score <= 100.0
    for name, value in result.features.items():
        if name.startswith("loyalty_"):
            assert isinstance(value, float) and 0.0 <= value <= 1.0, name
