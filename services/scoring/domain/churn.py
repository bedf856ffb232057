"""Churn risk: the probability of no order within the horizon, from the customer's own rhythm,
adjusted for service experience on the log-odds scale, with its reasons.

    logit(risk) = intercept                      rhythm right after an order, established customer
                + few_orders                     a young relationship drops out more often
                + silent_beyond_rhythm           silence relative to the customer's own gaps
                + declining_frequency            recent gaps longer than usual
                + service terms                  complaints, escalation, SLA, CSAT, contact
                − protective terms               tenure, relationship stage, key account, high CSAT

The rhythm terms decompose logit(P(no order in (s, s+H] | silent s)) exactly; the service terms
are additive assumptions (weights in `ChurnParams`, reasoning in docs/scoring.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from services.scoring.domain.features import FeatureConfig, FeatureState
from services.scoring.domain.population import PopulationParameters
from services.scoring.domain.reasons import Reason, ReasonCode, rank_reasons
from services.scoring.domain.rhythm import (
    GapModel,
    dropout_probability,
    effective_horizon_days,
    fit_gap_model,
    logit,
    no_order_probability,
    p_alive,
    sigmoid,
)
from services.scoring.domain.snapshot import Snapshot
from services.scoring.domain.vocabulary import (
    SEVERITY_RANK,
    STAGE_RANK,
    ChurnBand,
    Scalar,
    Severity,
)

__all__ = [
    "DEFAULT_CHURN_PARAMS",
    "ChurnParams",
    "ChurnRisk",
    "assess_churn",
    "churn_band",
    "customer_gap_model",
]

_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class ChurnParams:
    """Weights and settings of the churn model; log-odds unless a name says otherwise.

    Every service-experience weight is an assumption (the requirements give none); they are
    sized so that a single factor moves a healthy mid-cycle customer (risk ≈ 0.07) by one band
    at most, and a critical open complaint with a missed deadline moves them to medium.
    """

    horizon_days: float = 90.0
    horizon_cycle_quantile: float = 0.9
    max_horizon_days: float = 730.0
    variance_prior_strength: float = 2.0
    min_log_sd: float = 0.25
    dropout_a: float = 1.0
    dropout_b: float = 3.0
    dropout_floor: float = 0.02
    established_orders: int = 5
    prospect_dropout: float = 0.5
    # Open complaints by severity rank (low, medium, high, critical), capped in total.
    open_complaint_weight: tuple[float, float, float, float] = (0.15, 0.4, 0.8, 1.5)
    open_complaint_cap: float = 2.5
    escalation_per_level: float = 0.3
    escalation_cap: float = 0.9
    sla_weight: float = 0.5
    sla_cap: float = 1.0
    csat_pivot: float = 3.5
    csat_slope: float = 0.5
    csat_high: float = 4.5
    csat_high_bonus: float = 0.2
    contact_gap_days: float = 60.0
    contact_gap_base: float = 0.3
    contact_gap_slope: float = 0.4
    contact_gap_cap: float = 0.8
    engagement_ratio: float = 0.5
    engagement_min_per_month: float = 0.5
    engagement_weight: float = 0.4
    sentiment_threshold: float = -0.2
    sentiment_weight: float = 0.5
    sentiment_full_evidence: float = 3.0
    declining_min_gaps: int = 3
    declining_threshold: float = 0.25
    declining_slope: float = 1.5
    declining_cap: float = 0.8
    tenure_weight: float = 0.1
    tenure_cap: float = 0.3
    stage_bonus: tuple[float, float, float, float] = (0.0, 0.1, 0.2, 0.3)
    key_account_bonus: float = 0.1
    # Band lower bounds of medium, high and critical.
    bands: tuple[float, float, float] = (0.25, 0.5, 0.75)
    top_reasons: int = 4
    min_reason_contribution: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.bands[0] < self.bands[1] < self.bands[2] < 1:
            raise ValueError("churn bands must be increasing within (0, 1)")
        if not 0 < self.horizon_cycle_quantile < 1:
            raise ValueError("horizon_cycle_quantile must be within (0, 1)")
        if self.horizon_days <= 0 or self.max_horizon_days < self.horizon_days:
            raise ValueError("need 0 < horizon_days ≤ max_horizon_days")


DEFAULT_CHURN_PARAMS = ChurnParams()


@dataclass(frozen=True, slots=True)
class ChurnRisk:
    """P(no order within `horizon_days`), its band and the top reasons (largest first)."""

    risk: float
    band: ChurnBand
    horizon_days: int
    reasons: tuple[Reason, ...]


def churn_band(risk: float, params: ChurnParams = DEFAULT_CHURN_PARAMS) -> ChurnBand:
    """low < 0.25 ≤ medium < 0.5 ≤ high < 0.75 ≤ critical (with the default bands)."""
    medium, high, critical = params.bands
    if risk >= critical:
        return ChurnBand.CRITICAL
    if risk >= high:
        return ChurnBand.HIGH
    if risk >= medium:
        return ChurnBand.MEDIUM
    return ChurnBand.LOW


def customer_gap_model(
    state: FeatureState,
    *,
    params: ChurnParams,
    population: PopulationParameters,
    config: FeatureConfig,
) -> GapModel:
    """The customer's log-normal gap model (the population prior for a customer with no gap)."""
    return fit_gap_model(
        gap_count=state.gap_count,
        gap_log_mean=state.gap_log_mean,
        gap_log_var=state.gap_log_var,
        prior_log_mean=population.gap_log_mean,
        prior_log_sd=population.gap_log_sd,
        prior_mean_sd=population.gap_log_mean_sd,
        alpha=config.gap_alpha,
        variance_prior_strength=params.variance_prior_strength,
        min_log_sd=params.min_log_sd,
    )


