"""The feature state and its fold: purity, ordering, bounded size, persistence."""

from __future__ import annotations

import enum
import json
import math
import random
import sys
import typing
from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime, timedelta

import pytest

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
from services.scoring.domain.features import (
    DEFAULT_FEATURE_CONFIG,
    FOLDERS,
    FeatureConfig,
    FeatureState,
    TrackedComplaint,
    channels_in_window,
    fold,
    fold_all,
    state_from_record,
    state_to_record,
)
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def secs(n: float) -> float:
    return day(n).timestamp()


def order_events(every: float, count: int, amount: float = 1000.0) -> list[Event]:
    return [OrderPlaced(f"o{i}", day(every * i), amount) for i in range(count)]


def assert_states_close(a: FeatureState, b: FeatureState) -> None:
    """Equal, except floats only up to rounding (in-family reordering reassociates sums)."""
    for f in fields(FeatureState):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and isinstance(y, float):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), f.name
        else:
            assert x == y, f.name


# --- purity -----------------------------------------------------------------------------------


def test_fold_is_pure_and_never_changes_its_input() -> None:
    start = fold_all(order_events(10, 3))
    snapshot = state_to_record(start)
    event = OrderPlaced("o9", day(40), 500.0)
    first = fold(start, event)
    second = fold(start, event)
    assert first == second
    assert state_to_record(start) == snapshot
    assert first.orders == start.orders + 1
    with pytest.raises(FrozenInstanceError):
        start.orders = 99  # type: ignore[misc]


