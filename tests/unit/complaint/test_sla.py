from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest

from services.complaint.domain.sla import (
    DEFAULT_SLA_POLICIES,
    Breach,
    BusinessCalendar,
    Pause,
    SlaClock,
    SlaDue,
    SlaPolicy,
    SlaTarget,
    Weekday,
    add_business_time,
    breaches,
    business_time_between,
    due_times,
)
from services.complaint.domain.workflow import Severity

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")

CALENDAR = BusinessCalendar()

# 2025 National Day: 1–8 October off, Sunday 28 September and Saturday 11 October worked.
NATIONAL_DAY = BusinessCalendar(
    holidays=frozenset(date(2025, 10, day) for day in range(1, 9)),
    extra_working_days=frozenset({date(2025, 9, 28), date(2025, 10, 11)}),
)
WITH_LUNCH = BusinessCalendar(opening_hours=((time(9, 0), time(12, 0)), (time(13, 0), time(18, 0))))

HIGH = DEFAULT_SLA_POLICIES[Severity.HIGH]
MEDIUM = DEFAULT_SLA_POLICIES[Severity.MEDIUM]
CRITICAL = DEFAULT_SLA_POLICIES[Severity.CRITICAL]

MICROSECOND = timedelta(microseconds=1)


def sh(day: date, hour: int, minute: int = 0) -> datetime:
    """Shanghai wall time as a UTC instant, which is what the domain speaks."""
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


# 3 March 2025 is a Monday.
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2025, 3, 3) + timedelta(days=n) for n in range(7))
NEXT_MON = date(2025, 3, 10)


# --- calendar -----------------------------------------------------------------------------


def test_shanghai_nine_o_clock_is_one_o_clock_utc() -> None:
    assert sh(MON, 9) == datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    assert CALENDAR.opening_intervals(MON) == (
        (datetime(2025, 3, 3, 1, 0, tzinfo=UTC), datetime(2025, 3, 3, 10, 0, tzinfo=UTC)),
    )


def test_weekend_has_no_opening_hours() -> None:
    assert CALENDAR.opening_intervals(SAT) == ()
    assert CALENDAR.opening_intervals(SUN) == ()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 26), True),  # Friday
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday, make-up workday
        (date(2025, 10, 1), False),  # Wednesday, holiday
        (date(2025, 10, 8), False),  # Wednesday, holiday
        (date(2025, 10, 9), True),  # Thursday
        (date(2025, 10, 11), True),  # Saturday, make-up workday
        (date(2025, 10, 12), False),  # Sunday
    ],
)
def test_holidays_and_make_up_workdays(day: date, working: bool) -> None:
    assert NATIONAL_DAY.is_working_day(day) is working


def test_opening_hours_follow_daylight_saving_time() -> None:
    berlin = BusinessCalendar(time_zone="Europe/Berlin")
    friday_before_switch, monday_after = date(2025, 3, 28), date(2025, 3, 31)
    assert berlin.opening_intervals(friday_before_switch)[0][0] == datetime(
        2025, 3, 28, 8, 0, tzinfo=UTC
    )
    assert berlin.opening_intervals(monday_after)[0][0] == datetime(2025, 3, 31, 7, 0, tzinfo=UTC)


def test_custom_working_days() -> None:
    six_days = BusinessCalendar(working_days=frozenset(Weekday) - {Weekday.SUNDAY})
    assert six_days.is_working_day(SAT)
    assert not six_days.is_working_day(SUN)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"time_zone": ""}, "unknown time zone"),
        ({"working_days": frozenset()}, "working weekday"),
        ({"opening_hours": ()}, "opening hours"),
        ({"opening_hours": ((time(18, 0), time(9, 0)),)}, "open before closing"),
        ({"opening_hours": ((time(9, 0), time(9, 0)),)}, "open before closing"),
        (
            {"opening_hours": ((time(9, 0), time(13, 0)), (time(12, 0), time(18, 0)))},
            "overlap",
        ),
        (
            {"opening_hours": ((time(13, 0), time(18, 0)), (time(9, 0), time(12, 0)))},
            "sorted",
        ),
        ({"opening_hours": ((time(9, 0, tzinfo=UTC), time(18, 0)),)}, "without a zone"),
        (
            {
                "holidays": frozenset({date(2025, 10, 11)}),
                "extra_working_days": frozenset({date(2025, 10, 11)}),
            },
            "2025-10-11",
        ),
    ],
)
def test_inconsistent_calendar_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


