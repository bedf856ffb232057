from datetime import UTC, datetime, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest

from services.complaint.domain.workflow import (
    DEFAULT_REOPEN_WINDOW,
    MAX_ESCALATION_LEVEL,
    Category,
    ComplaintRuleViolation,
    ComplaintState,
    Escalation,
    EscalationLimitReached,
    EscalationNotAllowed,
    EscalationReason,
    IllegalTransition,
    InvalidResolution,
    InvalidSubcategory,
    ReopenWindowExpired,
    Resolution,
    ResolutionRequired,
    RootCause,
    RootCauseSide,
    Severity,
    Subcategory,
    Validity,
    allowed_transitions,
    as_utc,
    can_escalate,
    check_subcategory,
    escalate,
    subcategories_of,
    transition,
)

S = ComplaintState

# The workflow as the product issue states it, written out independently of the module.
LEGAL: frozenset[tuple[ComplaintState, ComplaintState]] = frozenset(
    {
        (S.NEW, S.ACKNOWLEDGED),
        (S.ACKNOWLEDGED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.WAITING_CUSTOMER),
        (S.WAITING_CUSTOMER, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.RESOLVED),
        (S.RESOLVED, S.CLOSED),
        (S.RESOLVED, S.REOPENED),
        (S.CLOSED, S.REOPENED),
        (S.REOPENED, S.IN_PROGRESS),
    }
)

RESOLVED_AT = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
CLOSED_AT = RESOLVED_AT + timedelta(days=10)
UPHELD = Resolution(
    validity=Validity.UPHELD,
    root_cause=RootCause.QUALITY,
    corrective_action="Re-calibrate crimping head on line 3; 100% leak test for 2 weeks",
)


def _move(current: ComplaintState, target: ComplaintState) -> ComplaintState:
    """`transition` with whatever the target needs, reopening one day after settling."""
    return transition(
        current,
        target,
        at=CLOSED_AT + timedelta(days=1),
        resolution=UPHELD,
        resolved_at=RESOLVED_AT,
        closed_at=CLOSED_AT,
    )


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_exactly_the_legal_transitions_are_accepted(
    current: ComplaintState, target: ComplaintState
) -> None:
    if (current, target) in LEGAL:
        assert _move(current, target) is target
    else:
        with pytest.raises(IllegalTransition) as caught:
            _move(current, target)
        assert caught.value.current is current
        assert caught.value.target is target
        assert set(caught.value.allowed) == {t for (c, t) in LEGAL if c is current}
        assert caught.value.allowed == allowed_transitions(current)


@pytest.mark.parametrize("state", list(S))
def test_allowed_transitions_match_the_workflow(state: ComplaintState) -> None:
    allowed = allowed_transitions(state)
    assert set(allowed) == {t for (c, t) in LEGAL if c is state}
    assert len(allowed) == len(set(allowed))


def test_illegal_transition_is_a_rule_violation_with_a_readable_message() -> None:
    with pytest.raises(ComplaintRuleViolation, match=r"cannot become resolved.*in_progress"):
        transition(S.WAITING_CUSTOMER, S.RESOLVED, resolution=UPHELD)


def test_closed_complaint_lists_reopened_as_only_way_out() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transition(S.CLOSED, S.IN_PROGRESS)
    assert caught.value.allowed == (S.REOPENED,)


def test_state_values_are_the_wire_names() -> None:
    assert [state.value for state in S] == [
        "new",
        "acknowledged",
        "in_progress",
        "waiting_customer",
        "resolved",
        "closed",
        "reopened",
    ]
    assert [severity.value for severity in Severity] == ["low", "medium", "high", "critical"]


# --- resolution ---------------------------------------------------------------------------


def test_resolving_without_resolution_is_refused() -> None:
    with pytest.raises(ResolutionRequired):
        transition(S.IN_PROGRESS, S.RESOLVED)


