"""Fitting the population parameters (value-tier thresholds and rhythm priors)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.domain.events import OrderPlaced
from services.scoring.domain.features import fold_all
from services.scoring.domain.population import (
    DEFAULT_POPULATION,
    PopulationSample,
    fit_population,
    population_sample,
    quantile,
)
from services.scoring.domain.segments import value_tier
from services.scoring.domain.vocabulary import ValueTier

FITTED_AT = datetime(2025, 1, 1, tzinfo=UTC)


def test_quantile_interpolates_linearly() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.8) == pytest.approx(80.2)
    assert quantile(values, 0.5) == pytest.approx(50.5)
    assert quantile([7.0], 0.3) == 7.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_value_thresholds_split_buyers_20_30_50_and_ignore_prospects() -> None:
    samples = [PopulationSample(value=float(v), frequency=float(v % 7 + 1)) for v in range(1, 101)]
    samples += [PopulationSample(value=0.0, frequency=0.0)] * 300  # prospects
    fitted = fit_population(samples, version="2025-01", fitted_at=FITTED_AT)
    assert (fitted.customers, fitted.buyers) == (400, 100)
    assert fitted.value_a_min == pytest.approx(80.2)
    assert fitted.value_b_min == pytest.approx(50.5)
    tiers = [value_tier(float(v), fitted) for v in range(1, 101)]
    assert tiers.count(ValueTier.A) == 20
    assert tiers.count(ValueTier.B) == 30
    assert tiers.count(ValueTier.C) == 50
    assert value_tier(0.0, fitted) is ValueTier.C
    expected_share = sum(range(81, 101)) / sum(range(1, 101))
    assert fitted.value_share_a == pytest.approx(expected_share)
    assert fitted.version == "2025-01" and fitted.fitted_at == FITTED_AT


def test_rhythm_prior_is_fitted_from_customers_with_gaps() -> None:
    rng = random.Random(3)
    samples = []
    for _ in range(400):
        own_mean = rng.gauss(math.log(45.0), 0.7)
        samples.append(
            PopulationSample(
                value=1000.0, frequency=5.0, gap_count=12, gap_log_mean=own_mean, gap_log_var=0.25
            )
        )
    fitted = fit_population(samples, version="v", fitted_at=FITTED_AT)
    assert math.exp(fitted.gap_log_mean) == pytest.approx(45.0, rel=0.1)
    assert fitted.gap_log_sd == pytest.approx(0.5)
    # The spread of customers' means, less their estimation noise.
    assert fitted.gap_log_mean_sd == pytest.approx(0.7, rel=0.15)


def test_too_few_customers_with_gaps_keep_the_default_prior() -> None:
    samples = [PopulationSample(value=10.0, frequency=1.0, gap_count=3, gap_log_mean=1.0)] * 5
    fitted = fit_population(samples, version="v", fitted_at=FITTED_AT)
    assert fitted.gap_log_mean == DEFAULT_POPULATION.gap_log_mean
    assert fitted.gap_log_sd == DEFAULT_POPULATION.gap_log_sd
    assert fitted.gap_log_mean_sd == DEFAULT_POPULATION.gap_log_mean_sd


def test_fitting_needs_at_least_one_buyer_and_ordered_quantiles() -> None:
    with pytest.raises(ValueError, match="no customer"):
        fit_population([PopulationSample(0.0, 0.0)], version="v", fitted_at=FITTED_AT)
    with pytest.raises(ValueError):
        fit_population(
            [PopulationSample(1.0, 1.0)], version="v", fitted_at=FITTED_AT, quantile_a=0.4
        )


def test_samples_come_from_states_decayed_to_the_fit_time() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    state = fold_all([OrderPlaced("o1", start, 1000.0), OrderPlaced("o2", start, 1000.0)])
    sample = population_sample(state, as_of=start + timedelta(days=365))
    assert sample.value == pytest.approx(1000.0)  # one half-life later
    assert sample.frequency == pytest.approx(1.0)
    assert sample.gap_count == 0