# --- add_business_time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        pytest.param(sh(MON, 10), timedelta(hours=2), sh(MON, 12), id="same day"),
        pytest.param(sh(MON, 17), timedelta(hours=1), sh(MON, 18), id="ends exactly at close"),
        pytest.param(sh(MON, 17, 30), timedelta(hours=1), sh(TUE, 9, 30), id="across a night"),
        pytest.param(sh(MON, 7), timedelta(hours=1), sh(MON, 10), id="start before opening"),
        pytest.param(sh(MON, 18), timedelta(hours=1), sh(TUE, 10), id="start at closing"),
        pytest.param(sh(MON, 23), timedelta(hours=1), sh(TUE, 10), id="start at night"),
        pytest.param(sh(FRI, 17), timedelta(hours=2), sh(NEXT_MON, 10), id="across a weekend"),
        pytest.param(sh(SAT, 12), timedelta(hours=1), sh(NEXT_MON, 10), id="start on weekend"),
        pytest.param(sh(MON, 10), timedelta(hours=40), sh(FRI, 14), id="five days of 9 hours"),
        pytest.param(
            sh(MON, 10),
            timedelta(minutes=1, seconds=30),
            sh(MON, 10, 1) + timedelta(seconds=30),
            id="seconds",
        ),
    ],
)
def test_add_business_time(start: datetime, duration: timedelta, due: datetime) -> None:
    assert add_business_time(CALENDAR, start, duration) == due


def test_utc_sunday_evening_is_already_monday_morning_in_shanghai() -> None:
    sunday_23_utc = datetime(2025, 3, 2, 23, 0, tzinfo=UTC)  # Monday 07:00 in Shanghai
    assert add_business_time(CALENDAR, sunday_23_utc, timedelta(hours=1)) == datetime(
        2025, 3, 3, 2, 0, tzinfo=UTC
    )


def test_friday_evening_utc_is_already_weekend_in_shanghai() -> None:
    friday_17_utc = datetime(2025, 3, 7, 17, 0, tzinfo=UTC)  # Saturday 01:00 in Shanghai
    assert add_business_time(CALENDAR, friday_17_utc, timedelta(hours=1)) == sh(NEXT_MON, 10)


def test_holidays_are_skipped() -> None:
    tuesday_before = sh(date(2025, 9, 30), 17)
    assert add_business_time(NATIONAL_DAY, tuesday_before, timedelta(hours=2)) == sh(
        date(2025, 10, 9), 10
    )


def test_make_up_workdays_count() -> None:
    friday = sh(date(2025, 9, 26), 17)
    assert add_business_time(NATIONAL_DAY, friday, timedelta(hours=2)) == sh(date(2025, 9, 28), 10)
    assert add_business_time(CALENDAR, friday, timedelta(hours=2)) == sh(date(2025, 9, 29), 10)
    friday_after = sh(date(2025, 10, 10), 17)
    assert add_business_time(NATIONAL_DAY, friday_after, timedelta(hours=2)) == sh(
        date(2025, 10, 11), 10
    )


def test_lunch_break_is_skipped() -> None:
    assert add_business_time(WITH_LUNCH, sh(MON, 11, 30), timedelta(hours=1)) == sh(MON, 13, 30)
    assert add_business_time(WITH_LUNCH, sh(MON, 12, 15), timedelta(hours=1)) == sh(MON, 14)
    assert add_business_time(WITH_LUNCH, sh(MON, 9), timedelta(hours=8)) == sh(MON, 18)


def test_daylight_saving_switch_over_a_weekend() -> None:
    berlin = BusinessCalendar(time_zone="Europe/Berlin")
    friday_17_cet = datetime(2025, 3, 28, 17, 0, tzinfo=BERLIN)
    due = add_business_time(berlin, friday_17_cet, timedelta(hours=2))
    assert due == datetime(2025, 3, 31, 10, 0, tzinfo=BERLIN)
    assert due == datetime(2025, 3, 31, 8, 0, tzinfo=UTC)


def test_result_is_utc_whatever_the_input_zone() -> None:
    start_in_shanghai = datetime(2025, 3, 3, 10, 0, tzinfo=SHANGHAI)
    due = add_business_time(CALENDAR, start_in_shanghai, timedelta(hours=1))
    assert due.tzinfo is UTC
    assert due == datetime(2025, 3, 3, 3, 0, tzinfo=UTC)