@pytest.mark.parametrize("action", ["", "   ", "\n\t"])
def test_upheld_resolution_needs_a_corrective_action(action: str) -> None:
    with pytest.raises(InvalidResolution, match="corrective action"):
        Resolution(
            validity=Validity.UPHELD, root_cause=RootCause.DELIVERY, corrective_action=action
        )


def test_rejected_resolution_may_go_without_corrective_action() -> None:
    rejected = Resolution(validity=Validity.REJECTED, root_cause=RootCause.MISUSE)
    assert rejected.corrective_action == ""
    assert transition(S.IN_PROGRESS, S.RESOLVED, resolution=rejected) is S.RESOLVED


def test_rejected_resolution_may_record_a_corrective_action() -> None:
    rejected = Resolution(
        validity=Validity.REJECTED,
        root_cause=RootCause.EXPECTATION,
        corrective_action="Sent the customer the valve's pressure specification",
    )
    assert rejected.corrective_action.startswith("Sent")


def test_upheld_resolution_with_customer_side_cause_is_accepted() -> None:
    upheld = Resolution(
        validity=Validity.UPHELD,
        root_cause=RootCause.EXPECTATION,
        corrective_action="Correct the datasheet sales hands out",
    )
    assert upheld.root_cause.side is RootCauseSide.CUSTOMER


@pytest.mark.parametrize(
    ("cause", "side"),
    [
        (RootCause.QUALITY, RootCauseSide.COMPANY),
        (RootCause.DELIVERY, RootCauseSide.COMPANY),
        (RootCause.SERVICE, RootCauseSide.COMPANY),
        (RootCause.MISUSE, RootCauseSide.CUSTOMER),
        (RootCause.EXPECTATION, RootCauseSide.CUSTOMER),
    ],
)
def test_root_cause_side(cause: RootCause, side: RootCauseSide) -> None:
    assert cause.side is side


def test_resolution_is_immutable() -> None:
    with pytest.raises(AttributeError):
        UPHELD.corrective_action = ""  # type: ignore[misc]


# --- reopen window ------------------------------------------------------------------------


def test_resolved_complaint_reopens_up_to_and_including_the_window_end() -> None:
    at = RESOLVED_AT + DEFAULT_REOPEN_WINDOW
    assert transition(S.RESOLVED, S.REOPENED, at=at, resolved_at=RESOLVED_AT) is S.REOPENED


def test_resolved_complaint_cannot_reopen_after_the_window() -> None:
    at = RESOLVED_AT + DEFAULT_REOPEN_WINDOW + timedelta(microseconds=1)
    with pytest.raises(ReopenWindowExpired) as caught:
        transition(S.RESOLVED, S.REOPENED, at=at, resolved_at=RESOLVED_AT)
    assert caught.value.deadline == RESOLVED_AT + timedelta(days=30)
    assert caught.value.at == at
    assert caught.value.current is S.RESOLVED
    assert caught.value.target is S.REOPENED
    assert caught.value.allowed == (S.CLOSED,)


def test_reopening_at_the_moment_of_resolution_is_allowed() -> None:
    assert transition(S.RESOLVED, S.REOPENED, at=RESOLVED_AT, resolved_at=RESOLVED_AT) is S.REOPENED


def test_closed_complaint_window_runs_from_closing() -> None:
    later_than_resolution_window = RESOLVED_AT + DEFAULT_REOPEN_WINDOW + timedelta(days=5)
    assert (
        transition(
            S.CLOSED,
            S.REOPENED,
            at=later_than_resolution_window,
            resolved_at=RESOLVED_AT,
            closed_at=CLOSED_AT,
        )
        is S.REOPENED
    )
    assert (
        transition(S.CLOSED, S.REOPENED, at=CLOSED_AT + DEFAULT_REOPEN_WINDOW, closed_at=CLOSED_AT)
        is S.REOPENED
    )