def test_every_input_type_has_a_handler_and_others_are_refused() -> None:
    assert set(typing.get_args(Event)) == set(FOLDERS)
    with pytest.raises(TypeError, match="not a scoring input"):
        fold(FeatureState(), "order placed")  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OrderPlaced("o1", datetime(2024, 1, 1), 10.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        ProfileChanged(T0, False, None, created_at=datetime(2020, 1, 1))


@pytest.mark.parametrize(
    "build",
    [
        lambda: OrderPlaced("o", T0, -1.0),
        lambda: OrderPlaced("o", T0, math.nan),
        lambda: Interaction(T0, Channel.PHONE, Direction.INBOUND, sentiment=1.5),
        lambda: ComplaintEscalated("c", T0, 0),
        lambda: SurveyAnswered(T0, 6),
    ],
)
def test_invalid_inputs_are_refused(build: typing.Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


# --- ordering ---------------------------------------------------------------------------------


def _families() -> tuple[list[Event], list[Event], list[Event]]:
    """One customer's events per topic (each list in its topic's order)."""
    orders_and_contacts: list[Event] = [
        OrderPlaced("o1", day(0), 1200.0),
        Interaction(day(2), Channel.PHONE, Direction.OUTBOUND),
        OrderPlaced("o2", day(21), 900.0),
        Interaction(day(25), Channel.WECHAT, Direction.INBOUND, sentiment=-0.4),
        OrderReturned(day(27), 100.0),
        OrderPlaced("o3", day(50), 1500.0),
        OrderCancelled("o3", day(51), 1500.0),
        OrderPlaced("o4", day(55), 1400.0),
    ]
    complaints: list[Event] = [
        ComplaintOpened("c1", day(5), Severity.HIGH),
        SlaBreached("c1", day(7), SlaTarget.FIRST_RESPONSE),
        ComplaintEscalated("c1", day(8), 2),
        ComplaintResolved("c1", day(12)),
        SurveyAnswered(day(13), 2),
        ComplaintOpened("c2", day(30), Severity.CRITICAL),
        SurveyAnswered(day(31), None),
    ]
    profile: list[Event] = [
        ProfileChanged(day(-100), False, RelationshipStage.VENDOR, created_at=day(-100)),
        ProfileChanged(day(40), True, RelationshipStage.PARTNER),
    ]
    return orders_and_contacts, complaints, profile


def _interleave(rng: random.Random, *streams: list[Event]) -> list[Event]:
    """A random merge that keeps each stream's own order (like partitions of several topics)."""
    cursors = [0] * len(streams)
    merged: list[Event] = []
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        ready = [i for i, s in enumerate(streams) if cursors[i] < len(s)]
        pick = rng.choice(ready)
        merged.append(streams[pick][cursors[pick]])
        cursors[pick] += 1
    return merged


def test_any_interleaving_of_topics_gives_exactly_the_same_state() -> None:
    streams = _families()
    reference = fold_all([e for stream in streams for e in stream])
    rng = random.Random(7)
    for _ in range(25):
        assert fold_all(_interleave(rng, *streams)) == reference


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_contacts_breaches_and_surveys_give_the_same_state(seed: int) -> None:
    events: list[Event] = [
        *(
            Interaction(day(3 * i), list(Channel)[i % 4], Direction.INBOUND, 0.1 * (i % 3))
            for i in range(12)
        ),
        *(SlaBreached(f"c{i}", day(5 * i + 1), SlaTarget.RESOLUTION) for i in range(4)),
        *(SurveyAnswered(day(7 * i + 2), 1 + i % 5) for i in range(5)),
    ]
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    assert_states_close(fold_all(shuffled), fold_all(events))


def test_complaint_status_is_last_writer_wins_by_event_time() -> None:
    in_order = fold_all(
        [ComplaintOpened("c1", day(1), Severity.HIGH), ComplaintResolved("c1", day(4))]
    )
    resolution_first = fold_all(
        [ComplaintResolved("c1", day(4)), ComplaintOpened("c1", day(1), Severity.HIGH)]
    )
    assert in_order == resolution_first
    assert in_order.open_complaints == ()
    assert in_order.complaints[0].severity is Severity.HIGH


@pytest.mark.parametrize("seed", range(4))
def test_interleaving_different_complaints_gives_the_same_state(seed: int) -> None:
    per_complaint: list[list[Event]] = [
        [
            ComplaintOpened(f"c{i}", day(i), list(Severity)[i % 4]),
            ComplaintEscalated(f"c{i}", day(i + 0.5), 1 + i % 3),
            *([ComplaintResolved(f"c{i}", day(i + 3))] if i % 2 else []),
        ]
        for i in range(5)
    ]
    reference = fold_all([e for events in per_complaint for e in events])
    merged = _interleave(random.Random(seed), *per_complaint)
    assert_states_close(fold_all(merged), reference)


def test_a_late_order_counts_for_value_and_first_order_but_not_for_the_rhythm() -> None:
    in_order = fold_all(order_events(10, 4))
    late = fold_all([*order_events(10, 4)[1:], order_events(10, 4)[0]])
    assert late.orders == in_order.orders == 4
    assert late.first_order_at == in_order.first_order_at
    assert late.last_order_at == in_order.last_order_at
    assert math.isclose(late.monetary, in_order.monetary, rel_tol=1e-12)
    assert math.isclose(late.frequency, in_order.frequency, rel_tol=1e-12)
    # The late order's gap was never seen: one gap sample fewer.
    assert (late.gap_count, in_order.gap_count) == (2, 3)


def test_decayed_sums_are_valued_at_the_latest_event_time() -> None:
    state = fold_all([OrderPlaced("o1", day(0), 1000.0), OrderPlaced("o2", day(365), 1000.0)])
    # One year is one half-life of monetary value.
    assert math.isclose(state.monetary, 1500.0, rel_tol=1e-12)
    assert state.orders_ref_at == secs(365)


def test_orders_on_the_same_day_are_one_purchase_occasion() -> None:
    state = fold_all(
        [
            OrderPlaced("a", day(0), 10.0),
            OrderPlaced("b", day(0.2), 10.0),
            OrderPlaced("c", day(30), 10.0),
        ]
    )
    assert state.orders == 3
    assert state.gap_count == 1
    assert math.isclose(math.exp(state.gap_log_mean), 29.8, rel_tol=1e-9)


def test_rhythm_is_an_ewma_of_log_gaps() -> None:
    state = fold_all([OrderPlaced(f"o{i}", day(t), 1.0) for i, t in enumerate((0, 10, 30))])
    alpha = DEFAULT_FEATURE_CONFIG.gap_alpha
    first, second = math.log(10), math.log(20)
    assert math.isclose(state.gap_log_mean, first + alpha * (second - first))
    assert math.isclose(state.gap_log_var, (1 - alpha) * alpha * (second - first) ** 2)


# --- orders: cancellations and returns -----------------------------------------------------------


def test_cancelling_the_latest_order_restores_recency() -> None:
    before = fold_all(order_events(10, 3))
    after = fold(before, OrderCancelled("o2", day(20.5), 1000.0))
    assert after.orders == 2
    assert after.last_order_at == secs(10)
    assert after.monetary < before.monetary
    assert after.cancellations == 1


def test_cancelling_every_order_makes_a_prospect_again() -> None:
    state = fold_all([OrderPlaced("o1", day(0), 100.0), OrderCancelled("o1", day(1), 100.0)])
    assert state.orders == 0
    assert state.last_order_at is None and state.first_order_at is None
    assert state.monetary == pytest.approx(0.0, abs=1e-9)


def test_a_return_lowers_value_but_not_the_order_count() -> None:
    before = fold_all(order_events(10, 3))
    after = fold(before, OrderReturned(day(21), 600.0))
    assert after.orders == before.orders
    assert after.monetary < before.monetary
    assert after.returns == 1


# --- complaints --------------------------------------------------------------------------------


def test_complaints_follow_their_workflow_and_closed_ones_are_forgotten() -> None:
    state = fold_all(
        [
            ComplaintOpened("c1", day(0), Severity.CRITICAL),
            ComplaintEscalated("c1", day(1), 1),
            ComplaintEscalated("c1", day(2), 2),
        ]
    )
    (c1,) = state.open_complaints
    assert (c1.severity, c1.level, state.escalations) == (Severity.CRITICAL, 2, 2)
    resolved = fold(state, ComplaintResolved("c1", day(3)))
    assert resolved.open_complaints == ()
    reopened = fold(resolved, ComplaintReopened("c1", day(4)))
    assert [c.complaint_id for c in reopened.open_complaints] == ["c1"]
    closed = fold_all(
        [ComplaintResolved("c1", day(5)), ComplaintClosed("c1", day(6))], state=reopened
    )
    assert closed.complaints == ()
    assert closed.complaint_load > state.complaint_load  # the reopening added load


def test_the_complaint_list_is_bounded_and_evicted_open_complaints_still_count() -> None:
    config = FeatureConfig(max_tracked_complaints=3)
    opened = [
        ComplaintOpened(f"c{i}", day(i), Severity.CRITICAL if i == 0 else Severity.LOW)
        for i in range(5)
    ]
    state = fold_all(opened, config=config)
    assert len(state.complaints) == 3
    assert state.untracked_open == 2
    # The critical one is never the one forgotten.
    assert "c0" in {c.complaint_id for c in state.complaints}
    # Resolving a forgotten complaint lowers the untracked count.
    state = fold(state, ComplaintResolved("c1", day(9)), config=config)
    assert state.untracked_open == 1


# --- interactions --------------------------------------------------------------------------------


BUCKET = DEFAULT_FEATURE_CONFIG.channel_bucket_days * 86_400


def _bucket_start() -> datetime:
    """The start of a channel bucket after T0, so tests know where the boundaries are."""
    return datetime.fromtimestamp(math.ceil(T0.timestamp() / BUCKET) * BUCKET, tz=UTC)


def test_channels_are_counted_over_the_current_and_the_previous_bucket() -> None:
    start = _bucket_start()
    state = fold_all(
        [
            Interaction(start - timedelta(days=10), Channel.PHONE, Direction.OUTBOUND),
            Interaction(start - timedelta(days=9), Channel.EMAIL, Direction.INBOUND),
            Interaction(start + timedelta(days=5), Channel.VISIT, Direction.OUTBOUND),
            Interaction(start + timedelta(days=6), Channel.VISIT, Direction.INBOUND),
        ]
    )
    at = start.timestamp()
    config = DEFAULT_FEATURE_CONFIG
    assert channels_in_window(state, at + 6 * 86_400, config) == 3
    assert channels_in_window(state, at + BUCKET + 86_400, config) == 1  # only the visit bucket
    assert channels_in_window(state, at + 2 * BUCKET + 86_400, config) == 0


def test_channel_buckets_do_not_depend_on_arrival_order() -> None:
    start = _bucket_start()
    events: list[Event] = [
        Interaction(start - timedelta(days=100), Channel.SMS, Direction.INBOUND),
        Interaction(start - timedelta(days=10), Channel.PHONE, Direction.INBOUND),
        Interaction(start + timedelta(days=5), Channel.VISIT, Direction.INBOUND),
    ]
    reference = fold_all(events)
    for seed in range(6):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        state = fold_all(shuffled)
        assert (state.channel_bucket, state.channel_mask, state.channel_mask_prev) == (
            reference.channel_bucket,
            reference.channel_mask,
            reference.channel_mask_prev,
        )


def test_outbound_contacts_weigh_less_than_inbound() -> None:
    inbound = fold(FeatureState(), Interaction(T0, Channel.PHONE, Direction.INBOUND))
    outbound = fold(FeatureState(), Interaction(T0, Channel.PHONE, Direction.OUTBOUND))
    assert outbound.contact_slow < inbound.contact_slow


# --- profile and surveys ----------------------------------------------------------------------


def test_an_older_profile_snapshot_does_not_override_a_newer_one() -> None:
    newer = ProfileChanged(day(10), True, RelationshipStage.ALLIANCE)
    older = ProfileChanged(day(5), False, RelationshipStage.VENDOR, created_at=day(-30))
    state = fold_all([newer, older])
    assert (state.key_account, state.relationship_stage) == (True, RelationshipStage.ALLIANCE)
    # The creation time is a fact, kept from whichever snapshot carried it.
    assert state.created_at == secs(-30)
    assert fold_all([older, newer]) == state


def test_skipped_surveys_are_counted_but_do_not_move_csat() -> None:
    state = fold_all([SurveyAnswered(day(0), 4), SurveyAnswered(day(1), None)])
    assert (state.last_csat, state.surveys_skipped) == (4, 1)
    assert state.csat_sum / state.csat_weight == 4.0


# --- persistence and size ---------------------------------------------------------------------


def test_records_round_trip_and_are_json_safe() -> None:
    orders, complaints, profile = _families()
    state = fold_all([*orders, *complaints, *profile])
    record = state_to_record(state)
    text = json.dumps(record, allow_nan=False)
    assert state_from_record(json.loads(text)) == state
    # Records written before a field existed still load.
    del record["returns"]
    assert state_from_record(record).returns == 0


def _deep_size(obj: object, seen: set[int]) -> int:
    """Bytes owned by one state: shared singletons (None, small ints, enum members) excluded."""
    if obj is None or isinstance(obj, bool | enum.Enum) or (type(obj) is int and -5 <= obj <= 256):
        return 0
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, tuple):
        size += sum(_deep_size(x, seen) for x in obj)
    elif isinstance(obj, FeatureState | TrackedComplaint):
        size += sum(_deep_size(getattr(obj, f.name), seen) for f in fields(obj))
    return size


def test_state_size_does_not_grow_with_history() -> None:
    events: list[Event] = []
    for i in range(2000):
        at = day(i * 0.5)
        events.append(OrderPlaced(f"ORD-{i:08d}", at, 1000.0 + i))
        events.append(Interaction(at, list(Channel)[i % 9], Direction.INBOUND, 0.2))
        events.append(ComplaintOpened(f"CMP-{i:08d}", at, Severity.MEDIUM))
        events.append(SurveyAnswered(at, 3))
    short = fold_all(events[:400])
    long = fold_all(events)
    assert len(long.complaints) == DEFAULT_FEATURE_CONFIG.max_tracked_complaints
    # Years of history and a full list of open complaints stay under 2.5 KiB; orders and
    # contacts only (the common case) under 0.9 KiB.
    assert _deep_size(long, set()) <= _deep_size(short, set()) + 64
    assert _deep_size(long, set()) < 2500
    typical = fold_all([e for e in events if isinstance(e, OrderPlaced | Interaction)])
    assert _deep_size(typical, set()) < 900