def test_zero_duration_is_due_at_start() -> None:
    saturday = sh(SAT, 12)
    assert add_business_time(CALENDAR, saturday, timedelta(0)) == saturday


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(CALENDAR, sh(MON, 10), timedelta(seconds=-1))


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(CALENDAR, datetime(2025, 3, 3, 10, 0), timedelta(hours=1))


# --- business_time_between ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "end", "elapsed"),
    [
        pytest.param(CALENDAR, sh(MON, 10), sh(MON, 10), timedelta(0), id="empty"),
        pytest.param(CALENDAR, sh(MON, 10), sh(MON, 12, 30), timedelta(hours=2.5), id="same day"),
        pytest.param(CALENDAR, sh(MON, 10), sh(TUE, 10), timedelta(hours=9), id="a night"),
        pytest.param(CALENDAR, sh(MON, 19), sh(TUE, 8), timedelta(0), id="within a night"),
        pytest.param(CALENDAR, sh(FRI, 17), sh(NEXT_MON, 10), timedelta(hours=2), id="weekend"),
        pytest.param(CALENDAR, sh(SAT, 0), sh(SUN, 23), timedelta(0), id="within a weekend"),
        pytest.param(CALENDAR, sh(MON, 0), sh(NEXT_MON, 0), timedelta(hours=45), id="a week"),
        pytest.param(
            NATIONAL_DAY,
            sh(date(2025, 9, 30), 9),
            sh(date(2025, 10, 9), 9),
            timedelta(hours=9),
            id="holidays",
        ),
        pytest.param(
            NATIONAL_DAY,
            sh(date(2025, 9, 26), 18),
            sh(date(2025, 9, 29), 9),
            timedelta(hours=9),
            id="make-up workday",
        ),
        pytest.param(WITH_LUNCH, sh(MON, 11), sh(MON, 14), timedelta(hours=2), id="lunch"),
    ],
)
def test_business_time_between(
    calendar: BusinessCalendar, start: datetime, end: datetime, elapsed: timedelta
) -> None:
    assert business_time_between(calendar, start, end) == elapsed


def test_business_time_between_refuses_end_before_start() -> None:
    with pytest.raises(ValueError, match="precedes"):
        business_time_between(CALENDAR, sh(TUE, 10), sh(MON, 10))


