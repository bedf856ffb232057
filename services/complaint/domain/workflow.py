"""The complaint workflow: states and legal transitions, resolution, escalation, categories.

Everything here is a pure function or an immutable value. Event times are passed in by the
caller (never read from a clock), so replaying the same events always gives the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

# The CRM's vocabulary is defined once, with the event contracts; the domain speaks it too.
from shared.events.vocabulary import ComplaintCategory as Category
from shared.events.vocabulary import (
    ComplaintState,
    EscalationReason,
    RootCause,
    RootCauseSide,
    Severity,
    Validity,
)

__all__ = [
    "DEFAULT_REOPEN_WINDOW",
    "MAX_ESCALATION_LEVEL",
    "Category",
    "ComplaintRuleViolation",
    "ComplaintState",
    "Escalation",
    "EscalationLimitReached",
    "EscalationNotAllowed",
    "EscalationReason",
    "IllegalTransition",
    "InvalidResolution",
    "InvalidSubcategory",
    "ReopenWindowExpired",
    "Resolution",
    "ResolutionRequired",
    "RootCause",
    "RootCauseSide",
    "Severity",
    "Subcategory",
    "Validity",
    "allowed_transitions",
    "as_utc",
    "can_escalate",
    "check_subcategory",
    "escalate",
    "subcategories_of",
    "transition",
]


class Subcategory(StrEnum):
    LEAKAGE = "leakage"
    DENTS_DEFORMATION = "dents_deformation"
    COATING_PRINTING_DEFECT = "coating_printing_defect"
    VALVE_PRESSURE = "valve_pressure"
    DIMENSIONS = "dimensions"
    LATE = "late"
    WRONG_QUANTITY = "wrong_quantity"
    DAMAGED = "damaged"


DEFAULT_REOPEN_WINDOW = timedelta(days=30)
MAX_ESCALATION_LEVEL = 3

# Declaration order of the targets is the order `allowed_transitions` promises, so a 409 body
# lists them the same way every time.
_TRANSITIONS: Mapping[ComplaintState, tuple[ComplaintState, ...]] = MappingProxyType(
    {
        ComplaintState.NEW: (ComplaintState.ACKNOWLEDGED,),
        ComplaintState.ACKNOWLEDGED: (ComplaintState.IN_PROGRESS,),
        # Resolving straight from waiting_customer is refused on purpose: the agent first takes
        # the complaint back (which also restarts the paused SLA clock) and then resolves it, so
        # every resolution is made by someone actively working the case.
        ComplaintState.IN_PROGRESS: (ComplaintState.WAITING_CUSTOMER, ComplaintState.RESOLVED),
        ComplaintState.WAITING_CUSTOMER: (ComplaintState.IN_PROGRESS,),
        ComplaintState.RESOLVED: (ComplaintState.CLOSED, ComplaintState.REOPENED),
        ComplaintState.CLOSED: (ComplaintState.REOPENED,),
        ComplaintState.REOPENED: (ComplaintState.IN_PROGRESS,),
    }
)

_SUBCATEGORIES: Mapping[Category, tuple[Subcategory, ...]] = MappingProxyType(
    {
        Category.PRODUCT_QUALITY: (
            Subcategory.LEAKAGE,
            Subcategory.DENTS_DEFORMATION,
            Subcategory.COATING_PRINTING_DEFECT,
            Subcategory.VALVE_PRESSURE,
            Subcategory.DIMENSIONS,
        ),
        Category.DELIVERY: (Subcategory.LATE, Subcategory.WRONG_QUANTITY, Subcategory.DAMAGED),
        Category.SERVICE: (),
        Category.BILLING: (),
        Category.OTHER: (),
    }
)

_NOT_ESCALATABLE = frozenset({ComplaintState.RESOLVED, ComplaintState.CLOSED})


class ComplaintRuleViolation(Exception):
    """A command breaks a rule of the complaint domain (the caller gets a 4xx, not a 500)."""


class IllegalTransition(ComplaintRuleViolation):
    """`target` cannot be reached from `current`; `allowed` lists what can be reached now."""

    def __init__(
        self,
        current: ComplaintState,
        target: ComplaintState,
        allowed: tuple[ComplaintState, ...],
        detail: str | None = None,
    ) -> None:
        self.current = current
        self.target = target
        self.allowed = allowed
        super().__init__(
            detail
            or f"a {current} complaint cannot become {target}; allowed: "
            + (", ".join(allowed) or "none")
        )


class ReopenWindowExpired(IllegalTransition):
    """Reopening came after `deadline`; `allowed` is what is still possible without reopening."""

    def __init__(
        self,
        current: ComplaintState,
        allowed: tuple[ComplaintState, ...],
        *,
        at: datetime,
        deadline: datetime,
    ) -> None:
        self.at = at
        self.deadline = deadline
        super().__init__(
            current,
            ComplaintState.REOPENED,
            allowed,
            detail=f"a {current} complaint could be reopened until {deadline.isoformat()}, "
            f"not at {at.isoformat()}",
        )


class ResolutionRequired(ComplaintRuleViolation):
    """Resolving a complaint without saying how it was resolved."""


class InvalidResolution(ComplaintRuleViolation):
    """A resolution whose parts do not fit together."""


class EscalationNotAllowed(ComplaintRuleViolation):
    """Escalating a complaint in a state where nobody works on it any more."""

    def __init__(self, state: ComplaintState) -> None:
        self.state = state
        super().__init__(f"a {state} complaint cannot be escalated")


class EscalationLimitReached(ComplaintRuleViolation):
    """Escalating a complaint that is already at the top level."""

    def __init__(self, level: int) -> None:
        self.level = level
        super().__init__(f"complaint is already at escalation level {level}, the highest")


class InvalidSubcategory(ComplaintRuleViolation):
    """A subcategory that does not belong to the complaint's category."""

    def __init__(
        self, category: Category, subcategory: Subcategory, allowed: tuple[Subcategory, ...]
    ) -> None:
        self.category = category
        self.subcategory = subcategory
        self.allowed = allowed
        super().__init__(
            f"{subcategory} is not a subcategory of {category}; allowed: "
            + (", ".join(allowed) or "none")
        )