def test_closed_complaint_cannot_reopen_after_the_window() -> None:
    with pytest.raises(ReopenWindowExpired) as caught:
        transition(
            S.CLOSED,
            S.REOPENED,
            at=CLOSED_AT + DEFAULT_REOPEN_WINDOW + timedelta(microseconds=1),
            closed_at=CLOSED_AT,
        )
    assert caught.value.allowed == ()
    assert isinstance(caught.value, IllegalTransition)


def test_reopen_window_is_configurable() -> None:
    week = timedelta(days=7)
    assert (
        transition(
            S.RESOLVED,
            S.REOPENED,
            at=RESOLVED_AT + week,
            resolved_at=RESOLVED_AT,
            reopen_window=week,
        )
        is S.REOPENED
    )
    with pytest.raises(ReopenWindowExpired):
        transition(
            S.RESOLVED,
            S.REOPENED,
            at=RESOLVED_AT + week + timedelta(seconds=1),
            resolved_at=RESOLVED_AT,
            reopen_window=week,
        )


def test_reopen_window_compares_instants_not_wall_times() -> None:
    shanghai = RESOLVED_AT.astimezone(ZoneInfo("Asia/Shanghai"))
    at = RESOLVED_AT + DEFAULT_REOPEN_WINDOW
    assert transition(S.RESOLVED, S.REOPENED, at=at, resolved_at=shanghai) is S.REOPENED
    with pytest.raises(ReopenWindowExpired):
        transition(S.RESOLVED, S.REOPENED, at=at + timedelta(seconds=1), resolved_at=shanghai)


@pytest.mark.parametrize(
    ("current", "at", "resolved_at", "closed_at"),
    [
        (S.RESOLVED, None, RESOLVED_AT, None),
        (S.RESOLVED, RESOLVED_AT, None, CLOSED_AT),
        (S.CLOSED, CLOSED_AT, RESOLVED_AT, None),
    ],
)
def test_reopening_needs_its_timestamps(
    current: ComplaintState,
    at: datetime | None,
    resolved_at: datetime | None,
    closed_at: datetime | None,
) -> None:
    with pytest.raises(ValueError, match="needs"):
        transition(current, S.REOPENED, at=at, resolved_at=resolved_at, closed_at=closed_at)


def test_reopening_before_the_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="precedes"):
        transition(
            S.RESOLVED, S.REOPENED, at=RESOLVED_AT - timedelta(seconds=1), resolved_at=RESOLVED_AT
        )


