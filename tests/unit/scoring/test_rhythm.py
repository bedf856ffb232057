"""The purchase-rhythm maths: normal tail, gap model, shrinkage, drop-out, horizon."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from services.scoring.domain.rhythm import (
    GapModel,
    dropout_probability,
    effective_horizon_days,
    fit_gap_model,
    log_normal_sf,
    logit,
    no_order_probability,
    p_alive,
    sigmoid,
)

PRIOR = {
    "prior_log_mean": math.log(30.0),
    "prior_log_sd": 0.8,
    "prior_mean_sd": 1.0,
    "alpha": 0.15,
    "variance_prior_strength": 2.0,
    "min_log_sd": 0.25,
}


@pytest.mark.parametrize("z", [-6.0, -1.0, 0.0, 0.5, 2.0, 3.0])
def test_log_normal_sf_matches_the_normal_cdf(z: float) -> None:
    assert math.isclose(log_normal_sf(z), math.log(1.0 - NormalDist().cdf(z)), rel_tol=1e-9)


@pytest.mark.parametrize(
    ("z", "tail"),
    # Published upper-tail probabilities (NormalDist.cdf itself cancels out here).
    [(5.0, 2.866515718791939e-07), (8.0, 6.220960574271784e-16), (10.0, 7.619853024160527e-24)],
)
def test_log_normal_sf_is_accurate_in_the_upper_tail(z: float, tail: float) -> None:
    assert math.isclose(log_normal_sf(z), math.log(tail), rel_tol=1e-9)


def test_log_normal_sf_is_continuous_and_finite_deep_in_the_tail() -> None:
    below, above = log_normal_sf(29.999), log_normal_sf(30.001)
    assert math.isclose(below, above, rel_tol=1e-3)
    assert math.isfinite(log_normal_sf(200.0))
    assert log_normal_sf(200.0) < log_normal_sf(100.0) < log_normal_sf(40.0)


def test_logit_and_sigmoid_are_inverse_and_clipped() -> None:
    for p in (0.01, 0.3, 0.5, 0.9):
        assert math.isclose(sigmoid(logit(p)), p, rel_tol=1e-12)
    assert logit(0.0) == logit(1e-4)
    assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0


def test_gap_model_quantiles_and_survival() -> None:
    model = GapModel(log_mean=math.log(30.0), log_sd=0.5)
    assert math.isclose(model.median_days, 30.0)
    assert math.isclose(model.quantile_days(0.5), 30.0)
    assert math.isclose(math.exp(model.log_survival(30.0)), 0.5)
    assert model.log_survival(0.0) == 0.0
    assert math.isclose(math.exp(model.log_survival(model.quantile_days(0.9))), 0.1, rel_tol=1e-9)


def test_a_customer_without_gaps_gets_the_prior() -> None:
    model = fit_gap_model(gap_count=0, gap_log_mean=0.0, gap_log_var=0.0, **PRIOR)
    assert math.isclose(model.log_mean, math.log(30.0))
    # Predictive spread = within-customer spread and the spread of customers' means.
    assert math.isclose(model.log_sd, math.sqrt(0.8**2 + 1.0**2))


def test_a_regular_customer_is_believed_after_few_orders() -> None:
    regular = fit_gap_model(gap_count=5, gap_log_mean=math.log(180.0), gap_log_var=0.0, **PRIOR)
    erratic = fit_gap_model(gap_count=5, gap_log_mean=math.log(180.0), gap_log_var=1.5, **PRIOR)
    assert 150 < regular.median_days < 180
    assert erratic.median_days < regular.median_days  # pulled further towards 30 days
    assert erratic.log_sd > regular.log_sd


def test_evidence_is_capped_at_the_ewma_memory() -> None:
    capped = fit_gap_model(gap_count=13, gap_log_mean=math.log(3.0), gap_log_var=0.1, **PRIOR)
    many = fit_gap_model(gap_count=500, gap_log_mean=math.log(3.0), gap_log_var=0.1, **PRIOR)
    assert capped == many


def test_dropout_falls_with_repeat_orders_and_has_a_floor() -> None:
    values = [dropout_probability(n, a=1.0, b=3.0, floor=0.02) for n in (1, 2, 5, 20, 500)]
    assert values[0] == 0.25
    assert values == sorted(values, reverse=True)
    assert values[-1] == 0.02


def test_the_horizon_stretches_to_a_long_cycle_only() -> None:
    monthly = GapModel(math.log(30.0), 0.4)
    half_yearly = GapModel(math.log(180.0), 0.4)
    kwargs = {"horizon_days": 90.0, "cycle_quantile": 0.9, "max_days": 730.0}
    assert effective_horizon_days(monthly, **kwargs) == 90.0
    assert effective_horizon_days(half_yearly, **kwargs) == pytest.approx(
        half_yearly.quantile_days(0.9)
    )
    assert effective_horizon_days(GapModel(math.log(2000.0), 0.4), **kwargs) == 730.0


def test_no_order_probability_is_the_dropout_mixture_survival_ratio() -> None:
    model = GapModel(math.log(30.0), 0.5)
    d = 0.1
    s, h = 40.0, 90.0
    survival = [math.exp(model.log_survival(x)) for x in (s, s + h)]
    expected = ((1 - d) * survival[1] + d) / ((1 - d) * survival[0] + d)
    assert math.isclose(
        no_order_probability(model, silent_days=s, horizon_days=h, dropout=d), expected
    )
    # Long silence: only the drop-out explains it, so no order is almost certain.
    assert no_order_probability(model, silent_days=600, horizon_days=h, dropout=d) > 0.999
    assert p_alive(model, silent_days=600, dropout=d) < 1e-3
    assert p_alive(model, silent_days=0, dropout=d) == pytest.approx(0.9)
