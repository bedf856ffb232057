"""SLA clocks of complaints on a business-hours calendar.

All functions are pure and work on event time passed in by the caller; datetimes go in
timezone-aware (any zone; naive ones raise ValueError) and come out in UTC.

Default policies (assumptions: the product brief gives no numbers yet, so these are starting
values to be confirmed with the customer-service lead):

==========  ==============  ================  ===========================
severity    first response  resolution        clock
==========  ==============  ================  ===========================
critical    1 h             8 h               wall clock, 24×7
high        4 h             16 h (2 days)     business hours
medium      8 h             40 h (5 days)     business hours
low         16 h            80 h (10 days)    business hours
==========  ==============  ================  ===========================

"Days" above are 8-hour working days; the durations themselves are what counts. Critical
complaints (e.g. leaking aerosol cans on a customer's filling line) run on the wall clock
because the customer's line stops at night and on weekends too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.complaint.domain.workflow import Severity, as_utc
from shared.events.vocabulary import SlaTarget

__all__ = [
    "DEFAULT_SLA_POLICIES",
    "Breach",
    "BusinessCalendar",
    "Pause",
    "SlaClock",
    "SlaDue",
    "SlaPolicy",
    "SlaTarget",
    "Weekday",
    "add_business_time",
    "breaches",
    "business_time_between",
    "due_times",
]

_ZERO = timedelta(0)


class Weekday(IntEnum):
    """Days of the week numbered like `date.weekday()`."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


_MONDAY_TO_FRIDAY = frozenset(
    {Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY}
)


