"""The scorer's per-message steps as pure functions (no Faust, no I/O, no clock).

A customer's table entry (`CustomerRecord`, a JSON-safe dict) is the domain's feature state
plus what the streaming side needs to be idempotent and quiet. The table holds every customer
a worker owns in memory, as one bytes value per customer (`record_bytes`): a million
customers as dicts of Python objects took 2.1 GiB, as bytes 0.8 GiB. The parts:

- `state`: the feature state as a list of its values, the layout's version first
  (`STATE_LAYOUTS`): the 40 field names repeated in every customer were half its size.
  Records written before hold it as JSON text or as a dict, and are read as well;
- `seen`: the customer's last `SEEN_LIMIT` event ids, so an event redelivered after a crash or
  replayed by a producer is not folded twice (kept inside the record, so it travels with the
  changelog and survives restarts). Each id is kept as an 11-character token (64 bits of its
  BLAKE2b hash), all in one string. Records written before hold a list of the ids themselves
  and are read as well;
- `last_risk`: the churn risk last published (for the trend);
- `alerted_band`: the churn band of the last alert (or the first score), so an alert is raised
  once per rise and not on every rescore;
- `next_review_at` / `as_of`: POSIX seconds, for the time-drift sweeper; `review_planned`:
  whether `next_review_at` is planned or only pencilled in an hour after the score. In the
  bytes, `next_review_at` comes first, before the JSON of the rest, so that the sweeper finds
  the customers due without decoding every record (`review_due`);
- `absorbed`: the ids of duplicate customers merged into this one, so a merge redelivered
  after a crash is not folded in twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.scoring.domain import (
    DEFAULT_PARAMS,
    ChurnBand,
    FeatureState,
    Score,
    ScoringParams,
    combine,
    fold,
    next_review_at,
    score,
    state_from_record,
    state_to_record,
)
from services.scoring.domain import events as inputs
from shared.events import Event, new_event
from shared.events import scoring as contract
from shared.events.vocabulary import ChurnBand as ContractBand
from shared.events.vocabulary import Lifecycle as ContractLifecycle
from shared.events.vocabulary import ValueTier as ContractTier

__all__ = [
    "SEEN_LIMIT",
    "SOURCE",
    "CustomerRecord",
    "Folded",
    "Rescored",
    "absorb",
    "apply",
    "has_seen",
    "is_due",
    "plan_review",
    "record_bytes",
    "record_from_bytes",
    "rescore",
    "review_due",
    "review_time",
    "scored_as_of",
    "state_of",
]

SEEN_LIMIT = 64
SOURCE = "/services/scoring"
# Stable namespace for the ids of the events the scorer emits: re-emitting the same score after
# a restart gives the same id, so downstream consumers dedupe it.
_ID_NAMESPACE = uuid.UUID("8f1c1c52-4a51-4b0e-9d0a-6c1f3f0c2a77")
_TOKEN = 11  # base64 characters of a 64-bit hash (the 12th would be padding)
# The order of the feature state's values in a record, by layout version (the list's first
# item). Never change a layout that records were written with: a new field of FeatureState
# takes a new layout (a test fails until it has one); older layouts keep being read, and the
# fields they lack take their defaults.
STATE_LAYOUTS: dict[int, tuple[str, ...]] = {
    1: (
        "orders", "first_order_at", "last_order_at", "prev_order_at", "last_order_id",
        "orders_ref_at", "monetary", "frequency", "gap_count", "gap_log_mean", "gap_log_var",
        "gap_log_fast", "winback_at", "cancellations", "returns", "last_contact_at",
        "contact_fast", "contact_slow", "sentiment_sum", "sentiment_weight", "channel_bucket",
        "channel_mask", "channel_mask_prev", "complaints", "untracked_open",
        "complaints_ref_at", "complaint_load", "escalations", "sla_breaches", "last_breach_at",
        "sla_load", "last_csat", "last_csat_at", "csat_sum", "csat_weight", "surveys_skipped",
        "key_account", "relationship_stage", "created_at", "profile_at",
    ),
}  # fmt: skip
_STATE_LAYOUT = max(STATE_LAYOUTS)  # the one written
_BAND_RANK = {ChurnBand.LOW: 0, ChurnBand.MEDIUM: 1, ChurnBand.HIGH: 2, ChurnBand.CRITICAL: 3}

CustomerRecord = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Folded:
    """The record after one new (not yet seen) event was folded in."""

    record: CustomerRecord
    state: FeatureState


@dataclass(frozen=True, slots=True)
class Rescored:
    """A fresh score, the record to store and the events to publish."""

    record: CustomerRecord
    score: Score
    updated: Event[contract.ScoreUpdated]
    alert: Event[contract.ChurnAlertRaised] | None


def _seen_token(event_id: str) -> str:
    digest = hashlib.blake2b(event_id.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest)[:_TOKEN].decode()


def _seen(record: Mapping[str, Any] | None) -> list[str]:
    """The tokens of the record's dedupe window, oldest first."""
    seen = (record or {}).get("seen", "")
    if isinstance(seen, str):
        return [seen[at : at + _TOKEN] for at in range(0, len(seen), _TOKEN)]
    return [_seen_token(event_id) for event_id in seen]  # a record written before the tokens