Candidate = tuple[ReasonCode, float, Mapping[str, Scalar]]


def _rhythm_terms(
    state: FeatureState,
    snap: Snapshot,
    params: ChurnParams,
    population: PopulationParameters,
    config: FeatureConfig,
) -> tuple[float, list[Candidate], dict[str, float], dict[str, Scalar]]:
    """(intercept, rhythm reason candidates, terms that are never reasons, rhythm features)."""
    p = params
    unexplained: dict[str, float] = {}
    model = customer_gap_model(state, params=p, population=population, config=config)
    horizon = effective_horizon_days(
        model,
        horizon_days=p.horizon_days,
        cycle_quantile=p.horizon_cycle_quantile,
        max_days=p.max_horizon_days,
    )
    established = dropout_probability(
        max(snap.orders, p.established_orders), a=p.dropout_a, b=p.dropout_b, floor=p.dropout_floor
    )
    intercept = logit(
        no_order_probability(model, silent_days=0.0, horizon_days=horizon, dropout=established)
    )
    features: dict[str, Scalar] = {
        "horizon_days": round(horizon, 4),
        "expected_interval_days": round(model.median_days, 4),
        "gap_log_sd": round(model.log_sd, 4),
    }
    candidates: list[Candidate] = []

    if snap.orders == 0 or snap.days_silent is None:
        # A prospect: the first order is modelled with the population rhythm, measured from the
        # customer's creation and with a high chance of never ordering (an assumption).
        since = snap.days_since_created or 0.0
        risk = no_order_probability(
            model, silent_days=since, horizon_days=horizon, dropout=p.prospect_dropout
        )
        candidates.append(
            (
                ReasonCode.NO_ORDERS_YET,
                logit(risk) - intercept,
                {"days_since_created": round(since)},
            )
        )
        features.update(rhythm_risk=round(risk, 6), dropout=p.prospect_dropout)
        return intercept, candidates, unexplained, features

    dropout = dropout_probability(snap.orders, a=p.dropout_a, b=p.dropout_b, floor=p.dropout_floor)
    risk_0 = no_order_probability(model, silent_days=0.0, horizon_days=horizon, dropout=dropout)
    risk_s = no_order_probability(
        model, silent_days=snap.days_silent, horizon_days=horizon, dropout=dropout
    )
    if snap.orders < p.established_orders:
        candidates.append(
            (ReasonCode.FEW_ORDERS, logit(risk_0) - intercept, {"orders": snap.orders})
        )
    usual = snap.usual_interval_days or model.median_days
    silence = logit(risk_s) - logit(risk_0)
    if snap.days_silent >= usual:
        candidates.append(
            (
                ReasonCode.SILENT_BEYOND_RHYTHM,
                silence,
                {
                    "days_silent": round(snap.days_silent),
                    "usual_interval_days": max(1, round(usual)),
                    "ratio": round(snap.days_silent / usual, 1),
                },
            )
        )
    else:
        # Within the usual interval silence still moves the risk, but is no reason to worry.
        unexplained["silence_within_rhythm"] = silence
    if (
        snap.gap_count >= p.declining_min_gaps
        and snap.recent_interval_days is not None
        and snap.usual_interval_days is not None
    ):
        slowdown = math.log(snap.recent_interval_days / snap.usual_interval_days)
        if slowdown > p.declining_threshold:
            candidates.append(
                (
                    ReasonCode.DECLINING_FREQUENCY,
                    min(p.declining_cap, p.declining_slope * (slowdown - p.declining_threshold)),
                    {
                        "recent_interval_days": max(1, round(snap.recent_interval_days)),
                        "usual_interval_days": max(1, round(snap.usual_interval_days)),
                    },
                )
            )
    features.update(
        rhythm_risk=round(risk_s, 6),
        dropout=round(dropout, 6),
        p_alive=round(p_alive(model, silent_days=snap.days_silent, dropout=dropout), 6),
    )
    return intercept, candidates, unexplained, features