@dataclass(frozen=True)
class BusinessCalendar:
    """When the complaint desk works.

    A date is a working day when its weekday is in `working_days` and it is not in
    `holidays`, or when it is in `extra_working_days` (make-up workdays, 调休: e.g. a Saturday
    worked to bridge a public holiday). On a working day the desk is open during each
    `opening_hours` interval, read in `time_zone`; intervals are sorted and disjoint, so a
    lunch break is two intervals, e.g. ((09:00, 12:00), (13:00, 18:00)).
    """

    time_zone: str = "Asia/Shanghai"
    working_days: frozenset[Weekday] = _MONDAY_TO_FRIDAY
    opening_hours: tuple[tuple[time, time], ...] = ((time(9, 0), time(18, 0)),)
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        # Without a working weekday, business time could stop forever after the last
        # make-up day, and a due time would never come.
        if not self.working_days:
            raise ValueError("a business calendar needs at least one working weekday")
        if not self.opening_hours:
            raise ValueError("a business calendar needs opening hours")
        previous_close: time | None = None
        for opens, closes in self.opening_hours:
            if opens.tzinfo is not None or closes.tzinfo is not None:
                raise ValueError("opening hours are local times without a zone")
            if opens >= closes:
                raise ValueError(f"opening hours {opens}–{closes} must open before closing")
            if previous_close is not None and opens < previous_close:
                raise ValueError("opening hours must be sorted and must not overlap")
            previous_close = closes
        both = self.holidays & self.extra_working_days
        if both:
            listed = ", ".join(sorted(day.isoformat() for day in both))
            raise ValueError(f"dates both holiday and extra working day: {listed}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        """Whether the desk opens at all on local date `day`."""
        if day in self.extra_working_days:
            return True
        return day.weekday() in self.working_days and day not in self.holidays

    def opening_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open intervals of local date `day` as UTC instants (empty on a day off)."""
        if not self.is_working_day(day):
            return ()
        zone = self.zone
        return tuple(
            (
                datetime.combine(day, opens, tzinfo=zone).astimezone(UTC),
                datetime.combine(day, closes, tzinfo=zone).astimezone(UTC),
            )
            for opens, closes in self.opening_hours
        )


def _open_intervals_from(
    calendar: BusinessCalendar, moment: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's open intervals that end after `moment`, in order, without end."""
    day = moment.astimezone(calendar.zone).date()
    while True:
        for opens, closes in calendar.opening_intervals(day):
            if closes > moment:
                yield opens, closes
        day += timedelta(days=1)


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of business time has elapsed since `start`.

    A start outside opening hours counts from the next opening; the result therefore always
    lies within (or at the closing edge of) an open interval. A zero duration is due at
    `start` itself. Raises ValueError for a naive `start` or a negative duration.
    """
    cursor = as_utc(start, name="start")
    if duration < _ZERO:
        raise ValueError(f"duration must not be negative, got {duration}")
    if duration == _ZERO:
        return cursor
    remaining = duration
    for opens, closes in _open_intervals_from(calendar, cursor):
        begin = max(opens, cursor)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: a business calendar always opens again")


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """How much business time lies between `start` and `end`.

    Raises ValueError for naive datetimes or when `end` precedes `start`.
    """
    begin = as_utc(start, name="start")
    finish = as_utc(end, name="end")
    if finish < begin:
        raise ValueError(f"end {finish.isoformat()} precedes start {begin.isoformat()}")
    total = _ZERO
    for opens, closes in _open_intervals_from(calendar, begin):
        if opens >= finish:
            break
        total += min(closes, finish) - max(opens, begin)
    return total


@dataclass(frozen=True)
class SlaPolicy:
    """The SLA targets of one severity.

    `business_hours` says which clock the durations run on: the business calendar, or the
    wall clock around the clock (24×7).
    """

    first_response: timedelta
    resolution: timedelta
    business_hours: bool = True

    def __post_init__(self) -> None:
        if self.first_response <= _ZERO or self.resolution <= _ZERO:
            raise ValueError("SLA durations must be positive")

    def add(self, calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
        """`start` plus `duration` on this policy's clock."""
        if self.business_hours:
            return add_business_time(calendar, start, duration)
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        return as_utc(start, name="start") + duration

    def elapsed(self, calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
        """Time between `start` and `end` on this policy's clock."""
        if self.business_hours:
            return business_time_between(calendar, start, end)
        begin, finish = as_utc(start, name="start"), as_utc(end, name="end")
        if finish < begin:
            raise ValueError(f"end {finish.isoformat()} precedes start {begin.isoformat()}")
        return finish - begin


DEFAULT_SLA_POLICIES: Mapping[Severity, SlaPolicy] = MappingProxyType(
    {
        Severity.CRITICAL: SlaPolicy(
            first_response=timedelta(hours=1),
            resolution=timedelta(hours=8),
            business_hours=False,
        ),
        Severity.HIGH: SlaPolicy(first_response=timedelta(hours=4), resolution=timedelta(hours=16)),
        Severity.MEDIUM: SlaPolicy(
            first_response=timedelta(hours=8), resolution=timedelta(hours=40)
        ),
        Severity.LOW: SlaPolicy(first_response=timedelta(hours=16), resolution=timedelta(hours=80)),
    }
)


@dataclass(frozen=True)
class Pause:
    """An interval during which the resolution clock stood still."""

    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class SlaClock:
    """One complaint's SLA clock, built from its events.

    The resolution clock stands still while the complaint waits for the customer (`pause` /
    `resume`) and between a resolution and a reopening (`reopen` records that interval as a
    pause), so a reopened complaint has the rest of its original allowance, not a fresh one
    and not an instant breach. The first-response clock never pauses: waiting_customer is
    only reachable after the complaint was acknowledged, and a silent customer is no reason
    to leave a complaint unacknowledged.

    Transitions return a new clock and raise ValueError for events that contradict it
    (pausing twice, resolving while paused, an event earlier than the previous one).
    """

    opened_at: datetime
    pauses: tuple[Pause, ...] = ()
    paused_since: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        opened = as_utc(self.opened_at, name="opened_at")
        previous = opened
        for pause in self.pauses:
            started = as_utc(pause.started_at, name="pause started_at")
            ended = as_utc(pause.ended_at, name="pause ended_at")
            if started < previous or ended < started:
                raise ValueError("pauses must be ordered, disjoint and after opened_at")
            previous = ended
        if self.paused_since is not None:
            if as_utc(self.paused_since, name="paused_since") < previous:
                raise ValueError("paused_since must follow opened_at and earlier pauses")
            if self.resolved_at is not None:
                raise ValueError("a resolved clock cannot be paused")
        for name, moment in (
            ("first_response_at", self.first_response_at),
            ("resolved_at", self.resolved_at),
        ):
            if moment is not None and as_utc(moment, name=name) < opened:
                raise ValueError(f"{name} precedes opened_at")

    @property
    def is_paused(self) -> bool:
        return self.paused_since is not None

    def pause(self, at: datetime) -> SlaClock:
        """The clock stopped at `at` (the complaint now waits for the customer)."""
        if self.paused_since is not None:
            raise ValueError("the SLA clock is already paused")
        if self.resolved_at is not None:
            raise ValueError("a resolved complaint's SLA clock cannot be paused")
        return replace(self, paused_since=self._not_before_last(at))

    def resume(self, at: datetime) -> SlaClock:
        """The clock running again from `at` (the customer answered)."""
        if self.paused_since is None:
            raise ValueError("the SLA clock is not paused")
        pause = Pause(started_at=self.paused_since, ended_at=self._not_before_last(at))
        return replace(self, pauses=(*self.pauses, pause), paused_since=None)

    def respond(self, at: datetime) -> SlaClock:
        """The first response given at `at` (the complaint was acknowledged)."""
        if self.first_response_at is not None:
            raise ValueError("the first response is already recorded")
        return replace(self, first_response_at=self._not_before_opened(at))

    def resolve(self, at: datetime) -> SlaClock:
        """The complaint resolved at `at`."""
        if self.resolved_at is not None:
            raise ValueError("the complaint is already resolved")
        if self.paused_since is not None:
            raise ValueError("a paused SLA clock cannot be resolved; resume it first")
        return replace(self, resolved_at=self._not_before_last(at))

    def reopen(self, at: datetime) -> SlaClock:
        """The complaint reopened at `at`; the time it spent resolved does not count."""
        if self.resolved_at is None:
            raise ValueError("only a resolved complaint can be reopened")
        pause = Pause(started_at=self.resolved_at, ended_at=self._not_before_last(at))
        return replace(self, pauses=(*self.pauses, pause), resolved_at=None)

    def _last_event_at(self) -> datetime:
        candidates = [self.opened_at]
        if self.pauses:
            candidates.append(self.pauses[-1].ended_at)
        candidates.extend(
            moment for moment in (self.paused_since, self.resolved_at) if moment is not None
        )
        return max(candidates)

    def _not_before_last(self, at: datetime) -> datetime:
        moment = as_utc(at, name="at")
        last = self._last_event_at()
        if moment < last:
            raise ValueError(f"event at {moment.isoformat()} precedes {last.isoformat()}")
        return moment

    def _not_before_opened(self, at: datetime) -> datetime:
        moment = as_utc(at, name="at")
        if moment < self.opened_at:
            raise ValueError(f"event at {moment.isoformat()} precedes opened_at")
        return moment


@dataclass(frozen=True)
class SlaDue:
    """When the SLA targets fall due. `resolution_due` is None while the clock is paused and
    the allowance is not yet used up: nobody can tell when the customer will answer."""

    first_response_due: datetime
    resolution_due: datetime | None


@dataclass(frozen=True)
class Breach:
    """An SLA target not met by its due time."""

    target: SlaTarget
    due_at: datetime


def due_times(clock: SlaClock, policy: SlaPolicy, calendar: BusinessCalendar) -> SlaDue:
    """The due times of `clock` under `policy`.

    First response is due `policy.first_response` after opening. Resolution is due when the
    clock has run (outside pauses) for `policy.resolution`, i.e. every pause before the due
    time pushes it out by the time paused on the policy's clock; a pause that starts after
    the due time cannot undo it.
    """
    return SlaDue(
        first_response_due=policy.add(calendar, clock.opened_at, policy.first_response),
        resolution_due=_resolution_due(clock, policy, calendar),
    )


def breaches(
    clock: SlaClock, policy: SlaPolicy, calendar: BusinessCalendar, *, now: datetime
) -> list[Breach]:
    """The targets breached as of event time `now`, first response before resolution.

    A target is met when its event happened at or before its due time (the due instant itself
    is on time); it is breached once `now` is past the due time and it was not met by then,
    whether it was met late or not at all. Asking again with the same inputs gives the same
    answer, so a scheduler can re-run it freely and dedupe by (complaint, target).
    """
    moment = as_utc(now, name="now")
    due = due_times(clock, policy, calendar)
    found: list[Breach] = []
    for target, due_at, met_at in (
        (SlaTarget.FIRST_RESPONSE, due.first_response_due, clock.first_response_at),
        (SlaTarget.RESOLUTION, due.resolution_due, clock.resolved_at),
    ):
        if due_at is None or moment <= due_at:
            continue
        if met_at is not None and met_at <= due_at:
            continue
        found.append(Breach(target=target, due_at=due_at))
    return found


def _resolution_due(
    clock: SlaClock, policy: SlaPolicy, calendar: BusinessCalendar
) -> datetime | None:
    # Walk the stretches during which the clock ran, spending the allowance on each; the
    # due time lies in the stretch where it runs out.
    remaining = policy.resolution
    running_from = clock.opened_at
    for pause in clock.pauses:
        ran = policy.elapsed(calendar, running_from, pause.started_at)
        if ran >= remaining:
            return policy.add(calendar, running_from, remaining)
        remaining -= ran
        running_from = pause.ended_at
    if clock.paused_since is not None:
        ran = policy.elapsed(calendar, running_from, clock.paused_since)
        if ran < remaining:
            return None
    return policy.add(calendar, running_from, remaining)