def has_seen(record: Mapping[str, Any] | None, event_id: str) -> bool:
    """Whether the event is in the record's dedupe window (it would not be folded again)."""
    return _seen_token(event_id) in _seen(record)


def state_of(record: Mapping[str, Any] | None) -> FeatureState:
    """The customer's feature state kept in the record."""
    if not record or "state" not in record:
        return FeatureState()
    state = record["state"]
    if isinstance(state, list):
        return state_from_record(dict(zip(STATE_LAYOUTS[state[0]], state[1:], strict=False)))
    return state_from_record(json.loads(state) if isinstance(state, str) else state)


def _state_values(state: FeatureState) -> list[Any]:
    values = state_to_record(state)
    return [_STATE_LAYOUT, *(values[name] for name in STATE_LAYOUTS[_STATE_LAYOUT])]


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """The record as the table keeps it: `next_review_at` (or nothing), `|`, then the JSON of
    the rest. Floats are written as `repr` writes them, so they read back exactly."""
    review = record.get("next_review_at")
    rest = {key: value for key, value in record.items() if key != "next_review_at"}
    head = b"" if review is None else repr(float(review)).encode()
    return head + b"|" + json.dumps(rest, separators=(",", ":")).encode()


def record_from_bytes(value: bytes) -> CustomerRecord:
    """The record `record_bytes` wrote, or a record written before it (plain JSON)."""
    if value[:1] == b"{":
        old: CustomerRecord = json.loads(value)
        return old
    head, _, rest = value.partition(b"|")
    record: CustomerRecord = json.loads(rest)
    if head:
        record["next_review_at"] = float(head)
    return record


def review_due(value: bytes, now: datetime) -> bool:
    """Whether the record in `value` (as `record_bytes` wrote it) is due a review at `now`,
    read from its head alone."""
    if value[:1] == b"{":
        return is_due(record_from_bytes(value), now)
    head = value[: value.index(b"|")]
    return bool(head) and float(head) <= now.timestamp()


def apply(
    record: Mapping[str, Any] | None,
    *,
    event_id: str,
    item: inputs.Event | None,
    limit: int = SEEN_LIMIT,
) -> Folded | None:
    """Fold `item` into the customer's record; None when `event_id` was already seen.

    An event that does not affect scores (`item` is None) is still remembered as seen.
    """
    folded, _ = apply_all(record, [(event_id, item)], limit=limit)
    return folded


