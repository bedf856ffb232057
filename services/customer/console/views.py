"""What the console's pages show, computed from API answers (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

Json = dict[str, Any]

# Workflow targets (`allowed_transitions`) → the action endpoint that reaches each one.
ACTION_FOR_TARGET = {
    "acknowledged": "acknowledge",
    "in_progress": "start",
    "waiting_customer": "wait-for-customer",
    "resolved": "resolve",
    "closed": "close",
    "reopened": "reopen",
}
ACTIONS = frozenset(ACTION_FOR_TARGET.values()) | {"resume", "escalate"}
_ESCALATABLE = {"new", "acknowledged", "in_progress", "waiting_customer", "reopened"}
MAX_ESCALATION_LEVEL = 3


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(value: Any, zone: ZoneInfo, *, with_date: bool = True) -> str:
    """An API instant in the console's time zone, to the minute."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def local_instant(value: Any, zone: ZoneInfo) -> str:
    """An API instant as a zone-less local time to the second (what ECharts' time axis reads
    as wall-clock time, so a chart agrees with the times printed beside it)."""
    moment = parse_time(value)
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def actions_of(complaint: Mapping[str, Any]) -> list[str]:
    """The workflow actions the complaint API offers for this complaint now, in its order."""
    state = complaint.get("state")
    actions = []
    for target in complaint.get("allowed_transitions", []):
        action = ACTION_FOR_TARGET.get(target)
        if action == "start" and state == "waiting_customer":
            action = "resume"  # the one way back from waiting for the customer
        if action is not None:
            actions.append(action)
    if state in _ESCALATABLE and int(complaint.get("escalation_level", 0)) < MAX_ESCALATION_LEVEL:
        actions.append("escalate")
    return actions


@dataclass(frozen=True)
class BoardItem:
    complaint: Json
    customer: Json | None
    due: datetime | None
    due_kind: str  # "first_response", "resolution" or "paused"
    breached: bool
    actions: list[str]


def board_item(complaint: Json, customer: Json | None, *, now: datetime) -> BoardItem:
    """A complaint with its next SLA deadline: the first response until there was one, then
    the resolution (none while the clock is paused for the customer)."""
    if complaint.get("first_response_at") is None and complaint.get("state") in ("new",):
        due, kind = parse_time(complaint.get("first_response_due")), "first_response"
    elif complaint.get("sla_paused"):
        due, kind = None, "paused"
    else:
        due, kind = parse_time(complaint.get("resolution_due")), "resolution"
    open_now = complaint.get("state") not in ("resolved", "closed")
    breached = bool(complaint.get("sla_breaches")) or (open_now and due is not None and due < now)
    return BoardItem(complaint, customer, due, kind, breached, actions_of(complaint))


def board(
    complaints: Iterable[Json], customers: Mapping[str, Json], *, now: datetime
) -> list[BoardItem]:
    """Complaints by SLA due time, soonest (or most overdue) first; paused ones last."""
    items = [board_item(c, customers.get(c["customer_id"]), now=now) for c in complaints]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda item: (item.due or far, item.complaint["id"]))


def customer_label(customer: Mapping[str, Any] | None, fallback: str) -> tuple[str, str | None]:
    """The name to show (as written, Chinese or Latin) and the Latin one beside it."""
    if not customer:
        return fallback, None
    name = str(customer.get("name") or fallback)
    latin = customer.get("name_latin")
    return name, (str(latin) if latin and latin != name else None)


def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.0f}%"


def duration(seconds: Any, t: Callable[..., str]) -> str:
    """A median time as hours and minutes (or days and hours), in the page's language."""
    if seconds is None:
        return "—"
    minutes = int(float(seconds) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return t("time.days_hours", d=days, h=hours)
    return t("time.hours_minutes", h=hours, m=minutes)


TREND_ARROWS = {"up": "↑", "down": "↓", "flat": "→"}
