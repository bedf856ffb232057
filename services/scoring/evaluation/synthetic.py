"""Synthetic purchase histories to develop the churn evaluation against.

Built to resemble a B2B customer base (packaging buyers ordering cans and tinplate), with the
properties that make churn hard to call from silence alone:

- heterogeneous rhythms: weekly, monthly and quarterly buyers, each with their own usual gap
  and regularity, and irregular buyers whose gaps spread over an order of magnitude, so "30
  days silent" means a lost weekly buyer but a quarterly buyer right on schedule;
- customers who really leave: each has a calendar-time hazard of leaving (heterogeneous, about
  one in five a year on average), and trial buyers leave after one to three orders;
- many leavers slow down first (gaps stretching up to threefold over their last cycles) rather
  than stopping dead, and some loyal customers slow down for good without leaving, which is
  exactly the false alarm a scorer should not over-react to;
- customers acquired throughout the history and before it (their early orders fall before the
  file starts, as in any export), with order values spread over two orders of magnitude.

The outcome is not stored: the evaluation derives it from the orders themselves (no order in
the H days after the cutoff), exactly as it must for a real history. `SyntheticCustomer` keeps
the generating truth for diagnosis only. Deterministic: the same arguments and seed give the
same history, row for row (one `random.Random(seed)`, customers drawn in order).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.scoring.evaluation.history import Purchase

__all__ = ["Rhythm", "SyntheticCustomer", "SyntheticHistory", "generate_history"]

_DAY = timedelta(days=1)


class Rhythm(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    IRREGULAR = "irregular"


# Share of the customer base, usual gap (days) and spread of log gaps (min, max) per rhythm.
# Irregular buyers draw their usual gap log-uniformly from the given range instead.
_RHYTHMS: dict[Rhythm, tuple[float, tuple[float, float], tuple[float, float]]] = {
    Rhythm.WEEKLY: (0.15, (7.0, 7.0), (0.2, 0.45)),
    Rhythm.MONTHLY: (0.35, (30.0, 30.0), (0.2, 0.45)),
    Rhythm.QUARTERLY: (0.20, (91.0, 91.0), (0.15, 0.35)),
    Rhythm.IRREGULAR: (0.30, (10.0, 150.0), (0.7, 1.1)),
}
_TRIAL_SHARE = 0.12  # buyers who try us for one to three orders and go
_EXISTING_SHARE = 0.5  # customers acquired before the file starts
_LEAVE_RATE_SHAPE = 1.5  # gamma-distributed yearly hazard of leaving, mean 1.5 × 0.15 = 0.225
_LEAVE_RATE_SCALE = 0.15
_SLOW_BEFORE_LEAVING = 0.5  # share of leavers who slow down before the last order
_SLOWDOWN_FACTOR = 3.0  # gaps stretch up to this factor over the decline
_LASTING_SLOWDOWN_SHARE = 0.10  # loyal customers whose rhythm slows for good
_MAX_ATTEMPTS = 1000


@dataclass(frozen=True, slots=True)
class SyntheticCustomer:
    """How one synthetic customer was generated (the truth behind their orders)."""

    customer_id: str
    rhythm: Rhythm
    usual_gap_days: float
    gap_log_sd: float
    typical_order_value: float
    acquired_at: datetime
    leaves_at: datetime | None
    declines_from: datetime | None
    slows_for_good_at: datetime | None


@dataclass(frozen=True, slots=True)
class SyntheticHistory:
    customers: tuple[SyntheticCustomer, ...]
    purchases: tuple[Purchase, ...]


def _pick_rhythm(rng: random.Random) -> Rhythm:
    kinds = list(_RHYTHMS)
    return rng.choices(kinds, weights=[_RHYTHMS[k][0] for k in kinds])[0]


def _draw_customer(
    rng: random.Random, customer_id: str, *, start: datetime, cutoff: datetime, end: datetime
) -> SyntheticCustomer:
    rhythm = _pick_rhythm(rng)
    _, (low, high), (sd_low, sd_high) = _RHYTHMS[rhythm]
    if rhythm is Rhythm.IRREGULAR:
        usual = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        usual = low * math.exp(rng.gauss(0.0, 0.2))
    gap_log_sd = rng.uniform(sd_low, sd_high)
    # Larger, rarer orders for slow buyers: spend per year grows less than order frequency.
    value = math.exp(rng.gauss(math.log(20_000.0), 1.0)) * math.sqrt(usual / 30.0)

    history_days = (cutoff - start) / _DAY
    if rng.random() < _EXISTING_SHARE:
        acquired = start - rng.uniform(0.0, 730.0) * _DAY
    else:
        acquired = start + rng.uniform(0.0, max(history_days - 14.0, 1.0)) * _DAY

    leave_rate = rng.gammavariate(_LEAVE_RATE_SHAPE, _LEAVE_RATE_SCALE)  # per year
    life_years = rng.expovariate(leave_rate) if leave_rate > 0 else math.inf
    leaves: datetime | None = None
    if life_years * 365.25 < (end - acquired) / _DAY:
        leaves = acquired + life_years * 365.25 * _DAY
    declines: datetime | None = None
    if leaves is not None and rng.random() < _SLOW_BEFORE_LEAVING:
        decline_days = min(365.0, rng.uniform(2.0, 6.0) * usual)
        declines = leaves - decline_days * _DAY
    slows: datetime | None = None
    if leaves is None and rng.random() < _LASTING_SLOWDOWN_SHARE:
        slows = acquired + rng.uniform(0.0, 1.0) * (end - acquired)
    return SyntheticCustomer(
        customer_id=customer_id,
        rhythm=rhythm,
        usual_gap_days=usual,
        gap_log_sd=gap_log_sd,
        typical_order_value=value,
        acquired_at=acquired,
        leaves_at=leaves,
        declines_from=declines,
        slows_for_good_at=slows,
    )


def _gap_factor(c: SyntheticCustomer, at: datetime, lasting_factor: float) -> float:
    """How much longer than usual the next gap is at `at` (decline or lasting slowdown)."""
    factor = 1.0
    if c.declines_from is not None and c.leaves_at is not None and at > c.declines_from:
        span = (c.leaves_at - c.declines_from) / _DAY
        progress = min(1.0, (at - c.declines_from) / _DAY / span) if span > 0 else 1.0
        factor *= 1.0 + (_SLOWDOWN_FACTOR - 1.0) * progress
    if c.slows_for_good_at is not None and at >= c.slows_for_good_at:
        factor *= lasting_factor
    return factor


def _orders(
    rng: random.Random, c: SyntheticCustomer, *, start: datetime, end: datetime
) -> list[Purchase]:
    trial_orders = rng.randint(1, 3) if rng.random() < _TRIAL_SHARE else None
    lasting_factor = rng.uniform(1.5, 2.5)
    purchases: list[Purchase] = []
    at = c.acquired_at
    placed = 0
    while at < end and (c.leaves_at is None or at < c.leaves_at):
        placed += 1
        if at >= start:
            amount = round(c.typical_order_value * math.exp(rng.gauss(0.0, 0.35)), 2)
            purchases.append(
                Purchase(customer_id=c.customer_id, at=at.replace(microsecond=0), amount=amount)
            )
        if trial_orders is not None and placed >= trial_orders:
            break
        gap = math.exp(rng.gauss(math.log(c.usual_gap_days), c.gap_log_sd))
        at += gap * _gap_factor(c, at, lasting_factor) * _DAY
    return purchases


def generate_history(
    customers: int,
    *,
    seed: int,
    cutoff: datetime,
    horizon_days: float = 90.0,
    history_days: float = 730.0,
) -> SyntheticHistory:
    """A history of `customers` customers, each with at least one order in the
    `history_days` before `cutoff`, running on until `cutoff + horizon_days` so that every
    customer's outcome is observed.

    A drawn customer with no order in that window (gone before the file starts, or not ordering
    until after the cutoff) is drawn again: every customer in the file can be scored.
    """
    if customers < 1:
        raise ValueError("customers must be ≥ 1")
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    if horizon_days <= 0 or history_days <= 0:
        raise ValueError("horizon_days and history_days must be > 0")
    rng = random.Random(seed)
    start = cutoff - history_days * _DAY
    end = cutoff + horizon_days * _DAY
    drawn: list[SyntheticCustomer] = []
    purchases: list[Purchase] = []
    for number in range(1, customers + 1):
        customer_id = f"C{number:06d}"
        for _ in range(_MAX_ATTEMPTS):
            customer = _draw_customer(rng, customer_id, start=start, cutoff=cutoff, end=end)
            orders = _orders(rng, customer, start=start, end=end)
            if any(p.at < cutoff for p in orders):
                break
        else:  # pragma: no cover - needs an absurdly short history window
            raise ValueError("could not draw a customer with an order before the cutoff")
        drawn.append(customer)
        purchases.extend(orders)
    return SyntheticHistory(customers=tuple(drawn), purchases=tuple(_by_time(purchases)))


def _by_time(purchases: Sequence[Purchase]) -> list[Purchase]:
    """Time order, as an export of an order log would be (ties by customer, then amount)."""
    return sorted(purchases, key=lambda p: (p.at, p.customer_id, p.amount))