def as_utc(moment: datetime, *, name: str = "moment") -> datetime:
    """`moment` as a UTC datetime; a naive datetime is refused with ValueError.

    A naive datetime has no instant attached to it, and guessing a zone would silently shift
    due times by hours, so the domain refuses it rather than assume.
    """
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Resolution:
    """How a complaint was resolved: validity judgement, root cause and corrective action.

    An upheld complaint admits a failure on the company's side, so it must say what is done
    about it: `corrective_action` is required (non-blank) when `validity` is upheld. A rejected
    complaint has nothing to correct; a corrective action may still be recorded (e.g. a usage
    instruction sent to the customer) but is optional. Validity and root cause are recorded as
    judged and not cross-checked: an upheld complaint with a customer-side cause (say, an
    expectation the sales desk set wrongly) is a legitimate finding.
    """

    validity: Validity
    root_cause: RootCause
    corrective_action: str = ""

    def __post_init__(self) -> None:
        if self.validity is Validity.UPHELD and not self.corrective_action.strip():
            raise InvalidResolution("an upheld complaint needs a corrective action")


@dataclass(frozen=True)
class Escalation:
    """One step up the escalation ladder, from `from_level` to `to_level`."""

    from_level: int
    to_level: int
    reason: EscalationReason


def allowed_transitions(state: ComplaintState) -> tuple[ComplaintState, ...]:
    """The states a complaint in `state` may move to, in a stable order.

    Reopening is listed even though it is also bound by the reopen window; `transition` is
    what checks the window.
    """
    return _TRANSITIONS[state]