def test_reopening_with_naive_datetimes_is_refused() -> None:
    naive = datetime(2025, 3, 4, 8, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        transition(S.RESOLVED, S.REOPENED, at=naive, resolved_at=RESOLVED_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        transition(S.RESOLVED, S.REOPENED, at=RESOLVED_AT, resolved_at=naive)


def test_negative_reopen_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        transition(
            S.RESOLVED,
            S.REOPENED,
            at=RESOLVED_AT,
            resolved_at=RESOLVED_AT,
            reopen_window=timedelta(days=-1),
        )


def test_as_utc_converts_aware_and_refuses_naive() -> None:
    shanghai_nine = datetime(2025, 3, 3, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    converted = as_utc(shanghai_nine)
    assert converted == datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    assert converted.tzinfo is UTC
    with pytest.raises(ValueError, match="opened_at must be timezone-aware"):
        as_utc(datetime(2025, 3, 3, 9, 0), name="opened_at")


# --- escalation ---------------------------------------------------------------------------

ESCALATABLE = [s for s in S if s not in (S.RESOLVED, S.CLOSED)]


@pytest.mark.parametrize("reason", list(EscalationReason))
def test_escalation_climbs_one_level_at_a_time_up_to_three(reason: EscalationReason) -> None:
    level = 0
    for expected in (1, 2, 3):
        step = escalate(level, reason=reason, state=S.IN_PROGRESS)
        assert step == Escalation(from_level=level, to_level=expected, reason=reason)
        level = step.to_level
    assert level == MAX_ESCALATION_LEVEL == 3


def test_escalating_beyond_the_top_level_is_refused() -> None:
    with pytest.raises(EscalationLimitReached) as caught:
        escalate(3, reason=EscalationReason.SLA_BREACH, state=S.IN_PROGRESS)
    assert caught.value.level == 3
    assert isinstance(caught.value, ComplaintRuleViolation)


@pytest.mark.parametrize("state", ESCALATABLE)
def test_open_complaints_can_be_escalated(state: ComplaintState) -> None:
    assert escalate(1, reason=EscalationReason.MANUAL, state=state).to_level == 2
    assert can_escalate(1, state=state)


@pytest.mark.parametrize("state", [S.RESOLVED, S.CLOSED])
def test_settled_complaints_cannot_be_escalated(state: ComplaintState) -> None:
    with pytest.raises(EscalationNotAllowed) as caught:
        escalate(0, reason=EscalationReason.MANUAL, state=state)
    assert caught.value.state is state
    assert not can_escalate(0, state=state)


def test_settled_state_is_reported_before_the_level_limit() -> None:
    with pytest.raises(EscalationNotAllowed):
        escalate(3, reason=EscalationReason.SLA_BREACH, state=S.CLOSED)


def test_can_escalate_is_false_at_the_top_level() -> None:
    assert can_escalate(2, state=S.IN_PROGRESS)
    assert not can_escalate(3, state=S.IN_PROGRESS)


@pytest.mark.parametrize("level", [-1, 4, 99])
def test_escalation_level_outside_range_is_a_bug(level: int) -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.3"):
        escalate(level, reason=EscalationReason.MANUAL, state=S.IN_PROGRESS)
    with pytest.raises(ValueError, match=r"within 0\.\.3"):
        can_escalate(level, state=S.IN_PROGRESS)


# --- categories ---------------------------------------------------------------------------

PAIRS: frozenset[tuple[Category, Subcategory]] = frozenset(
    {
        (Category.PRODUCT_QUALITY, Subcategory.LEAKAGE),
        (Category.PRODUCT_QUALITY, Subcategory.DENTS_DEFORMATION),
        (Category.PRODUCT_QUALITY, Subcategory.COATING_PRINTING_DEFECT),
        (Category.PRODUCT_QUALITY, Subcategory.VALVE_PRESSURE),
        (Category.PRODUCT_QUALITY, Subcategory.DIMENSIONS),
        (Category.DELIVERY, Subcategory.LATE),
        (Category.DELIVERY, Subcategory.WRONG_QUANTITY),
        (Category.DELIVERY, Subcategory.DAMAGED),
    }
)


@pytest.mark.parametrize(("category", "subcategory"), list(product(Category, Subcategory)))
def test_subcategory_must_belong_to_its_category(
    category: Category, subcategory: Subcategory
) -> None:
    if (category, subcategory) in PAIRS:
        check_subcategory(category, subcategory)
    else:
        with pytest.raises(InvalidSubcategory) as caught:
            check_subcategory(category, subcategory)
        assert caught.value.category is category
        assert caught.value.subcategory is subcategory
        assert set(caught.value.allowed) == {s for (c, s) in PAIRS if c is category}


@pytest.mark.parametrize("category", list(Category))
def test_no_subcategory_is_acceptable_for_every_category(category: Category) -> None:
    check_subcategory(category, None)


@pytest.mark.parametrize("category", list(Category))
def test_subcategories_of(category: Category) -> None:
    assert set(subcategories_of(category)) == {s for (c, s) in PAIRS if c is category}


def test_category_values_are_the_wire_names() -> None:
    assert [c.value for c in Category] == [
        "product_quality",
        "delivery",
        "service",
        "billing",
        "other",
    ]
    assert Subcategory("coating_printing_defect") is Subcategory.COATING_PRINTING_DEFECT
