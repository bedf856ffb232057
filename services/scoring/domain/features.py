"""Per-customer feature state and the pure fold that keeps it up to date, event by event.

The state is a small frozen value with a fixed number of fields (the complaint list is capped),
so folding is O(1) per event and the state O(1) in memory. Times inside the state are POSIX
seconds (float, UTC), which keeps it compact; public functions take aware datetimes.

Replay and ordering (details in docs/scoring.md, "Folding"):
- The state is split into families, each touched only by its own events and each with its own
  reference time: orders (placed/cancelled/returned), interactions, complaints, SLA breaches,
  surveys, profile. Families arrive on different topics, so interleaving them differently (a
  different partition interleaving on replay) gives exactly the same state, bit for bit.
- Every time-decayed sum is kept "as of" its family's latest event time. An event older than
  that reference time is added with its weight decayed back to it (value + amount·2^(−Δ/h))
  instead of moving the reference backwards, so in-family order does not change the value
  either (equal up to floating-point rounding).
- What cannot be made order-free at O(1) is documented where it happens: a late order (older than
  the last order) counts for value, frequency and first-order time but not for the purchase
  rhythm; complaint status is last-writer-wins by event time, and a closed complaint is
  forgotten (so only a closing must not overtake its own opening, which one topic guarantees).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import reduce
from typing import Any

from services.scoring.domain.events import (
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintReopened,
    ComplaintResolved,
    Event,
    Interaction,
    OrderCancelled,
    OrderPlaced,
    OrderReturned,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.eventtime import DAY_SECONDS, to_seconds
from services.scoring.domain.vocabulary import (
    CHANNEL_BIT,
    SEVERITY_RANK,
    Direction,
    RelationshipStage,
    Severity,
)

__all__ = [
    "DEFAULT_FEATURE_CONFIG",
    "FeatureConfig",
    "FeatureState",
    "TrackedComplaint",
    "channels_in_window",
    "churned_after_days",
    "combine",
    "decayed",
    "fold",
    "fold_all",
    "state_from_record",
    "state_to_record",
]


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """How events are folded into features.

    Part of the model: a state is only meaningful with the config that built it, so changing any
    value here means rebuilding states by replaying events (and a new model version).
    """

    monetary_half_life_days: float = 365.0
    frequency_half_life_days: float = 365.0
    contact_fast_half_life_days: float = 30.0
    contact_slow_half_life_days: float = 180.0
    complaint_half_life_days: float = 180.0
    sla_half_life_days: float = 90.0
    csat_half_life_days: float = 365.0
    # EWMA weights of the log inter-purchase gap: the model mean/variance and a fast mean that
    # shows a recent slowdown.
    gap_alpha: float = 0.15
    gap_fast_alpha: float = 0.5
    # Orders closer than this are one purchase occasion (a split order), not a rhythm sample.
    min_gap_days: float = 1.0
    channel_bucket_days: float = 90.0
    max_tracked_complaints: int = 8
    inbound_weight: float = 1.0
    outbound_weight: float = 0.6
    # Complaint load added when a complaint opens, by severity rank (low, medium, high, critical);
    # a reopening adds `reopen_load_factor` times that again.
    severity_load: tuple[float, float, float, float] = (0.5, 1.0, 2.0, 3.0)
    reopen_load_factor: float = 0.5
    # The "churned" rule lives here because `won_back` is decided when the returning order is
    # folded: silent for more than max(multiple × usual interval, min days).
    churned_interval_multiple: float = 3.0
    churned_min_days: float = 90.0

    def __post_init__(self) -> None:
        if not 0 < self.gap_alpha <= 1 or not 0 < self.gap_fast_alpha <= 1:
            raise ValueError("EWMA weights must be within (0, 1]")
        if self.max_tracked_complaints < 1:
            raise ValueError("max_tracked_complaints must be ≥ 1")


DEFAULT_FEATURE_CONFIG = FeatureConfig()

_LN2 = math.log(2.0)

# Complaint status ranks: at equal event times the later stage of the workflow wins.
_OPENED = 0
_REOPENED = 1
_RESOLVED = 2


@dataclass(frozen=True, slots=True)
class TrackedComplaint:
    """One complaint the state remembers (at most `max_tracked_complaints` of them).

    `severity` is None while only later events (e.g. a resolution) have been seen. Status is
    last-writer-wins on (status_at, status_rank), which makes it independent of arrival order.
    """

    complaint_id: str
    severity: Severity | None
    opened_at: float | None
    status_at: float
    status_rank: int
    level: int = 0

    @property
    def is_open(self) -> bool:
        return self.status_rank < _RESOLVED

    @property
    def effective_severity(self) -> Severity:
        """The severity used for scoring; unknown counts as medium."""
        return self.severity or Severity.MEDIUM


@dataclass(frozen=True, slots=True)
class FeatureState:
    """Everything the scorer knows about one customer, in fixed-size form.

    Decayed sums are valued at their family's reference time: `orders_ref_at` for monetary and
    frequency, `last_contact_at` for contacts and sentiment, `complaints_ref_at` for the
    complaint load, `last_breach_at` for SLA breaches, `last_csat_at` for CSAT sums.
    """

    # Orders (topic crm.interaction.v1).
    orders: int = 0
    first_order_at: float | None = None
    last_order_at: float | None = None
    prev_order_at: float | None = None
    last_order_id: str | None = None
    orders_ref_at: float | None = None
    monetary: float = 0.0
    frequency: float = 0.0
    gap_count: int = 0
    gap_log_mean: float = 0.0
    gap_log_var: float = 0.0
    gap_log_fast: float = 0.0
    winback_at: float | None = None
    cancellations: int = 0
    returns: int = 0
    # Interactions (same topic as orders).
    last_contact_at: float | None = None
    contact_fast: float = 0.0
    contact_slow: float = 0.0
    sentiment_sum: float = 0.0
    sentiment_weight: float = 0.0
    channel_bucket: int = 0
    channel_mask: int = 0
    channel_mask_prev: int = 0
    # Complaints, SLA breaches and surveys (topic crm.complaint.v1), each its own family.
    complaints: tuple[TrackedComplaint, ...] = ()
    untracked_open: int = 0
    complaints_ref_at: float | None = None
    complaint_load: float = 0.0
    escalations: int = 0
    sla_breaches: int = 0
    last_breach_at: float | None = None
    sla_load: float = 0.0
    last_csat: int | None = None
    last_csat_at: float | None = None
    csat_sum: float = 0.0
    csat_weight: float = 0.0
    surveys_skipped: int = 0
    # Profile (topic crm.customer.v1).
    key_account: bool = False
    relationship_stage: RelationshipStage | None = None
    created_at: float | None = None
    profile_at: float | None = None

    @property
    def observed_until(self) -> float | None:
        """The latest time of a behavioural event folded into this state (None if none).

        Profile changes do not count: a customer entered into the archive today with a year of
        orders imported after it must still be scored along those orders' own times, not all as
        of today (a score triggered by a profile change is as of that change anyway)."""
        times = [
            t
            for t in (
                self.orders_ref_at,
                self.last_contact_at,
                self.complaints_ref_at,
                self.last_breach_at,
                self.last_csat_at,
                *(c.status_at for c in self.complaints),
            )
            if t is not None
        ]
        return max(times) if times else None

    @property
    def open_complaints(self) -> tuple[TrackedComplaint, ...]:
        return tuple(c for c in self.complaints if c.is_open)


# --------------------------------------------------------------------------------------------
# Decay helpers


def _factor(half_life_days: float, dt_seconds: float) -> float:
    """The share of an amount left after `dt_seconds` of exponential decay."""
    return math.exp(-_LN2 * dt_seconds / (half_life_days * DAY_SECONDS))


def _add(value: float, amount: float, ref: float | None, at: float, half_life_days: float) -> float:
    """Add `amount` happening at `at` to a sum valued at `ref`; the result is valued at
    max(ref, at). An event older than `ref` is decayed back to `ref` instead of moving it."""
    if ref is None:
        return amount
    if at >= ref:
        return value * _factor(half_life_days, at - ref) + amount
    return value + amount * _factor(half_life_days, ref - at)


def _later(ref: float | None, at: float) -> float:
    return at if ref is None else max(ref, at)


def decayed(value: float, ref: float | None, at: float, half_life_days: float) -> float:
    """A decayed sum valued at `ref`, valued at `at` instead (never grown backwards)."""
    if ref is None or at <= ref:
        return value
    return value * _factor(half_life_days, at - ref)


def churned_after_days(state: FeatureState, config: FeatureConfig) -> float:
    """Days of silence after which the customer counts as churned.

    max(multiple × the customer's own usual interval, min days); the usual interval is the
    geometric mean gap exp(EWMA of log gaps). Without a gap yet, just the min days.
    """
    if state.gap_count == 0:
        return config.churned_min_days
    usual = math.exp(state.gap_log_mean)
    return max(config.churned_interval_multiple * usual, config.churned_min_days)


def channels_in_window(state: FeatureState, at: float, config: FeatureConfig) -> int:
    """Distinct channels used in the current and the previous channel bucket as of `at`.

    Buckets are fixed calendar windows (`channel_bucket_days`), so the look-back is between one
    and two bucket lengths.
    """
    bucket = math.floor(at / (config.channel_bucket_days * DAY_SECONDS))
    if state.channel_bucket == bucket:
        return (state.channel_mask | state.channel_mask_prev).bit_count()
    if state.channel_bucket == bucket - 1:
        return state.channel_mask.bit_count()
    return 0


# --------------------------------------------------------------------------------------------
# Orders


def _fold_order_placed(s: FeatureState, e: OrderPlaced, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    ref = s.orders_ref_at
    # One `replace` per event (it dominates the fold's cost): the changes are collected first.
    changes: dict[str, Any] = {
        "orders": s.orders + 1,
        "first_order_at": at if s.first_order_at is None else min(s.first_order_at, at),
        "orders_ref_at": _later(ref, at),
        "monetary": _add(s.monetary, e.amount, ref, at, c.monetary_half_life_days),
        "frequency": _add(s.frequency, 1.0, ref, at, c.frequency_half_life_days),
    }
    last = s.last_order_at
    if last is None:
        return replace(s, last_order_at=at, last_order_id=e.order_id, **changes)
    if at < last:
        # A late order: the gap sequence it belongs to is already folded and a fixed-size
        # state cannot split a past gap, so it does not touch the rhythm; it only becomes the
        # "previous order" if it is more recent than the one remembered.
        prev = s.prev_order_at
        return replace(s, prev_order_at=at if prev is None or at > prev else prev, **changes)
    gap_days = (at - last) / DAY_SECONDS
    if gap_days >= c.min_gap_days:
        x = math.log(gap_days)
        if s.gap_count == 0:
            changes.update(gap_log_mean=x, gap_log_var=0.0, gap_log_fast=x)
        else:
            # Incremental EWMA mean and variance (West 1979 / Finch 2009).
            diff = x - s.gap_log_mean
            step = c.gap_alpha * diff
            changes.update(
                gap_log_mean=s.gap_log_mean + step,
                gap_log_var=(1.0 - c.gap_alpha) * (s.gap_log_var + diff * step),
                gap_log_fast=s.gap_log_fast + c.gap_fast_alpha * (x - s.gap_log_fast),
            )
        changes["gap_count"] = s.gap_count + 1
        if gap_days > churned_after_days(s, c):
            changes["winback_at"] = at
    return replace(s, last_order_at=at, prev_order_at=last, last_order_id=e.order_id, **changes)


def _subtract_order_value(
    s: FeatureState, at: float, placed_at: float, amount: float, count: float, c: FeatureConfig
) -> tuple[float, float, float]:
    """(monetary, frequency, ref) after removing an order's amount and count.

    The sums are first moved to the new reference time, then the order is removed with the weight
    it has there (never below zero: the placing time is only estimated for older orders).
    """
    ref = s.orders_ref_at
    new_ref = _later(ref, at)
    monetary = decayed(s.monetary, ref, new_ref, c.monetary_half_life_days)
    frequency = decayed(s.frequency, ref, new_ref, c.frequency_half_life_days)
    age = max(0.0, new_ref - placed_at)
    monetary = max(0.0, monetary - amount * _factor(c.monetary_half_life_days, age))
    frequency = max(0.0, frequency - count * _factor(c.frequency_half_life_days, age))
    return monetary, frequency, new_ref


def _fold_order_cancelled(s: FeatureState, e: OrderCancelled, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    if s.orders == 0:
        return replace(s, cancellations=s.cancellations + 1)
    is_last = e.order_id == s.last_order_id and s.last_order_at is not None
    # Only the latest order's placing time is known; an older one is assumed placed when it
    # was cancelled (cancellations follow orders closely), capped at the reference time.
    placed_at = s.last_order_at if is_last and s.last_order_at is not None else at
    monetary, frequency, ref = _subtract_order_value(s, at, placed_at, e.amount, 1.0, c)
    orders = s.orders - 1
    if orders == 0:
        # Every order is cancelled: back to a prospect (sums keep whatever rounding left).
        return replace(
            s,
            orders=0,
            first_order_at=None,
            last_order_at=None,
            prev_order_at=None,
            last_order_id=None,
            gap_count=0,
            gap_log_mean=0.0,
            gap_log_var=0.0,
            gap_log_fast=0.0,
            winback_at=None,
            cancellations=s.cancellations + 1,
            orders_ref_at=ref,
            monetary=monetary,
            frequency=frequency,
        )
    changes: dict[str, Any] = {}
    if is_last and s.prev_order_at is not None:
        # Undo recency for the latest order (one level deep; the rhythm sample it added stays
        # and fades with the EWMA).
        changes = {"last_order_at": s.prev_order_at, "prev_order_at": None, "last_order_id": None}
        if s.winback_at == s.last_order_at:
            changes["winback_at"] = None
    return replace(
        s,
        orders=orders,
        cancellations=s.cancellations + 1,
        orders_ref_at=ref,
        monetary=monetary,
        frequency=frequency,
        **changes,
    )


def _fold_order_returned(s: FeatureState, e: OrderReturned, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    if s.orders == 0:
        return replace(s, returns=s.returns + 1)
    monetary, frequency, ref = _subtract_order_value(s, at, at, e.amount, 0.0, c)
    return replace(
        s, returns=s.returns + 1, orders_ref_at=ref, monetary=monetary, frequency=frequency
    )


# --------------------------------------------------------------------------------------------
# Interactions


def _fold_interaction(s: FeatureState, e: Interaction, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    ref = s.last_contact_at
    weight = c.inbound_weight if e.direction is Direction.INBOUND else c.outbound_weight
    sentiment = 0.0 if e.sentiment is None else e.sentiment
    has_sentiment = 0.0 if e.sentiment is None else 1.0
    slow = c.contact_slow_half_life_days
    bucket = math.floor(at / (c.channel_bucket_days * DAY_SECONDS))
    bit = 1 << CHANNEL_BIT[e.channel]
    current, mask, prev = s.channel_bucket, s.channel_mask, s.channel_mask_prev
    if bucket > current:
        prev = mask if bucket == current + 1 else 0
        mask, current = bit, bucket
    elif bucket == current:
        mask |= bit
    elif bucket == current - 1:
        prev |= bit
    # Older buckets are outside any window we report, so such a late event changes no mask.
    return replace(
        s,
        last_contact_at=_later(ref, at),
        contact_fast=_add(s.contact_fast, weight, ref, at, c.contact_fast_half_life_days),
        contact_slow=_add(s.contact_slow, weight, ref, at, slow),
        sentiment_sum=_add(s.sentiment_sum, sentiment, ref, at, slow),
        sentiment_weight=_add(s.sentiment_weight, has_sentiment, ref, at, slow),
        channel_bucket=current,
        channel_mask=mask,
        channel_mask_prev=prev,
    )


# --------------------------------------------------------------------------------------------
# Complaints


def _find(s: FeatureState, complaint_id: str) -> TrackedComplaint | None:
    for complaint in s.complaints:
        if complaint.complaint_id == complaint_id:
            return complaint
    return None


def _with_status(c: TrackedComplaint, at: float, rank: int) -> TrackedComplaint:
    if (at, rank) > (c.status_at, c.status_rank):
        return replace(c, status_at=at, status_rank=rank)
    return c


def _eviction_key(c: TrackedComplaint) -> tuple[int, int, float, str]:
    # Forget closed complaints first (oldest status first), then the least severe, oldest open.
    if not c.is_open:
        return (0, 0, c.status_at, c.complaint_id)
    opened = c.opened_at if c.opened_at is not None else c.status_at
    return (1, SEVERITY_RANK[c.effective_severity], opened, c.complaint_id)


def _store(s: FeatureState, entry: TrackedComplaint, c: FeatureConfig) -> FeatureState:
    """Put `entry` in the tracked list (sorted by id, so the tuple never depends on arrival
    order) and evict beyond the cap; an evicted open complaint is still counted as open."""
    others = [x for x in s.complaints if x.complaint_id != entry.complaint_id]
    entries = sorted([*others, entry], key=lambda x: x.complaint_id)
    untracked = s.untracked_open
    while len(entries) > c.max_tracked_complaints:
        victim = min(entries, key=_eviction_key)
        entries.remove(victim)
        if victim.is_open:
            untracked += 1
    return replace(s, complaints=tuple(entries), untracked_open=untracked)


def _add_load(s: FeatureState, amount: float, at: float, c: FeatureConfig) -> FeatureState:
    ref = s.complaints_ref_at
    return replace(
        s,
        complaints_ref_at=_later(ref, at),
        complaint_load=_add(s.complaint_load, amount, ref, at, c.complaint_half_life_days),
    )


def _fold_complaint_opened(s: FeatureState, e: ComplaintOpened, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    known = _find(s, e.complaint_id)
    if known is None:
        entry = TrackedComplaint(e.complaint_id, e.severity, at, at, _OPENED)
    else:
        opened = at if known.opened_at is None else min(known.opened_at, at)
        entry = _with_status(replace(known, severity=e.severity, opened_at=opened), at, _OPENED)
    loaded = _add_load(s, c.severity_load[SEVERITY_RANK[e.severity]], at, c)
    return _store(loaded, entry, c)


def _fold_complaint_escalated(
    s: FeatureState, e: ComplaintEscalated, c: FeatureConfig
) -> FeatureState:
    at = to_seconds(e.at)
    known = _find(s, e.complaint_id)
    if known is None:
        # Escalation implies the complaint is open; its severity arrives with the opening.
        entry = TrackedComplaint(e.complaint_id, None, None, at, _OPENED, e.level)
    else:
        entry = replace(known, level=max(known.level, e.level))
    return _store(replace(s, escalations=s.escalations + 1), entry, c)


def _fold_complaint_resolved(
    s: FeatureState, e: ComplaintResolved, c: FeatureConfig
) -> FeatureState:
    at = to_seconds(e.at)
    known = _find(s, e.complaint_id)
    if known is not None:
        return _store(s, _with_status(known, at, _RESOLVED), c)
    if s.untracked_open > 0:
        # Most likely one of the open complaints evicted from the list.
        return replace(s, untracked_open=s.untracked_open - 1)
    # Remember it, so that an opening arriving later cannot make it look open.
    return _store(s, TrackedComplaint(e.complaint_id, None, None, at, _RESOLVED), c)


def _fold_complaint_closed(s: FeatureState, e: ComplaintClosed, c: FeatureConfig) -> FeatureState:
    # Closing is final (bar a rare reopening, which then counts as medium severity), so the
    # complaint is forgotten: this keeps most customers' complaint list empty.
    known = _find(s, e.complaint_id)
    if known is not None:
        remaining = tuple(x for x in s.complaints if x is not known)
        return replace(s, complaints=remaining)
    if s.untracked_open > 0:
        return replace(s, untracked_open=s.untracked_open - 1)
    return s


def _fold_complaint_reopened(
    s: FeatureState, e: ComplaintReopened, c: FeatureConfig
) -> FeatureState:
    at = to_seconds(e.at)
    known = _find(s, e.complaint_id)
    if known is None:
        entry = TrackedComplaint(e.complaint_id, None, None, at, _REOPENED)
    else:
        entry = _with_status(known, at, _REOPENED)
    load = c.reopen_load_factor * c.severity_load[SEVERITY_RANK[entry.effective_severity]]
    return _store(_add_load(s, load, at, c), entry, c)


def _fold_sla_breached(s: FeatureState, e: SlaBreached, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    ref = s.last_breach_at
    return replace(
        s,
        sla_breaches=s.sla_breaches + 1,
        last_breach_at=_later(ref, at),
        sla_load=_add(s.sla_load, 1.0, ref, at, c.sla_half_life_days),
    )


def _fold_survey_answered(s: FeatureState, e: SurveyAnswered, c: FeatureConfig) -> FeatureState:
    if e.score is None:
        return replace(s, surveys_skipped=s.surveys_skipped + 1)
    at = to_seconds(e.at)
    ref = s.last_csat_at
    if ref is None or at > ref or s.last_csat is None:
        last = e.score
    elif at == ref:
        last = min(s.last_csat, e.score)  # a tie resolved the same way in any order
    else:
        last = s.last_csat
    hl = c.csat_half_life_days
    return replace(
        s,
        last_csat=last,
        last_csat_at=_later(ref, at),
        csat_sum=_add(s.csat_sum, float(e.score), ref, at, hl),
        csat_weight=_add(s.csat_weight, 1.0, ref, at, hl),
    )


def _fold_profile_changed(s: FeatureState, e: ProfileChanged, c: FeatureConfig) -> FeatureState:
    at = to_seconds(e.at)
    # created_at is a fact, not a setting: the earliest one seen counts, from any snapshot.
    created = s.created_at
    if e.created_at is not None:
        new = to_seconds(e.created_at)
        created = new if created is None else min(created, new)
    if s.profile_at is not None and at < s.profile_at:
        return replace(s, created_at=created)  # otherwise an older snapshot than ours
    return replace(
        s,
        key_account=e.key_account,
        relationship_stage=e.relationship_stage,
        created_at=created,
        profile_at=at,
    )


Folder = Callable[[FeatureState, Any, FeatureConfig], FeatureState]

# The routing table: one pure handler per input type.
FOLDERS: Mapping[type[Any], Folder] = {
    OrderPlaced: _fold_order_placed,
    OrderCancelled: _fold_order_cancelled,
    OrderReturned: _fold_order_returned,
    Interaction: _fold_interaction,
    ComplaintOpened: _fold_complaint_opened,
    ComplaintEscalated: _fold_complaint_escalated,
    ComplaintResolved: _fold_complaint_resolved,
    ComplaintClosed: _fold_complaint_closed,
    ComplaintReopened: _fold_complaint_reopened,
    SlaBreached: _fold_sla_breached,
    SurveyAnswered: _fold_survey_answered,
    ProfileChanged: _fold_profile_changed,
}


def fold(
    state: FeatureState, event: Event, *, config: FeatureConfig = DEFAULT_FEATURE_CONFIG
) -> FeatureState:
    """The state after `event`: a pure function (the input state is never changed), O(1)."""
    try:
        handler = FOLDERS[type(event)]
    except KeyError:
        raise TypeError(f"not a scoring input: {type(event).__name__}") from None
    return handler(state, event, config)


def fold_all(
    events: Iterable[Event],
    *,
    state: FeatureState | None = None,
    config: FeatureConfig = DEFAULT_FEATURE_CONFIG,
) -> FeatureState:
    """Fold `events` in the given order, starting from `state` (or an empty state)."""
    return reduce(
        lambda acc, event: fold(acc, event, config=config), events, state or FeatureState()
    )


# --------------------------------------------------------------------------------------------
# Merging two customers (a duplicate folded into its survivor)


def _combined_sums(
    ref_a: float | None,
    ref_b: float | None,
    pairs: Iterable[tuple[float, float, float]],
) -> tuple[float | None, list[float]]:
    """The sums of two states of one family, both valued at the later reference time.

    `pairs` holds (value in a, value in b, half-life in days) per decayed sum."""
    if ref_a is None:
        return ref_b, [b for _, b, _ in pairs]
    if ref_b is None:
        return ref_a, [a for a, _, _ in pairs]
    ref = max(ref_a, ref_b)
    return ref, [decayed(a, ref_a, ref, hl) + decayed(b, ref_b, ref, hl) for a, b, hl in pairs]


def _combined_rhythm(a: FeatureState, b: FeatureState) -> dict[str, Any]:
    """Pooled log-gap statistics of both order streams, weighted by their sample counts.

    Exact would be the rhythm of the interleaved order stream, which a fixed-size state cannot
    rebuild; pooling keeps the usual interval of a customer whose orders went to one record
    and only sometimes to the duplicate. The fast mean follows the stream ordered last."""
    if a.gap_count == 0 or b.gap_count == 0:
        side = a if b.gap_count == 0 else b
        count, mean, var, fast = side.gap_count, side.gap_log_mean, side.gap_log_var, None
    else:
        count = a.gap_count + b.gap_count
        mean = (a.gap_count * a.gap_log_mean + b.gap_count * b.gap_log_mean) / count
        var = (
            a.gap_count * (a.gap_log_var + (a.gap_log_mean - mean) ** 2)
            + b.gap_count * (b.gap_log_var + (b.gap_log_mean - mean) ** 2)
        ) / count
        fast = None
    if fast is None:
        latest = max((a, b), key=lambda s: (s.gap_count > 0, s.last_order_at or 0.0))
        fast = latest.gap_log_fast
    return {"gap_count": count, "gap_log_mean": mean, "gap_log_var": var, "gap_log_fast": fast}


def _combined_channels(a: FeatureState, b: FeatureState) -> tuple[int, int, int]:
    """(bucket, mask, previous mask): both states' channel masks in the later bucket."""
    bucket = max(a.channel_bucket, b.channel_bucket)
    mask = prev = 0
    for side in (a, b):
        if side.channel_bucket == bucket:
            mask |= side.channel_mask
            prev |= side.channel_mask_prev
        elif side.channel_bucket == bucket - 1:
            prev |= side.channel_mask
    return bucket, mask, prev


def _latest_csat(a: FeatureState, b: FeatureState) -> int | None:
    answers = [(s.last_csat_at, s.last_csat) for s in (a, b) if s.last_csat is not None]
    if not answers:
        return None
    latest_at = max(at or 0.0 for at, _ in answers)
    # A tie resolved like `_fold_survey_answered` does: the lower score.
    return min(score for at, score in answers if (at or 0.0) == latest_at and score is not None)


def combine(
    survivor: FeatureState,
    absorbed: FeatureState,
    *,
    config: FeatureConfig = DEFAULT_FEATURE_CONFIG,
) -> FeatureState:
    """The state of a survivor that absorbed a duplicate customer record: what both records
    saw, as if every event had been addressed to the survivor.

    Counts add up, decayed sums are added at their family's later reference time, times take
    the earliest first and the latest last, complaints are tracked by id across both. Exact
    up to floating-point rounding except for the purchase rhythm (pooled, see
    `_combined_rhythm`) and "previous order" (the second latest of the four remembered order
    times). The profile is the survivor's: the merge decided which record is the customer.
    """
    a, b = survivor, absorbed
    orders_ref, (monetary, frequency) = _combined_sums(
        a.orders_ref_at,
        b.orders_ref_at,
        (
            (a.monetary, b.monetary, config.monetary_half_life_days),
            (a.frequency, b.frequency, config.frequency_half_life_days),
        ),
    )
    slow = config.contact_slow_half_life_days
    contact_ref, (contact_fast, contact_slow, sentiment_sum, sentiment_weight) = _combined_sums(
        a.last_contact_at,
        b.last_contact_at,
        (
            (a.contact_fast, b.contact_fast, config.contact_fast_half_life_days),
            (a.contact_slow, b.contact_slow, slow),
            (a.sentiment_sum, b.sentiment_sum, slow),
            (a.sentiment_weight, b.sentiment_weight, slow),
        ),
    )
    complaints_ref, (complaint_load,) = _combined_sums(
        a.complaints_ref_at,
        b.complaints_ref_at,
        ((a.complaint_load, b.complaint_load, config.complaint_half_life_days),),
    )
    breach_ref, (sla_load,) = _combined_sums(
        a.last_breach_at, b.last_breach_at, ((a.sla_load, b.sla_load, config.sla_half_life_days),)
    )
    csat_ref, (csat_sum, csat_weight) = _combined_sums(
        a.last_csat_at,
        b.last_csat_at,
        (
            (a.csat_sum, b.csat_sum, config.csat_half_life_days),
            (a.csat_weight, b.csat_weight, config.csat_half_life_days),
        ),
    )
    order_times = sorted(
        (
            t
            for t in (a.last_order_at, a.prev_order_at, b.last_order_at, b.prev_order_at)
            if t is not None
        ),
        reverse=True,
    )
    latest_side = max(
        (a, b), key=lambda s: -math.inf if s.last_order_at is None else s.last_order_at
    )
    firsts = [t for t in (a.first_order_at, b.first_order_at) if t is not None]
    winbacks = [t for t in (a.winback_at, b.winback_at) if t is not None]
    created = [t for t in (a.created_at, b.created_at) if t is not None]
    bucket, mask, mask_prev = _combined_channels(a, b)
    merged = replace(
        a,
        orders=a.orders + b.orders,
        first_order_at=min(firsts) if firsts else None,
        last_order_at=order_times[0] if order_times else None,
        prev_order_at=order_times[1] if len(order_times) > 1 else None,
        last_order_id=latest_side.last_order_id,
        orders_ref_at=orders_ref,
        monetary=monetary,
        frequency=frequency,
        winback_at=max(winbacks) if winbacks else None,
        cancellations=a.cancellations + b.cancellations,
        returns=a.returns + b.returns,
        last_contact_at=contact_ref,
        contact_fast=contact_fast,
        contact_slow=contact_slow,
        sentiment_sum=sentiment_sum,
        sentiment_weight=sentiment_weight,
        channel_bucket=bucket,
        channel_mask=mask,
        channel_mask_prev=mask_prev,
        complaints=(),
        untracked_open=a.untracked_open + b.untracked_open,
        complaints_ref_at=complaints_ref,
        complaint_load=complaint_load,
        escalations=a.escalations + b.escalations,
        sla_breaches=a.sla_breaches + b.sla_breaches,
        last_breach_at=breach_ref,
        sla_load=sla_load,
        last_csat=_latest_csat(a, b),
        last_csat_at=csat_ref,
        csat_sum=csat_sum,
        csat_weight=csat_weight,
        surveys_skipped=a.surveys_skipped + b.surveys_skipped,
        created_at=min(created) if created else None,
        **_combined_rhythm(a, b),
    )
    for complaint in (*a.complaints, *b.complaints):
        known = _find(merged, complaint.complaint_id)
        if known is not None:  # one complaint seen under both ids (re-keyed mid-way)
            status = max(
                (known.status_at, known.status_rank), (complaint.status_at, complaint.status_rank)
            )
            openings = [t for t in (known.opened_at, complaint.opened_at) if t is not None]
            complaint = replace(
                known,
                severity=known.severity or complaint.severity,
                opened_at=min(openings) if openings else None,
                status_at=status[0],
                status_rank=status[1],
                level=max(known.level, complaint.level),
            )
        merged = _store(merged, complaint, config)
    return merged


# --------------------------------------------------------------------------------------------
# Persistence (the adapter stores states in a Faust table and Mongo as plain JSON)

Record = dict[str, Any]

# `dataclasses.fields` builds its tuple on every call: about a tenth of the scorer's CPU per
# batch went there (cProfile), twice per customer, before the names were kept once.
_STATE_FIELDS = tuple(f.name for f in fields(FeatureState))


def state_to_record(state: FeatureState) -> Record:
    """A JSON-safe dict of the state (no NaN/Infinity; times as POSIX seconds)."""
    record: Record = {}
    for name in _STATE_FIELDS:
        value = getattr(state, name)
        if name == "complaints":
            value = [
                {
                    "id": c.complaint_id,
                    "severity": None if c.severity is None else c.severity.value,
                    "opened_at": c.opened_at,
                    "status_at": c.status_at,
                    "status_rank": c.status_rank,
                    "level": c.level,
                }
                for c in value
            ]
        elif name == "relationship_stage":
            value = None if value is None else value.value
        record[name] = value
    return record


def state_from_record(record: Mapping[str, Any]) -> FeatureState:
    """The state `state_to_record` wrote; unknown keys are ignored, missing ones take defaults
    (so a field added later reads old records)."""
    values: dict[str, Any] = {}
    for name in _STATE_FIELDS:
        if name not in record:
            continue
        value = record[name]
        if name == "complaints":
            value = tuple(
                TrackedComplaint(
                    complaint_id=str(c["id"]),
                    severity=None if c["severity"] is None else Severity(c["severity"]),
                    opened_at=None if c["opened_at"] is None else float(c["opened_at"]),
                    status_at=float(c["status_at"]),
                    status_rank=int(c["status_rank"]),
                    level=int(c["level"]),
                )
                for c in value
            )
        elif name == "relationship_stage":
            value = None if value is None else RelationshipStage(value)
        values[name] = value
    return FeatureState(**values)