def transition(
    current: ComplaintState,
    target: ComplaintState,
    *,
    at: datetime | None = None,
    resolution: Resolution | None = None,
    resolved_at: datetime | None = None,
    closed_at: datetime | None = None,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> ComplaintState:
    """Move a complaint from `current` to `target` and return the new state.

    Raises IllegalTransition (with the allowed targets) when the workflow has no such edge.
    Resolving needs a `resolution` (ResolutionRequired otherwise). Reopening needs the event
    time `at` and is allowed up to and including `reopen_window` after the complaint entered
    its current state: `resolved_at` (its latest resolution) for a resolved complaint,
    `closed_at` for a closed one; later it raises ReopenWindowExpired, an IllegalTransition
    whose `allowed` no longer includes reopened. Missing, naive or out-of-order timestamps
    for a reopen raise ValueError.
    """
    allowed = allowed_transitions(current)
    if target not in allowed:
        raise IllegalTransition(current, target, allowed)
    if target is ComplaintState.RESOLVED and resolution is None:
        raise ResolutionRequired("resolving a complaint needs a resolution")
    if target is ComplaintState.REOPENED:
        _check_reopen_window(
            current,
            at=at,
            entered_at=resolved_at if current is ComplaintState.RESOLVED else closed_at,
            window=reopen_window,
        )
    return target


def _check_reopen_window(
    current: ComplaintState,
    *,
    at: datetime | None,
    entered_at: datetime | None,
    window: timedelta,
) -> None:
    entered_name = "resolved_at" if current is ComplaintState.RESOLVED else "closed_at"
    if at is None or entered_at is None:
        raise ValueError(f"reopening a {current} complaint needs `at` and `{entered_name}`")
    if window < timedelta(0):
        raise ValueError(f"reopen window must not be negative, got {window}")
    reopened = as_utc(at, name="at")
    entered = as_utc(entered_at, name=entered_name)
    if reopened < entered:
        raise ValueError(
            f"reopen at {reopened.isoformat()} precedes {entered_name} {entered.isoformat()}"
        )
    deadline = entered + window
    if reopened > deadline:
        still_allowed = tuple(s for s in _TRANSITIONS[current] if s is not ComplaintState.REOPENED)
        raise ReopenWindowExpired(current, still_allowed, at=reopened, deadline=deadline)


def can_escalate(current_level: int, *, state: ComplaintState) -> bool:
    """Whether `escalate` would succeed: the complaint is still being worked on and below
    the top level. Lets an SLA-breach handler skip quietly instead of catching an error."""
    _check_level(current_level)
    return state not in _NOT_ESCALATABLE and current_level < MAX_ESCALATION_LEVEL


def escalate(current_level: int, *, reason: EscalationReason, state: ComplaintState) -> Escalation:
    """Raise a complaint one escalation level (0 = never escalated, top = 3).

    Raises EscalationNotAllowed for a resolved or closed complaint (nobody works on it, so
    there is no one to escalate to), EscalationLimitReached at the top level, and ValueError
    for a level outside 0..3.
    """
    _check_level(current_level)
    if state in _NOT_ESCALATABLE:
        raise EscalationNotAllowed(state)
    if current_level >= MAX_ESCALATION_LEVEL:
        raise EscalationLimitReached(current_level)
    return Escalation(from_level=current_level, to_level=current_level + 1, reason=reason)


def _check_level(level: int) -> None:
    if not 0 <= level <= MAX_ESCALATION_LEVEL:
        raise ValueError(f"escalation level must be within 0..{MAX_ESCALATION_LEVEL}, got {level}")


def subcategories_of(category: Category) -> tuple[Subcategory, ...]:
    """The subcategories a complaint of `category` may carry (empty when it has none)."""
    return _SUBCATEGORIES[category]


def check_subcategory(category: Category, subcategory: Subcategory | None) -> None:
    """Raise InvalidSubcategory unless `subcategory` belongs to `category`.

    No subcategory is always acceptable: the agent taking the call may not know yet which
    defect it is, and the category alone already routes the complaint.
    """
    if subcategory is None:
        return
    allowed = subcategories_of(category)
    if subcategory not in allowed:
        raise InvalidSubcategory(category, subcategory, allowed)