def _service_terms(snap: Snapshot, params: ChurnParams) -> list[Candidate]:
    p = params
    candidates: list[Candidate] = []
    weights = p.open_complaint_weight
    critical_weight = snap.open_critical * weights[SEVERITY_RANK[Severity.CRITICAL]]
    other_weight = (
        snap.open_low * weights[0] + snap.open_medium * weights[1] + snap.open_high * weights[2]
    )
    total = critical_weight + other_weight
    scale = min(1.0, p.open_complaint_cap / total) if total > 0 else 1.0
    if snap.open_critical:
        candidates.append(
            (
                ReasonCode.OPEN_CRITICAL_COMPLAINT,
                critical_weight * scale,
                {
                    "count": snap.open_critical,
                    "oldest_open_days": round(snap.oldest_critical_open_days or 0.0),
                },
            )
        )
    others = snap.open_low + snap.open_medium + snap.open_high
    if others:
        worst = (
            Severity.HIGH
            if snap.open_high
            else Severity.MEDIUM
            if snap.open_medium
            else Severity.LOW
        )
        candidates.append(
            (
                ReasonCode.OPEN_COMPLAINTS,
                other_weight * scale,
                {"count": others, "worst_severity": worst.value},
            )
        )
    if snap.escalated_open:
        candidates.append(
            (
                ReasonCode.COMPLAINT_ESCALATED,
                min(p.escalation_cap, p.escalation_per_level * snap.max_open_level),
                {"count": snap.escalated_open, "max_level": snap.max_open_level},
            )
        )
    if snap.sla_breaches and snap.days_since_breach is not None:
        candidates.append(
            (
                ReasonCode.SLA_BREACHED,
                min(p.sla_cap, p.sla_weight * math.log2(1.0 + snap.sla_recent)),
                {"breaches": snap.sla_breaches, "days_since_last": round(snap.days_since_breach)},
            )
        )
    if snap.csat_avg is not None and snap.csat_avg < p.csat_pivot:
        # Old surveys count less: the effect scales with the decayed number of answers (≤ 1).
        evidence = min(1.0, snap.csat_evidence)
        candidates.append(
            (
                ReasonCode.LOW_CSAT,
                p.csat_slope * (p.csat_pivot - snap.csat_avg) * evidence,
                {"csat_avg": round(snap.csat_avg, 1), "last_csat": snap.last_csat or 0},
            )
        )
    if snap.days_since_contact is not None and snap.days_since_contact > p.contact_gap_days:
        candidates.append(
            (
                ReasonCode.CONTACT_GAP,
                min(
                    p.contact_gap_cap,
                    p.contact_gap_base
                    + p.contact_gap_slope * math.log2(snap.days_since_contact / p.contact_gap_days),
                ),
                {
                    "days_since_contact": round(snap.days_since_contact),
                    "target_days": round(p.contact_gap_days),
                },
            )
        )
    usual = snap.contacts_per_month_usual
    recent = snap.contacts_per_month_recent
    if usual >= p.engagement_min_per_month and recent < p.engagement_ratio * usual:
        candidates.append(
            (
                ReasonCode.FALLING_ENGAGEMENT,
                p.engagement_weight * (1.0 - recent / (p.engagement_ratio * usual)),
                {"recent_per_month": round(recent, 1), "usual_per_month": round(usual, 1)},
            )
        )
    if snap.sentiment_avg is not None and snap.sentiment_avg < p.sentiment_threshold:
        evidence = min(1.0, snap.sentiment_evidence / p.sentiment_full_evidence)
        depth = (p.sentiment_threshold - snap.sentiment_avg) / (1.0 + p.sentiment_threshold)
        candidates.append(
            (
                ReasonCode.NEGATIVE_SENTIMENT,
                p.sentiment_weight * depth * evidence,
                {"sentiment_avg": round(snap.sentiment_avg, 2)},
            )
        )
    return candidates


