"""Folding a merged-away customer's state into its survivor (`features.combine`)."""

from __future__ import annotations

import math
from dataclasses import fields, replace

from services.scoring.domain.events import (
    ComplaintOpened,
    ComplaintResolved,
    Event,
    Interaction,
    OrderCancelled,
    OrderPlaced,
    ProfileChanged,
    SlaBreached,
    SurveyAnswered,
)
from services.scoring.domain.features import FeatureState, combine, fold_all
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)
from tests.unit.scoring.test_features import assert_states_close, day

# Two records of one real customer: most business went to the survivor, some to a duplicate
# a sales desk created by mistake; every family of events happens on both.
SURVIVOR: list[Event] = [
    ProfileChanged(day(0), True, RelationshipStage.PARTNER, created_at=day(-400)),
    OrderPlaced("s1", day(0), 1000.0),
    OrderPlaced("s2", day(30), 1200.0),
    OrderPlaced("s3", day(60), 900.0),
    OrderCancelled("s3", day(61), 900.0),
    Interaction(day(10), Channel.PHONE, Direction.INBOUND, sentiment=0.4),
    Interaction(day(70), Channel.EMAIL, Direction.OUTBOUND),
    ComplaintOpened("k1", day(20), Severity.HIGH),
    SlaBreached("k1", day(21), SlaTarget.FIRST_RESPONSE),
    ComplaintResolved("k1", day(25)),
    SurveyAnswered(day(26), 2),
]
DUPLICATE: list[Event] = [
    ProfileChanged(day(5), False, RelationshipStage.VENDOR, created_at=day(-30)),
    OrderPlaced("d1", day(45), 400.0),
    OrderPlaced("d2", day(80), 300.0),
    Interaction(day(82), Channel.WECHAT, Direction.INBOUND, sentiment=-0.2),
    ComplaintOpened("k2", day(81), Severity.CRITICAL),
    SurveyAnswered(day(50), 5),
]


def _time(event: Event) -> float:
    return event.at.timestamp()


def test_merging_equals_every_event_sent_to_the_survivor_but_for_the_rhythm() -> None:
    merged = combine(fold_all(SURVIVOR), fold_all(DUPLICATE))
    # The reference: every behavioural event addressed to one record, in time order, with the
    # survivor's profile (the merge decided that the survivor's profile is the customer's).
    behaviour = sorted(
        (e for e in [*SURVIVOR, *DUPLICATE] if not isinstance(e, ProfileChanged)), key=_time
    )
    profile = [e for e in SURVIVOR if isinstance(e, ProfileChanged)]
    together = fold_all([*profile, *behaviour])
    together = replace(together, created_at=day(-400).timestamp())
    rhythm = {"gap_count", "gap_log_mean", "gap_log_var", "gap_log_fast", "prev_order_at"}
    comparable = [f.name for f in fields(FeatureState) if f.name not in rhythm]
    assert_states_close(
        FeatureState(**{name: getattr(merged, name) for name in comparable}),
        FeatureState(**{name: getattr(together, name) for name in comparable}),
    )
    assert merged.orders == 4
    assert merged.last_order_id == "d2"
    assert merged.key_account is True  # the survivor's profile
    assert merged.created_at == day(-400).timestamp()  # the earliest creation
    assert {c.complaint_id for c in merged.open_complaints} == {"k2"}
    assert merged.last_csat == 5


def test_the_rhythm_is_pooled_from_both_order_streams() -> None:
    survivor = fold_all(OrderPlaced(f"s{i}", day(10 * i), 100.0) for i in range(5))  # every 10 d
    duplicate = fold_all(OrderPlaced(f"d{i}", day(3 + 40 * i), 100.0) for i in range(3))  # 40 d
    merged = combine(survivor, duplicate)
    assert merged.gap_count == survivor.gap_count + duplicate.gap_count == 6
    expected = (4 * math.log(10) + 2 * math.log(40)) / 6
    assert math.isclose(merged.gap_log_mean, expected, rel_tol=1e-9)
    assert merged.gap_log_var > 0  # two rhythms pooled are less regular than either
    assert merged.prev_order_at == day(43).timestamp()  # second latest of both streams
    assert merged.last_order_at == day(83).timestamp()


def test_merging_with_an_empty_record_changes_nothing() -> None:
    state = fold_all(SURVIVOR)
    assert_states_close(combine(state, FeatureState()), state)
    assert_states_close(
        combine(FeatureState(), state),
        replace(state, key_account=False, relationship_stage=None, profile_at=None),
    )


def test_a_complaint_seen_under_both_ids_counts_once() -> None:
    # Complaint k3 was re-keyed to the survivor while open: its opening was folded under the
    # duplicate, its resolution under the survivor.
    duplicate = fold_all([ComplaintOpened("k3", day(1), Severity.HIGH)])
    survivor = fold_all([ComplaintResolved("k3", day(4))])
    merged = combine(survivor, duplicate)
    assert [c.complaint_id for c in merged.complaints] == ["k3"]
    (k3,) = merged.complaints
    assert k3.severity is Severity.HIGH
    assert k3.opened_at == day(1).timestamp()
    assert not k3.is_open
    assert merged.open_complaints == ()
