"""Complaint statistics computed in Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.complaint.stats import complaint_stats

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
