"""A customer's purchase rhythm: a log-normal model of the gap between purchase occasions.

The customer's own EWMA of log gaps is shrunk towards the population prior (few orders → mostly
prior), and combined with a per-order drop-out probability (after each order the customer may
have left for good, as in BG/NBD). That mixture is what makes long silence alarming: under a
pure renewal model a customer silent for 10× their usual gap would be "certain to order soon".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "GapModel",
    "dropout_probability",
    "effective_horizon_days",
    "fit_gap_model",
    "log_normal_sf",
    "logit",
    "no_order_probability",
    "p_alive",
    "sigmoid",
]

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_STANDARD_NORMAL = NormalDist()


def log_normal_sf(z: float) -> float:
    """log P(Z > z) for a standard normal Z, accurate far into the upper tail.

    erfc underflows near z ≈ 38; beyond z = 30 the asymptotic (Mills ratio) series is used.
    """
    if z < 30.0:
        return math.log(0.5 * math.erfc(z / _SQRT2))
    z2 = z * z
    series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2)
    return -0.5 * z2 - math.log(z) - _LOG_SQRT_2PI + math.log(series)


def logit(p: float, clip: float = 1e-4) -> float:
    """log(p / (1 − p)) with p clipped into [clip, 1 − clip]."""
    p = min(max(p, clip), 1.0 - clip)
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    """The inverse of `logit`, stable for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    ex = math.exp(x)
    return ex / (1.0 + ex)


@dataclass(frozen=True, slots=True)
class GapModel:
    """Log-normal distribution of the gap (days) until the next purchase occasion."""

    log_mean: float
    log_sd: float

    @property
    def median_days(self) -> float:
        return math.exp(self.log_mean)

    def quantile_days(self, q: float) -> float:
        """The gap that a share `q` of gaps stays under."""
        return math.exp(self.log_mean + _STANDARD_NORMAL.inv_cdf(q) * self.log_sd)

    def log_survival(self, days: float) -> float:
        """log P(gap > days); 0 for days ≤ 0."""
        if days <= 0:
            return 0.0
        return log_normal_sf((math.log(days) - self.log_mean) / self.log_sd)


def fit_gap_model(
    *,
    gap_count: int,
    gap_log_mean: float,
    gap_log_var: float,
    prior_log_mean: float,
    prior_log_sd: float,
    prior_mean_sd: float,
    alpha: float,
    variance_prior_strength: float,
    min_log_sd: float,
) -> GapModel:
    """The customer's gap model: own EWMA estimates shrunk towards the population prior.

    Spread first: the customer's EWMA variance is pooled with the population's within-customer
    variance `prior_log_sd`² weighing `variance_prior_strength` observations. Then the mean, by
    the normal–normal rule: the customer's mean has precision n/σ², the prior mean 1/τ² (τ =
    `prior_mean_sd`, the spread of customers' means), so a very regular customer needs few
    orders to be believed and an erratic one many. An EWMA with weight α never holds more than
    (2 − α)/α observations' worth of evidence, which caps n. The returned spread is the
    posterior-predictive one (gap spread plus the uncertainty of the mean).
    """
    cap = (2.0 - alpha) / alpha
    n_mean = min(float(gap_count), cap)
    n_var = max(0.0, min(float(gap_count - 1), cap - 1.0))
    k = variance_prior_strength
    var = (n_var * gap_log_var + k * prior_log_sd**2) / (n_var + k)
    var = max(var, min_log_sd**2)
    data_precision = n_mean / var
    prior_precision = 1.0 / prior_mean_sd**2
    precision = data_precision + prior_precision
    mean = (data_precision * gap_log_mean + prior_precision * prior_log_mean) / precision
    return GapModel(log_mean=mean, log_sd=math.sqrt(var + 1.0 / precision))


def dropout_probability(orders: int, *, a: float, b: float, floor: float) -> float:
    """Probability that the customer left for good after their latest order.

    Posterior mean of a Beta(a, b) drop-out rate after `orders` orders, a / (a + b + orders − 1):
    high after a first order (one-time buyers are common), falling as orders repeat.
    """
    return max(floor, a / (a + b + max(orders, 1) - 1))


def effective_horizon_days(
    model: GapModel, *, horizon_days: float, cycle_quantile: float, max_days: float
) -> float:
    """The horizon actually used: H, stretched to the customer's own cycle when that is longer.

    Without the stretch, "no order within 90 days" would be the normal, healthy outcome for a
    customer who orders twice a year, and every such customer would look critical.
    """
    return min(max_days, max(horizon_days, model.quantile_days(cycle_quantile)))


def no_order_probability(
    model: GapModel, *, silent_days: float, horizon_days: float, dropout: float
) -> float:
    """P(no order in (s, s + H] | no order in (0, s]) with s = `silent_days`, H = `horizon_days`.

    With survival S of the gap and drop-out d: ((1 − d)·S(s + H) + d) / ((1 − d)·S(s) + d).
    """
    keep = 1.0 - dropout
    now = math.exp(model.log_survival(silent_days))
    later = math.exp(model.log_survival(silent_days + horizon_days))
    return (keep * later + dropout) / (keep * now + dropout)


def p_alive(model: GapModel, *, silent_days: float, dropout: float) -> float:
    """P(the customer is still active | silent for `silent_days`)."""
    kept = (1.0 - dropout) * math.exp(model.log_survival(silent_days))
    return kept / (kept + dropout)
