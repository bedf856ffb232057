"""Replay a purchase history through the real scoring domain up to a cutoff, and label what
each customer did in the horizon after it.

Scores come from the very functions the Faust worker calls (`fold` with the worker's feature
config, then `score`; see services/scoring/processing.py): nothing of the model is restated
here, so the evaluation measures the code that runs, not a copy of it. Only the inputs
differ: a history file knows orders, not contacts, complaints or profiles, so the service terms
of churn risk see a customer with no service history (which the worker would see for a
customer known only from orders, too).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.scoring.domain import (
    DEFAULT_PARAMS,
    FeatureState,
    OrderPlaced,
    PopulationParameters,
    ScoringParams,
    fit_population,
    fold_all,
    population_sample,
    score,
)
from services.scoring.evaluation.history import Purchase
from services.scoring.evaluation.metrics import (
    CalibrationBin,
    brier_score,
    calibration_table,
    roc_auc,
)

__all__ = [
    "CustomerOutcome",
    "Evaluation",
    "ScorerResult",
    "baseline_probability",
    "evaluate",
    "fit_population_at",
    "outcomes_at_cutoff",
    "replay_to_cutoff",
    "scoring_params",
]


def scoring_params(
    horizon_days: float,
    *,
    base: ScoringParams = DEFAULT_PARAMS,
    population: PopulationParameters | None = None,
) -> ScoringParams:
    """The worker's parameters with the churn horizon H set to the evaluation's horizon (H is
    a setting of the model, so the risk asks the question the labels answer), and optionally
    a fitted population in place of the worker's."""
    churn = replace(
        base.churn,
        horizon_days=horizon_days,
        max_horizon_days=max(base.churn.max_horizon_days, horizon_days),
    )
    return replace(base, churn=churn, population=population or base.population)


def replay_to_cutoff(
    purchases: Iterable[Purchase], *, cutoff: datetime, params: ScoringParams = DEFAULT_PARAMS
) -> dict[str, FeatureState]:
    """Each customer's feature state after folding their orders placed before `cutoff`.

    Orders are folded in time order per customer, as one topic partition would deliver them
    (a file need not be sorted; equal times keep file order). Customers with no order before the
    cutoff are left out: there is nothing to score them on.
    """
    by_customer: dict[str, list[Purchase]] = defaultdict(list)
    for p in purchases:
        if p.at < cutoff:
            by_customer[p.customer_id].append(p)
    states: dict[str, FeatureState] = {}
    for customer_id, orders in by_customer.items():
        orders.sort(key=lambda p: p.at)
        events = [
            OrderPlaced(order_id=f"{customer_id}#{n}", at=p.at, amount=p.amount)
            for n, p in enumerate(orders)
        ]
        states[customer_id] = fold_all(events, config=params.features)
    return states


def fit_population_at(
    states: Mapping[str, FeatureState], *, cutoff: datetime, params: ScoringParams
) -> PopulationParameters:
    """The population fit over the replayed states as of the cutoff (the batch fit the model
    expects to be run over stored history), versioned by the cutoff."""
    samples = [
        population_sample(state, as_of=cutoff, config=params.features) for state in states.values()
    ]
    return fit_population(samples, version=f"eval-{cutoff.date().isoformat()}", fitted_at=cutoff)


@dataclass(frozen=True, slots=True)
class CustomerOutcome:
    """One customer at the cutoff: the scorer's view, the baseline's and what happened."""

    customer_id: str
    orders_before_cutoff: int
    days_since_last_order: float
    churn_risk: float
    churn_band: str
    scorer_horizon_days: int
    churned: bool
    """No order in [cutoff, cutoff + H): the event `churn.risk` estimates the probability of."""


