"""The per-message steps: dedupe window, alert baseline, published contract, review time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from services.scoring import processing
from services.scoring.domain import (
    DEFAULT_PARAMS,
    ChurnBand,
    FeatureState,
    next_review_at,
    state_to_record,
)
from services.scoring.domain import events as inputs
from shared.events import decode, encode
from shared.events.scoring import ChurnAlertRaised, ScoreUpdated

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def order(days: float) -> inputs.OrderPlaced:
    return inputs.OrderPlaced(order_id=f"o-{days}", at=T0 + timedelta(days=days), amount=500.0)


def test_a_seen_event_id_is_refused_and_the_window_is_bounded() -> None:
    record = None
    for n in range(10):
        folded = processing.apply(record, event_id=f"e{n}", item=order(n), limit=4)
        assert folded is not None
        record = folded.record
    assert record is not None
    assert [processing.has_seen(record, f"e{n}") for n in range(10)] == [False] * 6 + [True] * 4
    assert processing.apply(record, event_id="e9", item=order(9)) is None
    assert processing.state_of(record).orders == 10


def test_a_record_that_kept_the_event_ids_themselves_still_refuses_them() -> None:
    """Records written before the window held tokens (a list of ids) are read as they are."""
    folded = processing.apply(None, event_id="e1", item=order(1))
    assert folded is not None
    older = folded.record | {"seen": ["e0", "e1"]}
    assert processing.apply(older, event_id="e1", item=order(1)) is None
    again = processing.apply(older, event_id="e2", item=order(2))
    assert again is not None
    assert isinstance(again.record["seen"], str)
    assert [processing.has_seen(again.record, f"e{n}") for n in range(3)] == [True] * 3


def test_an_irrelevant_event_is_remembered_without_changing_the_state() -> None:
    folded = processing.apply(None, event_id="e1", item=None)
    assert folded is not None
    assert processing.has_seen(folded.record, "e1")
    assert not processing.has_seen(folded.record, "e2")
    assert processing.state_of(folded.record).orders == 0


def test_the_record_is_plain_json() -> None:
    folded = processing.apply(None, event_id="e1", item=order(0))
    assert folded is not None
    rescored = processing.rescore(folded.record, customer_id="c", as_of=T0, computed_at=T0)
    assert json.loads(json.dumps(rescored.record)) == rescored.record


def _regular_customer() -> processing.CustomerRecord:
    record: processing.CustomerRecord | None = None
    for n in range(8):
        folded = processing.apply(record, event_id=f"e{n}", item=order(7 * n))
        assert folded is not None
        record = folded.record
    assert record is not None
    return record


def test_alert_once_per_rise_and_again_after_a_fall() -> None:
    record = _regular_customer()
    last = T0 + timedelta(days=49)
    first = processing.rescore(record, customer_id="c", as_of=last, computed_at=last)
    assert first.alert is None  # the first score sets the baseline
    assert first.score.churn.band is ChurnBand.LOW
    silent = last + timedelta(days=120)
    risen = processing.rescore(first.record, customer_id="c", as_of=silent, computed_at=silent)
    assert risen.score.churn.band is not ChurnBand.LOW
    assert risen.alert is not None
    assert risen.alert.data.from_band.value == "low"
    assert risen.alert.data.to_band.value == risen.score.churn.band.value
    again = processing.rescore(risen.record, customer_id="c", as_of=silent, computed_at=silent)
    assert again.alert is None  # same band: no storm
    back = processing.apply(again.record, event_id="back", item=order(170))
    assert back is not None
    fell = processing.rescore(back.record, customer_id="c", as_of=silent, computed_at=silent)
    assert fell.record["alerted_band"] == fell.score.churn.band.value
    later = silent + timedelta(days=120)
    rose = processing.rescore(fell.record, customer_id="c", as_of=later, computed_at=later)
    assert rose.alert is not None


def test_published_events_round_trip_through_the_codec_with_stable_ids() -> None:
    record = _regular_customer()
    at = T0 + timedelta(days=200)
    a = processing.rescore(record, customer_id="c", as_of=at, computed_at=at)
    b = processing.rescore(record, customer_id="c", as_of=at, computed_at=at + timedelta(1))
    assert a.updated.id == b.updated.id
    kafka = encode(a.updated)
    assert kafka.topic == "crm.scores.v1"
    assert kafka.key == b"c"
    back = decode(kafka.value, kafka.headers, now=at, max_future_skew=timedelta(0))
    assert isinstance(back.data, ScoreUpdated)
    assert back.data.churn.risk == a.score.churn.risk
    assert a.updated.data.churn.reasons  # a silent customer's risk is explained
    if a.alert is not None:
        assert isinstance(a.alert.data, ChurnAlertRaised)
        assert encode(a.alert).topic == "crm.alerts.v1"


def test_review_time_is_in_the_future_of_the_score() -> None:
    record = _regular_customer()
    at = T0 + timedelta(days=49)
    rescored = processing.rescore(record, customer_id="c", as_of=at, computed_at=at)
    due = processing.review_time(rescored.record)
    assert due is not None
    assert due > at
    assert not processing.is_due(rescored.record, at)
    assert processing.is_due(rescored.record, due)


def test_a_review_is_pencilled_in_an_hour_after_the_score_and_planned_then() -> None:
    """Planning when the pencilled-in time comes gives the review the domain plans for the
    score (`next_review_at`), and planning twice changes nothing."""
    at = T0 + timedelta(days=49)
    scored = processing.rescore(_regular_customer(), customer_id="c", as_of=at, computed_at=at)
    assert processing.review_time(scored.record) == at + DEFAULT_PARAMS.review_min
    an_hour_later = at + DEFAULT_PARAMS.review_min
    planned = processing.plan_review(scored.record, an_hour_later)
    expected = next_review_at(
        processing.state_of(scored.record), DEFAULT_PARAMS, at, current=scored.score
    )
    assert processing.review_time(planned) == expected
    assert expected > an_hour_later  # a weekly buyer an hour after an order: nothing due yet
    assert processing.plan_review(planned, an_hour_later) is planned


def test_a_score_of_the_past_is_left_due_without_probing() -> None:
    at = T0 + timedelta(days=49)
    scored = processing.rescore(_regular_customer(), customer_id="c", as_of=at, computed_at=at)
    much_later = at + DEFAULT_PARAMS.review_max + timedelta(days=1)
    planned = processing.plan_review(scored.record, much_later)
    assert planned["review_planned"] is True
    assert processing.review_time(planned) == processing.review_time(scored.record)
    assert processing.is_due(planned, much_later)


def test_a_record_written_before_review_planning_counts_as_planned() -> None:
    at = T0 + timedelta(days=49)
    scored = processing.rescore(_regular_customer(), customer_id="c", as_of=at, computed_at=at)
    older = {key: value for key, value in scored.record.items() if key != "review_planned"}
    assert processing.plan_review(older, at + timedelta(days=30)) is older


def test_the_table_bytes_of_a_record_read_back_exactly() -> None:
    folded = processing.apply(None, event_id="e1", item=order(0))
    assert folded is not None
    unscored = folded.record
    scored = processing.rescore(unscored, customer_id="c", as_of=T0, computed_at=T0).record
    for record in (unscored, scored):
        value = processing.record_bytes(record)
        assert isinstance(value, bytes)
        assert processing.record_from_bytes(value) == record
    assert "next_review_at" not in unscored
    assert processing.record_bytes(scored).startswith(repr(scored["next_review_at"]).encode())


def test_the_state_is_laid_out_without_its_field_names() -> None:
    record = _regular_customer()
    state = record["state"]
    assert isinstance(state, list)
    assert state[0] == max(processing.STATE_LAYOUTS)
    assert b"first_order_at" not in processing.record_bytes(record)
    assert processing.state_of(record).orders == 8


def test_the_newest_state_layout_names_every_feature_once() -> None:
    """A field added to FeatureState needs a new layout (the old ones stay, for old records)."""
    layout = processing.STATE_LAYOUTS[max(processing.STATE_LAYOUTS)]
    assert len(set(layout)) == len(layout)
    assert set(layout) == set(state_to_record(FeatureState()))


def test_records_written_before_the_bytes_and_the_layout_are_read() -> None:
    record = _regular_customer()
    last = T0 + timedelta(days=49)
    current = processing.rescore(record, customer_id="c", as_of=last, computed_at=last).record
    state = processing.state_of(current)
    as_text = current | {"state": json.dumps(state_to_record(state))}  # before the layout
    as_dict = current | {"state": state_to_record(state)}  # before the text
    for older in (as_text, as_dict):
        value = json.dumps(older).encode()  # before the bytes: plain JSON
        read = processing.record_from_bytes(value)
        assert processing.state_of(read) == state
        for days in (0, 1, 400):
            now = last + timedelta(days=days)
            assert processing.review_due(value, now) is processing.is_due(current, now)
        again = processing.rescore(read, customer_id="c", as_of=last, computed_at=last)
        assert again.record == current


def test_review_due_reads_the_head_of_the_bytes() -> None:
    record = _regular_customer()
    last = T0 + timedelta(days=49)
    scored = processing.rescore(record, customer_id="c", as_of=last, computed_at=last).record
    value = processing.record_bytes(scored)
    due_at = processing.review_time(scored)
    assert due_at is not None
    assert not processing.review_due(value, due_at - timedelta(seconds=1))
    assert processing.review_due(value, due_at)
    assert not processing.review_due(processing.record_bytes(record), T0 + timedelta(days=999))