def test_business_time_between_refuses_naive_datetimes() -> None:
    naive = datetime(2025, 3, 3, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(CALENDAR, naive, sh(TUE, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(CALENDAR, sh(MON, 10), naive)


@pytest.mark.parametrize(
    ("start", "duration"),
    list(
        product(
            [sh(MON, 7), sh(MON, 12, 34), sh(FRI, 17, 59), sh(SAT, 12), sh(date(2025, 9, 30), 17)],
            [timedelta(minutes=1), timedelta(hours=1), timedelta(hours=9), timedelta(hours=80)],
        )
    ),
)
def test_business_time_to_the_due_time_is_the_duration(
    start: datetime, duration: timedelta
) -> None:
    due = add_business_time(NATIONAL_DAY, start, duration)
    assert business_time_between(NATIONAL_DAY, start, due) == duration
    # The due time is the earliest such instant: a moment earlier, less time had elapsed.
    assert business_time_between(NATIONAL_DAY, start, due - MICROSECOND) < duration


# --- policies -----------------------------------------------------------------------------


def test_default_policies_are_the_documented_assumptions() -> None:
    hours = timedelta(hours=1)
    assert {
        severity: (p.first_response / hours, p.resolution / hours, p.business_hours)
        for severity, p in DEFAULT_SLA_POLICIES.items()
    } == {
        Severity.CRITICAL: (1, 8, False),
        Severity.HIGH: (4, 16, True),
        Severity.MEDIUM: (8, 40, True),
        Severity.LOW: (16, 80, True),
    }


@pytest.mark.parametrize(
    ("first_response", "resolution"),
    [(timedelta(0), timedelta(hours=8)), (timedelta(hours=1), timedelta(minutes=-1))],
)
def test_policy_durations_must_be_positive(
    first_response: timedelta, resolution: timedelta
) -> None:
    with pytest.raises(ValueError, match="positive"):
        SlaPolicy(first_response=first_response, resolution=resolution)


# --- due times ----------------------------------------------------------------------------


def test_due_times_on_business_hours() -> None:
    clock = SlaClock(opened_at=sh(MON, 10))
    assert due_times(clock, MEDIUM, CALENDAR) == SlaDue(
        first_response_due=sh(MON, 18), resolution_due=sh(FRI, 14)
    )
    assert due_times(clock, HIGH, CALENDAR) == SlaDue(
        first_response_due=sh(MON, 14), resolution_due=sh(TUE, 17)
    )


def test_critical_runs_around_the_clock() -> None:
    saturday_night = SlaClock(opened_at=sh(SAT, 3))
    assert due_times(saturday_night, CRITICAL, CALENDAR) == SlaDue(
        first_response_due=sh(SAT, 4), resolution_due=sh(SAT, 11)
    )


def test_critical_can_be_configured_onto_business_hours() -> None:
    office_hours = SlaPolicy(
        first_response=timedelta(hours=1), resolution=timedelta(hours=8), business_hours=True
    )
    due = due_times(SlaClock(opened_at=sh(SAT, 3)), office_hours, CALENDAR)
    assert due == SlaDue(first_response_due=sh(NEXT_MON, 10), resolution_due=sh(NEXT_MON, 17))


def test_pause_spanning_a_night_pushes_resolution_by_paused_business_time() -> None:
    clock = (
        SlaClock(opened_at=sh(MON, 9))
        .respond(sh(MON, 9, 30))
        .pause(sh(MON, 17))
        .resume(sh(TUE, 10))
    )
    unpaused = due_times(SlaClock(opened_at=sh(MON, 9)), HIGH, CALENDAR)
    assert unpaused.resolution_due == sh(TUE, 16)
    # Paused one business hour on Monday and one on Tuesday morning; the night is free anyway.
    assert due_times(clock, HIGH, CALENDAR) == SlaDue(
        first_response_due=sh(MON, 13), resolution_due=sh(TUE, 18)
    )


def test_pause_spanning_a_night_on_the_wall_clock() -> None:
    clock = SlaClock(opened_at=sh(MON, 10)).pause(sh(MON, 12)).resume(sh(TUE, 8))
    assert due_times(clock, CRITICAL, CALENDAR).resolution_due == sh(TUE, 14)


def test_pause_outside_business_hours_does_not_move_the_due_time() -> None:
    clock = SlaClock(opened_at=sh(FRI, 9)).pause(sh(SAT, 10)).resume(sh(SUN, 10))
    assert due_times(clock, HIGH, CALENDAR).resolution_due == sh(NEXT_MON, 16)


def test_first_response_due_ignores_pauses() -> None:
    clock = SlaClock(opened_at=sh(MON, 9)).pause(sh(MON, 9, 30)).resume(sh(MON, 15))
    assert due_times(clock, HIGH, CALENDAR).first_response_due == sh(MON, 13)


def test_several_pauses_add_up() -> None:
    clock = (
        SlaClock(opened_at=sh(MON, 9))
        .pause(sh(MON, 10))
        .resume(sh(MON, 11))
        .pause(sh(MON, 17))
        .resume(sh(TUE, 10))
    )
    assert due_times(clock, HIGH, CALENDAR).resolution_due == sh(WED, 10)


def test_resolution_due_is_open_while_paused() -> None:
    paused = SlaClock(opened_at=sh(MON, 9)).pause(sh(MON, 17))
    assert paused.is_paused
    assert due_times(paused, HIGH, CALENDAR) == SlaDue(
        first_response_due=sh(MON, 13), resolution_due=None
    )


def test_pause_starting_as_the_allowance_runs_out_keeps_the_due_time() -> None:
    paused = SlaClock(opened_at=sh(MON, 9)).pause(sh(TUE, 16))
    assert due_times(paused, HIGH, CALENDAR).resolution_due == sh(TUE, 16)


def test_finished_pause_starting_as_the_allowance_runs_out_keeps_the_due_time() -> None:
    resumed = SlaClock(opened_at=sh(MON, 9)).pause(sh(TUE, 16)).resume(sh(WED, 10))
    assert due_times(resumed, HIGH, CALENDAR).resolution_due == sh(TUE, 16)


def test_pause_after_the_due_time_does_not_undo_it() -> None:
    resumed = SlaClock(opened_at=sh(MON, 9)).pause(sh(WED, 10)).resume(sh(THU, 10))
    assert due_times(resumed, HIGH, CALENDAR).resolution_due == sh(TUE, 16)
    still_paused = SlaClock(opened_at=sh(MON, 9)).pause(sh(WED, 10))
    assert due_times(still_paused, HIGH, CALENDAR).resolution_due == sh(TUE, 16)


def test_time_spent_resolved_does_not_count_after_reopening() -> None:
    clock = (
        SlaClock(opened_at=sh(MON, 10))
        .respond(sh(MON, 11))
        .resolve(sh(TUE, 10))  # 9 of the 40 hours used
        .reopen(sh(date(2025, 3, 17), 10))
    )
    assert clock.resolved_at is None
    assert clock.pauses == (Pause(started_at=sh(TUE, 10), ended_at=sh(date(2025, 3, 17), 10)),)
    assert due_times(clock, MEDIUM, CALENDAR).resolution_due == sh(date(2025, 3, 20), 14)
    assert breaches(clock, MEDIUM, CALENDAR, now=sh(date(2025, 3, 17), 10)) == []


# --- breaches -----------------------------------------------------------------------------

OPENED = SlaClock(opened_at=sh(MON, 10))
FIRST_RESPONSE_DUE = sh(MON, 18)  # medium: 8 business hours
RESOLUTION_DUE = sh(FRI, 14)  # medium: 40 business hours


def test_no_breach_exactly_at_the_due_time() -> None:
    assert breaches(OPENED, MEDIUM, CALENDAR, now=FIRST_RESPONSE_DUE) == []


def test_breach_just_after_the_due_time() -> None:
    assert breaches(OPENED, MEDIUM, CALENDAR, now=FIRST_RESPONSE_DUE + MICROSECOND) == [
        Breach(target=SlaTarget.FIRST_RESPONSE, due_at=FIRST_RESPONSE_DUE)
    ]


def test_response_exactly_at_the_due_time_is_on_time() -> None:
    clock = OPENED.respond(FIRST_RESPONSE_DUE)
    assert breaches(clock, MEDIUM, CALENDAR, now=sh(TUE, 12)) == []


def test_late_response_is_still_a_breach() -> None:
    late = OPENED.respond(FIRST_RESPONSE_DUE + MICROSECOND)
    expected = [Breach(target=SlaTarget.FIRST_RESPONSE, due_at=FIRST_RESPONSE_DUE)]
    assert breaches(late, MEDIUM, CALENDAR, now=sh(TUE, 12)) == expected
    # Evaluated between the due time and the late response, as a scheduler would.
    assert breaches(late, MEDIUM, CALENDAR, now=FIRST_RESPONSE_DUE + MICROSECOND) == expected


def test_resolution_breach_comes_after_first_response_breach() -> None:
    assert breaches(OPENED, MEDIUM, CALENDAR, now=RESOLUTION_DUE + MICROSECOND) == [
        Breach(target=SlaTarget.FIRST_RESPONSE, due_at=FIRST_RESPONSE_DUE),
        Breach(target=SlaTarget.RESOLUTION, due_at=RESOLUTION_DUE),
    ]


def test_resolution_exactly_at_and_after_the_due_time() -> None:
    responded = OPENED.respond(sh(MON, 11))
    assert breaches(responded, MEDIUM, CALENDAR, now=RESOLUTION_DUE) == []
    assert breaches(responded.resolve(RESOLUTION_DUE), MEDIUM, CALENDAR, now=sh(SUN, 0)) == []
    assert breaches(
        responded.resolve(RESOLUTION_DUE + MICROSECOND), MEDIUM, CALENDAR, now=sh(SUN, 0)
    ) == [Breach(target=SlaTarget.RESOLUTION, due_at=RESOLUTION_DUE)]


def test_no_resolution_breach_while_paused_before_the_due_time() -> None:
    paused = OPENED.respond(sh(MON, 11)).pause(sh(TUE, 10))
    assert breaches(paused, MEDIUM, CALENDAR, now=sh(date(2025, 4, 1), 10)) == []


def test_resolution_breach_stands_when_paused_after_the_due_time() -> None:
    high = SlaClock(opened_at=sh(MON, 9)).respond(sh(MON, 9, 30)).pause(sh(WED, 10))
    assert breaches(high, HIGH, CALENDAR, now=sh(WED, 11)) == [
        Breach(target=SlaTarget.RESOLUTION, due_at=sh(TUE, 16))
    ]


def test_pause_moves_the_breach() -> None:
    clock = OPENED.respond(sh(MON, 11)).pause(sh(TUE, 9)).resume(sh(WED, 9))
    moved_due = sh(NEXT_MON, 14)  # one full business day later than RESOLUTION_DUE
    assert breaches(clock, MEDIUM, CALENDAR, now=RESOLUTION_DUE + timedelta(hours=1)) == []
    assert breaches(clock, MEDIUM, CALENDAR, now=moved_due) == []
    assert breaches(clock, MEDIUM, CALENDAR, now=moved_due + MICROSECOND) == [
        Breach(target=SlaTarget.RESOLUTION, due_at=moved_due)
    ]


def test_critical_breaches_on_a_sunday() -> None:
    sunday = SlaClock(opened_at=sh(SUN, 2))
    assert breaches(sunday, CRITICAL, CALENDAR, now=sh(SUN, 3) + MICROSECOND) == [
        Breach(target=SlaTarget.FIRST_RESPONSE, due_at=sh(SUN, 3))
    ]


def test_nothing_is_breached_before_opening() -> None:
    assert breaches(OPENED, MEDIUM, CALENDAR, now=sh(MON, 9)) == []


def test_breaches_refuse_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        breaches(OPENED, MEDIUM, CALENDAR, now=datetime(2025, 3, 4, 10, 0))


# --- clock events -------------------------------------------------------------------------


def test_clock_events_return_new_values() -> None:
    paused = OPENED.pause(sh(MON, 12))
    assert OPENED.paused_since is None
    assert paused.paused_since == sh(MON, 12)
    assert paused.resume(sh(MON, 13)).pauses == (Pause(sh(MON, 12), sh(MON, 13)),)


def test_pausing_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already paused"):
        OPENED.pause(sh(MON, 12)).pause(sh(MON, 13))


def test_resuming_a_running_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="not paused"):
        OPENED.resume(sh(MON, 12))


def test_resolving_a_paused_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="resume it first"):
        OPENED.pause(sh(MON, 12)).resolve(sh(MON, 13))


def test_pausing_a_resolved_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="resolved"):
        OPENED.resolve(sh(MON, 12)).pause(sh(MON, 13))