def apply_all(
    record: Mapping[str, Any] | None,
    events: Sequence[tuple[str, inputs.Event | None]],
    *,
    limit: int = SEEN_LIMIT,
) -> tuple[Folded | None, list[int]]:
    """`apply` over a customer's events in order, converting the state once; the record after
    them (None when every one was already seen) and the positions of the events folded."""
    seen = _seen(record)
    known = set(seen)
    state = state_of(record)
    folded: list[int] = []
    for position, (event_id, item) in enumerate(events):
        token = _seen_token(event_id)
        if token in known:
            continue
        if item is not None:
            state = fold(state, item, config=DEFAULT_PARAMS.features)
        seen.append(token)
        known.add(token)
        folded.append(position)
    if not folded:
        return None, []
    new: CustomerRecord = dict(record or {})
    new["state"] = _state_values(state)
    new["seen"] = "".join(seen[-limit:])
    return Folded(record=new, state=state), folded


def absorb(
    survivor: Mapping[str, Any] | None,
    *,
    absorbed_id: str,
    absorbed: Mapping[str, Any],
    limit: int = SEEN_LIMIT,
) -> CustomerRecord | None:
    """The survivor's record after a merged-away customer's record was folded into it; None
    when that customer was absorbed already (a redelivered merge).

    The survivor keeps its alert baseline and last published risk (its own score history
    goes on); the seen ids of both are kept, so an event that reaches the survivor after
    being counted for the duplicate is not counted again."""
    done: list[str] = list((survivor or {}).get("absorbed", ()))
    if absorbed_id in done:
        return None
    state = combine(state_of(survivor), state_of(absorbed), config=DEFAULT_PARAMS.features)
    seen = [*_seen(absorbed), *_seen(survivor)]
    new: CustomerRecord = dict(survivor or {})
    for inherited in ("last_risk", "alerted_band"):
        if inherited not in new and inherited in absorbed:
            new[inherited] = absorbed[inherited]
    as_of = [float(r["as_of"]) for r in (survivor or {}, absorbed) if r.get("as_of") is not None]
    if as_of:
        new["as_of"] = max(as_of)
    new["state"] = _state_values(state)
    new["seen"] = "".join(list(dict.fromkeys(seen))[-limit:])
    new["absorbed"] = [*done, absorbed_id][-limit:]
    return new


def scored_as_of(record: Mapping[str, Any]) -> datetime | None:
    """The event time of the record's last score (None before its first)."""
    at = record.get("as_of")
    return None if at is None else datetime.fromtimestamp(float(at), UTC)


def _posix(at: datetime) -> float:
    return at.timestamp()


def _contract_score(
    customer_id: str, s: Score, *, computed_at: datetime, absorbed: int = 0
) -> Event[contract.ScoreUpdated]:
    reasons = tuple(
        contract.ChurnReason(
            code=r.code.value,
            contribution=r.contribution,
            share=min(max(r.share, 0.0), 1.0),
            params=dict(r.params),
            text=r.text,
        )
        for r in s.churn.reasons
    )
    data = contract.ScoreUpdated(
        loyalty=contract.LoyaltyScore(score=s.loyalty.score, band=s.loyalty.band.value),
        churn=contract.ChurnRisk(
            risk=s.churn.risk,
            band=ContractBand(s.churn.band.value),
            horizon_days=s.churn.horizon_days,
            reasons=reasons,
        ),
        value_tier=ContractTier(s.value_tier.value),
        lifecycle=ContractLifecycle(s.lifecycle.value),
        trend=s.trend.value,
        model_version=s.model_version,
        computed_at=computed_at,
        as_of=s.as_of,
        features=dict(s.features),
    )
    seed = f"score|{customer_id}|{s.as_of.isoformat()}|{s.model_version}"
    if absorbed:
        # A merge changes the score without moving its as-of; the id must change with it
        # (downstream consumers dedupe by id), and stay the same on a replay.
        seed += f"|absorbed={absorbed}"
    event_id = str(uuid.uuid5(_ID_NAMESPACE, seed))
    return new_event(data, subject=customer_id, source=SOURCE, time=s.as_of, event_id=event_id)


