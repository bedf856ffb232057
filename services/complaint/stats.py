"""Complaint statistics, computed in Python from the matching documents.

FerretDB serves only simple queries, so the service reads the complaints of the period once
and counts here; times are wall-clock durations from the complaint being reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from statistics import median

from shared.mongo import Document


class GroupBy(StrEnum):
    """What `grouped_stats` can split complaints by."""

    CATEGORY = "category"
    SEVERITY = "severity"
    STATE = "state"
    ASSIGNEE = "assignee"
    TEAM = "team"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class ComplaintStats:
    total: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_state: dict[str, int]
    median_first_response_s: float | None
    median_resolution_s: float | None
    breach_rate: float | None
    reopen_rate: float | None
    top_root_causes: list[tuple[str, int]]
    csat_average: float | None
    surveys_answered: int
    surveys_skipped: int


def complaint_stats(complaints: Iterable[Document], *, top: int = 5) -> ComplaintStats:
    """Counts, medians and rates over `complaints`.

    Breach rate is the share of complaints with at least one SLA breach; reopen rate the share
    of ever-resolved complaints that were reopened at least once; CSAT averages the scored
    surveys (skipped ones are counted apart).
    """
    docs = list(complaints)
    first_response = [
        (doc["sla"]["first_response_at"] - doc["reported_at"]).total_seconds()
        for doc in docs
        if doc["sla"].get("first_response_at") is not None
    ]
    resolution = [
        (doc["resolved_at"] - doc["reported_at"]).total_seconds()
        for doc in docs
        if doc.get("resolved_at") is not None
    ]
    ever_resolved = [doc for doc in docs if doc.get("resolved_at") is not None]
    surveys = [doc["survey"] for doc in docs if doc.get("survey") is not None]
    scores = [survey["score"] for survey in surveys if survey.get("score") is not None]
    root_causes = Counter(
        doc["resolution"]["root_cause"] for doc in docs if doc.get("resolution") is not None
    )
    return ComplaintStats(
        total=len(docs),
        by_category=dict(Counter(doc["category"] for doc in docs)),
        by_severity=dict(Counter(doc["severity"] for doc in docs)),
        by_state=dict(Counter(doc["state"] for doc in docs)),
        median_first_response_s=median(first_response) if first_response else None,
        median_resolution_s=median(resolution) if resolution else None,
        breach_rate=(
            sum(1 for doc in docs if doc.get("sla_breaches")) / len(docs) if docs else None
        ),
        reopen_rate=(
            sum(1 for doc in ever_resolved if doc.get("reopen_count", 0) > 0) / len(ever_resolved)
            if ever_resolved
            else None
        ),
        top_root_causes=sorted(root_causes.items(), key=lambda item: (-item[1], item[0]))[:top],
        csat_average=sum(scores) / len(scores) if scores else None,
        surveys_answered=len(scores),
        surveys_skipped=len(surveys) - len(scores),
    )


def group_key(doc: Document, by: GroupBy) -> str | None:
    """The group a complaint falls in: a field's value, or the ISO week (`2026-W47`) or month
    (`2026-11`) in which it was reported, in UTC (the business calendar's zone would move
    complaints of a Sunday night between weeks depending on the reader; UTC does not)."""
    if by is GroupBy.WEEK or by is GroupBy.MONTH:
        reported = doc["reported_at"]
        reported = reported.replace(tzinfo=UTC) if reported.tzinfo is None else reported
        reported = reported.astimezone(UTC)
        if by is GroupBy.MONTH:
            return f"{reported.year:04d}-{reported.month:02d}"
        year, week, _ = reported.isocalendar()
        return f"{year:04d}-W{week:02d}"
    value = doc.get(by.value)
    return None if value is None else str(value)


def grouped_stats(
    complaints: Iterable[Document], by: GroupBy, *, top: int = 5
) -> list[tuple[str | None, ComplaintStats]]:
    """`complaint_stats` per group, ordered by key (periods chronologically), with the
    complaints without a value (unassigned, no team) last as key None. Empty groups are not
    listed."""
    groups: dict[str | None, list[Document]] = defaultdict(list)
    for doc in complaints:
        groups[group_key(doc, by)].append(doc)
    keys = sorted(groups, key=lambda key: (key is None, key or ""))
    return [(key, complaint_stats(groups[key], top=top)) for key in keys]
