"""Complaint statistics computed in Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.complaint.stats import GroupBy, complaint_stats, grouped_stats

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def complaint(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "category": "delivery",
        "severity": "low",
        "state": "new",
        "reported_at": T0,
        "sla": {"first_response_at": None},
        "resolved_at": None,
        "resolution": None,
        "reopen_count": 0,
        "sla_breaches": [],
        "survey": None,
    }
    return base | fields


def test_empty_period_has_no_rates() -> None:
    stats = complaint_stats([])
    assert stats.total == 0
    assert stats.breach_rate is None
    assert stats.median_first_response_s is None
    assert stats.csat_average is None


def test_counts_medians_and_rates() -> None:
    stats = complaint_stats(
        [
            complaint(
                state="resolved",
                sla={"first_response_at": T0 + timedelta(hours=1)},
                resolved_at=T0 + timedelta(hours=2),
                resolution={"root_cause": "quality"},
                survey={"score": 5},
            ),
            complaint(
                state="reopened",
                severity="high",
                sla={"first_response_at": T0 + timedelta(hours=2)},
                resolved_at=T0 + timedelta(hours=6),
                resolution={"root_cause": "quality"},
                reopen_count=1,
                sla_breaches=[{"target": "first_response"}],
                survey={"score": None},
            ),
            complaint(sla={"first_response_at": T0 + timedelta(hours=6)}),
            complaint(category="billing"),
        ]
    )
    assert stats.total == 4
    assert stats.by_category == {"delivery": 3, "billing": 1}
    assert stats.by_severity == {"low": 3, "high": 1}
    assert stats.median_first_response_s == 2 * 3600
    assert stats.median_resolution_s == 4 * 3600
    assert stats.breach_rate == 0.25
    assert stats.reopen_rate == 0.5
    assert stats.top_root_causes == [("quality", 2)]
    assert stats.csat_average == 5.0
    assert (stats.surveys_answered, stats.surveys_skipped) == (1, 1)


def test_grouped_by_assignee_with_unassigned_last() -> None:
    docs = [
        complaint(assignee="li", sla_breaches=[{"target": "first_response"}]),
        complaint(assignee="li"),
        complaint(assignee="zhang", survey={"score": 5}),
        complaint(assignee=None),
    ]
    groups = grouped_stats(docs, GroupBy.ASSIGNEE)
    assert [key for key, _ in groups] == ["li", "zhang", None]
    li = groups[0][1]
    assert li.total == 2 and li.breach_rate == 0.5
    assert groups[1][1].csat_average == 5.0
    assert groups[2][1].total == 1
    assert sum(stats.total for _, stats in groups) == complaint_stats(docs).total


def test_grouped_by_iso_week_and_month_in_utc() -> None:
    sunday_late = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # ISO week 44
    docs = [
        complaint(reported_at=sunday_late),
        complaint(reported_at=T0),  # Monday 2 Nov: week 45
        complaint(reported_at=T0 + timedelta(days=6)),
        complaint(reported_at=datetime(2026, 12, 31, 12, tzinfo=UTC)),  # ISO week 53 of 2026
        complaint(reported_at=datetime(2026, 11, 2, 1, 0)),  # naive = UTC, as Mongo may return
    ]
    weeks = grouped_stats(docs, GroupBy.WEEK)
    assert [(key, stats.total) for key, stats in weeks] == [
        ("2026-W44", 1),
        ("2026-W45", 3),
        ("2026-W53", 1),
    ]
    months = grouped_stats(docs, GroupBy.MONTH)
    assert [(key, stats.total) for key, stats in months] == [("2026-11", 4), ("2026-12", 1)]


def test_grouped_by_team_state_and_category_use_the_field() -> None:
    docs = [
        complaint(team="quality", state="resolved", category="product_quality"),
        complaint(team="logistics", state="new"),
    ]
    assert [k for k, _ in grouped_stats(docs, GroupBy.TEAM)] == ["logistics", "quality"]
    assert [k for k, _ in grouped_stats(docs, GroupBy.STATE)] == ["new", "resolved"]
    by_category = dict(grouped_stats(docs, GroupBy.CATEGORY))
    assert by_category["product_quality"].by_state == {"resolved": 1}
    assert grouped_stats([], GroupBy.SEVERITY) == []