def _alert(
    customer_id: str, previous: ChurnBand, s: Score, updated: Event[contract.ScoreUpdated]
) -> Event[contract.ChurnAlertRaised]:
    data = contract.ChurnAlertRaised(
        from_band=ContractBand(previous.value),
        to_band=ContractBand(s.churn.band.value),
        risk=s.churn.risk,
        reasons=updated.data.churn.reasons,
    )
    event_id = str(
        uuid.uuid5(_ID_NAMESPACE, f"alert|{customer_id}|{s.as_of.isoformat()}|{s.churn.band.value}")
    )
    return new_event(data, subject=customer_id, source=SOURCE, time=s.as_of, event_id=event_id)


def rescore(
    record: Mapping[str, Any] | None,
    *,
    customer_id: str,
    as_of: datetime,
    computed_at: datetime,
    params: ScoringParams = DEFAULT_PARAMS,
    state: FeatureState | None = None,
) -> Rescored:
    """Score the customer as of `as_of` (event time, moved up to the latest folded event),
    decide whether the churn band rose past the last alert, and plan the next review.

    The first score sets the alert baseline without alerting; a band that falls lowers the
    baseline, so the next rise alerts again (once per crossing, no storms). `state` is the
    record's state when the caller has it at hand (`Folded.state`): not decoded again."""
    if state is None:
        state = state_of(record)
    previous_risk = None if not record else record.get("last_risk")
    s = score(state, as_of=as_of, params=params, previous_risk=previous_risk)
    absorbed = len(record.get("absorbed", ())) if record else 0
    updated = _contract_score(customer_id, s, computed_at=computed_at, absorbed=absorbed)
    baseline = None if not record else record.get("alerted_band")
    alert = None
    if baseline is not None and _BAND_RANK[s.churn.band] > _BAND_RANK[ChurnBand(baseline)]:
        alert = _alert(customer_id, ChurnBand(baseline), s, updated)
    new: CustomerRecord = dict(record or {})
    if not isinstance(new.get("state"), list):  # scoring leaves the state as it is; lay it out once
        new["state"] = _state_values(state)
    new["last_risk"] = s.churn.risk
    new["alerted_band"] = s.churn.band.value
    new["as_of"] = _posix(s.as_of)
    # The review is only pencilled in (`review_min` after the score) and planned by the
    # sweeper once that time has come (`plan_review`): planning probes the score at six or
    # more future times, two thirds of a score's CPU, and a customer whose next event comes
    # within the hour never needs it. The next review is the same either way.
    new["next_review_at"] = _posix(s.as_of + params.review_min)
    new["review_planned"] = False
    return Rescored(record=new, score=s, updated=updated, alert=alert)


def plan_review(
    record: CustomerRecord, now: datetime, params: ScoringParams = DEFAULT_PARAMS
) -> CustomerRecord:
    """The record with its next review planned (the record itself when it was): when the score
    of its last `as_of` would next change materially with no new event (`next_review_at`), never
    before `review_min` after it, which is when the sweeper first finds it due. A score of the
    past (a replayed history, `review_max` old) is due whatever its next change: left due, no
    probes spent. Records written before this step hold a planned review."""
    as_of = scored_as_of(record)
    if record.get("review_planned", True) or as_of is None:
        return record
    new: CustomerRecord = dict(record)
    new["review_planned"] = True
    if as_of + params.review_max > now:
        new["next_review_at"] = _posix(next_review_at(state_of(record), params, as_of))
    return new


def is_due(record: Mapping[str, Any], now: datetime) -> bool:
    """Whether the customer's `next_review_at` has passed at `now`."""
    due = record.get("next_review_at")
    return due is not None and float(due) <= now.timestamp()


def review_time(record: Mapping[str, Any]) -> datetime | None:
    """The record's `next_review_at` as an aware datetime."""
    due = record.get("next_review_at")
    return None if due is None else datetime.fromtimestamp(float(due), UTC)