def test_resolving_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already resolved"):
        OPENED.resolve(sh(MON, 12)).resolve(sh(MON, 13))


def test_responding_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already recorded"):
        OPENED.respond(sh(MON, 11)).respond(sh(MON, 12))


def test_reopening_an_unresolved_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="only a resolved"):
        OPENED.reopen(sh(MON, 12))


@pytest.mark.parametrize(
    "event",
    [
        lambda: OPENED.pause(sh(MON, 9)),
        lambda: OPENED.respond(sh(MON, 9)),
        lambda: OPENED.pause(sh(MON, 12)).resume(sh(MON, 11)),
        lambda: OPENED.pause(sh(MON, 12)).resume(sh(MON, 13)).pause(sh(MON, 12, 30)),
        lambda: OPENED.resolve(sh(TUE, 10)).reopen(sh(MON, 12)),
    ],
    ids=[
        "pause before opening",
        "response before opening",
        "resume before pause",
        "pause before last resume",
        "reopen before resolution",
    ],
)
def test_events_out_of_order_are_refused(event: Callable[[], SlaClock]) -> None:
    with pytest.raises(ValueError, match="precedes"):
        event()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opened_at": datetime(2025, 3, 3, 10, 0)},
        {"opened_at": sh(MON, 10), "resolved_at": datetime(2025, 3, 4, 10, 0)},
        {"opened_at": sh(MON, 10), "paused_since": datetime(2025, 3, 4, 10, 0)},
        {"opened_at": sh(MON, 10), "pauses": (Pause(datetime(2025, 3, 3, 11), sh(MON, 12)),)},
    ],
)
def test_clock_refuses_naive_datetimes(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SlaClock(**kwargs)  # type: ignore[arg-type]


def test_clock_event_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OPENED.pause(datetime(2025, 3, 3, 12, 0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pauses": (Pause(sh(MON, 9), sh(MON, 11)),)}, "after opened_at"),
        ({"pauses": (Pause(sh(MON, 12), sh(MON, 11)),)}, "ordered"),
        (
            {"pauses": (Pause(sh(MON, 12), sh(MON, 14)), Pause(sh(MON, 13), sh(MON, 15)))},
            "disjoint",
        ),
        (
            {"pauses": (Pause(sh(MON, 12), sh(MON, 14)),), "paused_since": sh(MON, 13)},
            "paused_since",
        ),
        ({"paused_since": sh(MON, 12), "resolved_at": sh(MON, 11)}, "resolved clock"),
        ({"first_response_at": sh(MON, 9)}, "first_response_at precedes"),
        ({"resolved_at": sh(MON, 9)}, "resolved_at precedes"),
    ],
)
def test_inconsistent_stored_clock_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlaClock(opened_at=sh(MON, 10), **kwargs)  # type: ignore[arg-type]
