"""Churn risk: rhythm-relative silence, service experience, reasons and bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.domain.churn import ChurnParams, churn_band
from services.scoring.domain.events import (
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintResolved,
    Event,
    Interaction,
    OrderPlaced,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.features import FeatureState, fold, fold_all
from services.scoring.domain.model import Score, score
from services.scoring.domain.reasons import PARAMETERS, ReasonCode
from services.scoring.domain.vocabulary import (
    Channel,
    ChurnBand,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)

T0 = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def buyer(every: float, count: int, amount: float = 5000.0) -> tuple[FeatureState, datetime]:
    """A customer who ordered `count` times, every `every` days; and their last order time."""
    events = [OrderPlaced(f"o{i}", day(every * i), amount) for i in range(count)]
    return fold_all(events), day(every * (count - 1))


def codes(s: Score) -> list[ReasonCode]:
    return [r.code for r in s.churn.reasons]


def reason_params(s: Score, code: ReasonCode) -> dict[str, object]:
    (reason,) = [r for r in s.churn.reasons if r.code is code]
    return dict(reason.params)


def test_silence_alone_raises_the_risk_over_time() -> None:
    state, last = buyer(30, 12)
    risks = [score(state, as_of=last + timedelta(days=d)).churn.risk for d in (30, 40, 50, 60, 80)]
    assert risks == sorted(risks) and len(set(risks)) == len(risks)
    assert score(state, as_of=last + timedelta(days=1)).churn.band is ChurnBand.LOW
    assert score(state, as_of=last + timedelta(days=80)).churn.band is ChurnBand.CRITICAL


def test_risk_is_relative_to_the_customers_own_rhythm() -> None:
    fast, fast_last = buyer(3, 20)
    slow, slow_last = buyer(182, 6)
    fast_score = score(fast, as_of=fast_last + timedelta(days=30))
    slow_score = score(slow, as_of=slow_last + timedelta(days=30))
    assert fast_score.churn.band is ChurnBand.CRITICAL
    assert slow_score.churn.band is ChurnBand.LOW
    assert fast_score.churn.risk > 0.99 > 0.25 > slow_score.churn.risk
    assert reason_params(fast_score, ReasonCode.SILENT_BEYOND_RHYTHM) == {
        "days_silent": 30,
        "usual_interval_days": 3,
        "ratio": 10.0,
    }
    assert ReasonCode.SILENT_BEYOND_RHYTHM not in codes(slow_score)


def test_a_long_cycle_stretches_the_horizon_instead_of_flagging_every_half_year_buyer() -> None:
    slow, slow_last = buyer(182, 6)
    fresh = score(slow, as_of=slow_last + timedelta(days=1))
    assert fresh.churn.horizon_days > 90
    monthly, monthly_last = buyer(30, 12)
    assert score(monthly, as_of=monthly_last).churn.horizon_days == 90


def test_a_severe_open_complaint_with_an_sla_breach_raises_risk_and_is_explained() -> None:
    state, last = buyer(30, 12)
    at = last + timedelta(days=20)
    baseline = score(state, as_of=at)
    troubled = fold_all(
        [
            ComplaintOpened("c1", last + timedelta(days=5), Severity.CRITICAL),
            SlaBreached("c1", last + timedelta(days=6), SlaTarget.FIRST_RESPONSE),
        ],
        state=state,
    )
    result = score(troubled, as_of=at)
    assert baseline.churn.band is ChurnBand.LOW
    assert result.churn.band is ChurnBand.MEDIUM
    assert result.churn.risk > baseline.churn.risk + 0.2
    assert codes(result)[:2] == [ReasonCode.OPEN_CRITICAL_COMPLAINT, ReasonCode.SLA_BREACHED]
    assert reason_params(result, ReasonCode.OPEN_CRITICAL_COMPLAINT) == {
        "count": 1,
        "oldest_open_days": 15,
    }
    assert reason_params(result, ReasonCode.SLA_BREACHED) == {"breaches": 1, "days_since_last": 14}
    contributions = [r.contribution for r in result.churn.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert 0 < sum(r.share for r in result.churn.reasons) <= 1.0 + 1e-9


def test_resolving_the_complaint_removes_it_but_the_breach_fades_only_with_time() -> None:
    state, last = buyer(30, 12)
    troubled = fold_all(
        [
            ComplaintOpened("c1", last + timedelta(days=2), Severity.HIGH),
            SlaBreached("c1", last + timedelta(days=3), SlaTarget.RESOLUTION),
            ComplaintEscalated("c1", last + timedelta(days=3), 1),
        ],
        state=state,
    )
    resolved = fold(troubled, ComplaintResolved("c1", last + timedelta(days=4)))
    at = last + timedelta(days=5)
    open_score, resolved_score = score(troubled, as_of=at), score(resolved, as_of=at)
    assert ReasonCode.OPEN_COMPLAINTS in codes(open_score)
    assert ReasonCode.COMPLAINT_ESCALATED in codes(open_score)
    assert ReasonCode.OPEN_COMPLAINTS not in codes(resolved_score)
    assert ReasonCode.SLA_BREACHED in codes(resolved_score)
    assert resolved_score.churn.risk < open_score.churn.risk
    later = score(resolved, as_of=at + timedelta(days=180))
    faded = later.features["churn_term_sla_breached"]
    fresh = resolved_score.features["churn_term_sla_breached"]
    assert isinstance(faded, float) and isinstance(fresh, float)
    assert 0 < faded < fresh


def test_low_csat_raises_risk_and_high_csat_lowers_it_without_a_reason() -> None:
    state, last = buyer(30, 12)
    at = last + timedelta(days=25)
    neutral = score(state, as_of=at).churn.risk
    unhappy = score(fold(state, SurveyAnswered(last + timedelta(days=2), 1)), as_of=at)
    happy = score(fold(state, SurveyAnswered(last + timedelta(days=2), 5)), as_of=at)
    assert unhappy.churn.risk > neutral > happy.churn.risk
    assert reason_params(unhappy, ReasonCode.LOW_CSAT) == {"csat_avg": 1.0, "last_csat": 1}
    assert all(r.contribution > 0 for r in happy.churn.reasons)


def test_contact_gap_counts_from_the_last_order_or_interaction() -> None:
    state, last = buyer(182, 6)
    at = last + timedelta(days=100)
    silent = score(state, as_of=at)
    assert reason_params(silent, ReasonCode.CONTACT_GAP) == {
        "days_since_contact": 100,
        "target_days": 60,
    }
    called = fold(state, Interaction(last + timedelta(days=90), Channel.PHONE, Direction.OUTBOUND))
    assert ReasonCode.CONTACT_GAP not in codes(score(called, as_of=at))
    assert score(called, as_of=at).churn.risk < silent.churn.risk


def test_falling_engagement_and_negative_sentiment_are_explained() -> None:
    state, last = buyer(30, 12)
    contacts: list[Event] = [
        Interaction(day(7 * i), Channel.EMAIL, Direction.INBOUND, sentiment=-0.8)
        for i in range(int((last - T0).days / 7) - 10)
    ]
    state = fold_all(contacts, state=state)
    result = score(state, as_of=last + timedelta(days=10))
    assert ReasonCode.FALLING_ENGAGEMENT in codes(result)
    assert ReasonCode.NEGATIVE_SENTIMENT in codes(result)
    params = reason_params(result, ReasonCode.FALLING_ENGAGEMENT)
    recent, usual = params["recent_per_month"], params["usual_per_month"]
    assert isinstance(recent, float) and isinstance(usual, float)
    assert recent < 0.5 * usual


def test_a_slowing_rhythm_is_flagged_as_declining_frequency() -> None:
    times = [0, 10, 20, 30, 40, 50, 60, 70, 100, 140]
    state = fold_all([OrderPlaced(f"o{i}", day(t), 100.0) for i, t in enumerate(times)])
    result = score(state, as_of=day(150))
    params = reason_params(result, ReasonCode.DECLINING_FREQUENCY)
    # Fast EWMA (α = 0.5) of the log gaps against the model EWMA (α = 0.15), as days.
    assert params == {"recent_interval_days": 26, "usual_interval_days": 14}
    steady, steady_last = buyer(10, 10)
    assert ReasonCode.DECLINING_FREQUENCY not in codes(score(steady, as_of=steady_last))


def test_few_orders_are_riskier_than_an_established_rhythm() -> None:
    one, one_last = buyer(30, 1)
    many, many_last = buyer(30, 12)
    young, old = score(one, as_of=one_last), score(many, as_of=many_last)
    assert codes(young) == [ReasonCode.FEW_ORDERS]
    assert reason_params(young, ReasonCode.FEW_ORDERS) == {"orders": 1}
    assert young.churn.risk > old.churn.risk
    assert ReasonCode.FEW_ORDERS not in codes(old)


def test_a_prospects_risk_grows_since_creation() -> None:
    created = ProfileChanged(T0, False, None, created_at=T0)
    state = fold(FeatureState(), created)
    early, late = score(state, as_of=day(10)), score(state, as_of=day(200))
    assert late.churn.risk > early.churn.risk
    assert reason_params(late, ReasonCode.NO_ORDERS_YET) == {"days_since_created": 200}


def test_protective_factors_lower_risk() -> None:
    state, last = buyer(30, 12)
    at = last + timedelta(days=40)
    plain = score(state, as_of=at).churn.risk
    partner = fold(state, ProfileChanged(last, True, RelationshipStage.ALLIANCE))
    assert score(partner, as_of=at).churn.risk < plain


def test_reasons_are_capped_and_carry_their_declared_parameters() -> None:
    state, last = buyer(30, 3)
    events: list[Event] = [
        ComplaintOpened("c1", last + timedelta(days=1), Severity.CRITICAL),
        ComplaintOpened("c2", last + timedelta(days=1), Severity.LOW),
        ComplaintEscalated("c1", last + timedelta(days=2), 3),
        SlaBreached("c1", last + timedelta(days=2), SlaTarget.RESOLUTION),
        SurveyAnswered(last + timedelta(days=3), 1),
    ]
    result = score(fold_all(events, state=state), as_of=last + timedelta(days=120))
    assert len(result.churn.reasons) == ChurnParams().top_reasons
    for reason in result.churn.reasons:
        assert set(reason.params) == set(PARAMETERS[reason.code])
        assert reason.contribution >= ChurnParams().min_reason_contribution
        assert reason.text.endswith(".")


@pytest.mark.parametrize(
    ("risk", "band"),
    [
        (0.0, ChurnBand.LOW),
        (0.2499, ChurnBand.LOW),
        (0.25, ChurnBand.MEDIUM),
        (0.4999, ChurnBand.MEDIUM),
        (0.5, ChurnBand.HIGH),
        (0.75, ChurnBand.CRITICAL),
        (1.0, ChurnBand.CRITICAL),
    ],
)
def test_churn_bands(risk: float, band: ChurnBand) -> None:
    assert churn_band(risk) is band


def test_churn_params_are_validated() -> None:
    with pytest.raises(ValueError):
        ChurnParams(bands=(0.5, 0.25, 0.75))
    with pytest.raises(ValueError):
        ChurnParams(horizon_days=1000.0)