def outcomes_at_cutoff(
    purchases: Sequence[Purchase],
    *,
    cutoff: datetime,
    horizon_days: float,
    params: ScoringParams,
    states: Mapping[str, FeatureState] | None = None,
) -> list[CustomerOutcome]:
    """Score every customer with an order before `cutoff` as of the cutoff and label whether
    they placed no order in the `horizon_days` after it; sorted by customer id."""
    if states is None:
        states = replay_to_cutoff(purchases, cutoff=cutoff, params=params)
    window_end = cutoff + timedelta(days=horizon_days)
    ordered_again = {p.customer_id for p in purchases if cutoff <= p.at < window_end}
    outcomes: list[CustomerOutcome] = []
    for customer_id in sorted(states):
        state = states[customer_id]
        s = score(state, as_of=cutoff, params=params)
        assert state.last_order_at is not None  # every replayed customer has an order
        outcomes.append(
            CustomerOutcome(
                customer_id=customer_id,
                orders_before_cutoff=state.orders,
                days_since_last_order=(cutoff.timestamp() - state.last_order_at) / 86_400.0,
                churn_risk=s.churn.risk,
                churn_band=s.churn.band.value,
                scorer_horizon_days=s.churn.horizon_days,
                churned=customer_id not in ordered_again,
            )
        )
    return outcomes


def baseline_probability(days_since_last_order: float, horizon_days: float) -> float:
    """The baseline's silence read as a probability for the Brier score: min(1, days / H).

    A naive, unfitted reading (a customer silent for the whole horizon counts as surely gone),
    so the baseline's Brier score is that of the rule of thumb as account managers use it,
    not of a model calibrated on the outcomes. AUC does not depend on this choice.
    """
    return min(1.0, max(0.0, days_since_last_order) / horizon_days)


@dataclass(frozen=True, slots=True)
class ScorerResult:
    name: str
    auc: float | None
    brier: float
    calibration: tuple[CalibrationBin, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    cutoff: datetime
    horizon_days: float
    model_version: str
    history_rows: int
    history_ends_at: datetime | None
    customers: int
    churned: int
    churn_risk: ScorerResult
    baseline: ScorerResult
    outcomes: tuple[CustomerOutcome, ...]

    @property
    def window_covered(self) -> bool:
        """Whether the history reaches the end of the outcome window. When it does not, a
        customer who would order after the file ends counts as churned."""
        return self.history_ends_at is not None and self.history_ends_at >= self.cutoff + (
            timedelta(days=self.horizon_days) - timedelta(days=1)
        )


def _result(
    name: str, ranking: Sequence[float], probabilities: Sequence[float], churned: Sequence[bool]
) -> ScorerResult:
    try:
        auc: float | None = roc_auc(ranking, churned)
    except ValueError:
        auc = None  # one class only: nothing to discriminate
    return ScorerResult(
        name=name,
        auc=auc,
        brier=brier_score(probabilities, churned),
        calibration=tuple(calibration_table(probabilities, churned)),
    )


def evaluate(
    purchases: Sequence[Purchase],
    *,
    cutoff: datetime,
    horizon_days: float = 90.0,
    fit_population: bool = False,
    base: ScoringParams = DEFAULT_PARAMS,
) -> Evaluation:
    """Replay `purchases` up to `cutoff` through the scorer and compare `churn.risk` and the
    days-since-last-order baseline with the outcomes over the next `horizon_days`.

    With `fit_population`, the population prior and value thresholds are first fitted on the
    replayed states as of the cutoff (no look-ahead); otherwise the worker's parameters are
    used as they are.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    if not math.isfinite(horizon_days) or horizon_days <= 0:
        raise ValueError("horizon_days must be > 0")
    params = scoring_params(horizon_days, base=base)
    states = replay_to_cutoff(purchases, cutoff=cutoff, params=params)
    if not states:
        raise ValueError(f"no customer has an order before the cutoff {cutoff.isoformat()}")
    if fit_population:
        population = fit_population_at(states, cutoff=cutoff, params=params)
        params = scoring_params(horizon_days, base=base, population=population)
    outcomes = outcomes_at_cutoff(
        purchases, cutoff=cutoff, horizon_days=horizon_days, params=params, states=states
    )
    churned = [o.churned for o in outcomes]
    risks = [o.churn_risk for o in outcomes]
    silences = [o.days_since_last_order for o in outcomes]
    return Evaluation(
        cutoff=cutoff,
        horizon_days=horizon_days,
        model_version=params.model_version,
        history_rows=len(purchases),
        history_ends_at=max((p.at for p in purchases), default=None),
        customers=len(outcomes),
        churned=sum(churned),
        churn_risk=_result("churn.risk", risks, risks, churned),
        baseline=_result(
            "days since last order",
            silences,
            [baseline_probability(d, horizon_days) for d in silences],
            churned,
        ),
        outcomes=tuple(outcomes),
    )