def _protective_terms(snap: Snapshot, params: ChurnParams) -> dict[str, float]:
    """Factors that lower the risk (≤ 0 each); published as features, never as reasons."""
    p = params
    terms: dict[str, float] = {}
    if snap.tenure_days is not None:
        years = snap.tenure_days / _DAYS_PER_YEAR
        terms["tenure"] = -min(p.tenure_cap, p.tenure_weight * math.log2(1.0 + years))
    if snap.relationship_stage is not None:
        terms["relationship_stage"] = -p.stage_bonus[STAGE_RANK[snap.relationship_stage]]
    if snap.key_account:
        terms["key_account"] = -p.key_account_bonus
    if snap.csat_avg is not None and snap.csat_avg >= p.csat_high:
        terms["high_csat"] = -p.csat_high_bonus * min(1.0, snap.csat_evidence)
    return terms


def assess_churn(
    state: FeatureState,
    snap: Snapshot,
    *,
    params: ChurnParams,
    population: PopulationParameters,
    config: FeatureConfig,
    explain: bool = True,
) -> tuple[ChurnRisk, dict[str, Scalar]]:
    """The churn risk of the customer whose state is `state`, valued as in `snap`, and the
    model quantities behind it (flat features: horizon, rhythm risk, every log-odds term).

    Without `explain`, only the risk and band (no reasons, no term features): what a probe
    of a future moment needs, at a fraction of the cost."""
    intercept, candidates, unexplained, features = _rhythm_terms(
        state, snap, params, population, config
    )
    candidates.extend(_service_terms(snap, params))
    unexplained.update(_protective_terms(snap, params))
    total = intercept + math.fsum(c for _, c, _ in candidates) + math.fsum(unexplained.values())
    risk = round(sigmoid(total), 4)
    if not explain:
        horizon = round(float(features["horizon_days"]))
        return ChurnRisk(risk, churn_band(risk, params), horizon, ()), features
    features["churn_intercept"] = round(intercept, 4)
    for code, contribution, _ in candidates:
        features[f"churn_term_{code.value}"] = round(contribution, 4)
    for name, contribution in unexplained.items():
        features[f"churn_term_{name}"] = round(contribution, 4)
    return (
        ChurnRisk(
            risk=risk,
            band=churn_band(risk, params),
            horizon_days=round(float(features["horizon_days"])),
            reasons=rank_reasons(
                candidates, top=params.top_reasons, min_contribution=params.min_reason_contribution
            ),
        ),
        features,
    )
