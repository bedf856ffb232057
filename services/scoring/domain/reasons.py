"""Churn reasons: stable codes with parameters, rendered in English or Chinese.

A UI renders a reason from its code and parameters alone, so the parameters carry every number a
sentence shows, and a code's parameters never change meaning (a new meaning is a new code).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from services.scoring.domain.vocabulary import Scalar, Severity

__all__ = [
    "PARAMETERS",
    "TEMPLATES_EN",
    "TEMPLATES_ZH",
    "Language",
    "Reason",
    "ReasonCode",
    "rank_reasons",
    "render",
]

Language = Literal["en", "zh"]


class ReasonCode(StrEnum):
    SILENT_BEYOND_RHYTHM = "silent_beyond_rhythm"
    FEW_ORDERS = "few_orders"
    DECLINING_FREQUENCY = "declining_frequency"
    NO_ORDERS_YET = "no_orders_yet"
    OPEN_CRITICAL_COMPLAINT = "open_critical_complaint"
    OPEN_COMPLAINTS = "open_complaints"
    COMPLAINT_ESCALATED = "complaint_escalated"
    SLA_BREACHED = "sla_breached"
    LOW_CSAT = "low_csat"
    CONTACT_GAP = "contact_gap"
    FALLING_ENGAGEMENT = "falling_engagement"
    NEGATIVE_SENTIMENT = "negative_sentiment"


PARAMETERS: Mapping[ReasonCode, tuple[str, ...]] = MappingProxyType(
    {
        ReasonCode.SILENT_BEYOND_RHYTHM: ("days_silent", "usual_interval_days", "ratio"),
        ReasonCode.FEW_ORDERS: ("orders",),
        ReasonCode.DECLINING_FREQUENCY: ("recent_interval_days", "usual_interval_days"),
        ReasonCode.NO_ORDERS_YET: ("days_since_created",),
        ReasonCode.OPEN_CRITICAL_COMPLAINT: ("count", "oldest_open_days"),
        ReasonCode.OPEN_COMPLAINTS: ("count", "worst_severity"),
        ReasonCode.COMPLAINT_ESCALATED: ("count", "max_level"),
        ReasonCode.SLA_BREACHED: ("breaches", "days_since_last"),
        ReasonCode.LOW_CSAT: ("csat_avg", "last_csat"),
        ReasonCode.CONTACT_GAP: ("days_since_contact", "target_days"),
        ReasonCode.FALLING_ENGAGEMENT: ("recent_per_month", "usual_per_month"),
        ReasonCode.NEGATIVE_SENTIMENT: ("sentiment_avg",),
    }
)

TEMPLATES_EN: Mapping[ReasonCode, str] = MappingProxyType(
    {
        ReasonCode.SILENT_BEYOND_RHYTHM: (
            "No order for {days_silent} days, {ratio}× the customer's usual interval of "
            "{usual_interval_days} days."
        ),
        ReasonCode.FEW_ORDERS: (
            "Only {orders} order(s) so far; young relationships lapse more often than "
            "established ones."
        ),
        ReasonCode.DECLINING_FREQUENCY: (
            "Orders are slowing down: recently every {recent_interval_days} days against a usual "
            "{usual_interval_days} days."
        ),
        ReasonCode.NO_ORDERS_YET: (
            "No order yet, {days_since_created} days after the customer was created."
        ),
        ReasonCode.OPEN_CRITICAL_COMPLAINT: (
            "Open critical complaints: {count}; the oldest has been open for "
            "{oldest_open_days} days."
        ),
        ReasonCode.OPEN_COMPLAINTS: (
            "Open complaints: {count} (highest severity: {worst_severity})."
        ),
        ReasonCode.COMPLAINT_ESCALATED: (
            "Escalated open complaints: {count}, up to level {max_level}."
        ),
        ReasonCode.SLA_BREACHED: (
            "Service deadlines missed {breaches} time(s), the latest {days_since_last} days ago."
        ),
        ReasonCode.LOW_CSAT: (
            "Low satisfaction: recent surveys average {csat_avg}/5 (latest {last_csat}/5)."
        ),
        ReasonCode.CONTACT_GAP: (
            "No contact for {days_since_contact} days (expected at least every {target_days} days)."
        ),
        ReasonCode.FALLING_ENGAGEMENT: (
            "Contact is falling: {recent_per_month} per month recently against "
            "{usual_per_month} usually."
        ),
        ReasonCode.NEGATIVE_SENTIMENT: (
            "Recent conversations were negative in tone (average sentiment {sentiment_avg} on a "
            "scale from -1 to 1)."
        ),
    }
)

TEMPLATES_ZH: Mapping[ReasonCode, str] = MappingProxyType(
    {
        ReasonCode.SILENT_BEYOND_RHYTHM: (
            "已 {days_silent} 天未下单，"
            "是该客户通常下单间隔（{usual_interval_days} 天）的 {ratio} 倍。"
        ),
        ReasonCode.FEW_ORDERS: "迄今仅有 {orders} 笔订单，新建立的合作关系比成熟关系更容易流失。",
        ReasonCode.DECLINING_FREQUENCY: (
            "下单频率在下降：最近约每 {recent_interval_days} 天一单，"
            "通常为每 {usual_interval_days} 天一单。"
        ),
        ReasonCode.NO_ORDERS_YET: "客户建档 {days_since_created} 天以来尚未下单。",
        ReasonCode.OPEN_CRITICAL_COMPLAINT: (
            "有 {count} 个严重级别的投诉尚未解决，最早的已持续 {oldest_open_days} 天。"
        ),
        ReasonCode.OPEN_COMPLAINTS: "有 {count} 个投诉尚未解决（最高严重程度：{worst_severity}）。",
        ReasonCode.COMPLAINT_ESCALATED: "有 {count} 个未结投诉已升级，最高至第 {max_level} 级。",
        ReasonCode.SLA_BREACHED: (
            "服务时限已超时 {breaches} 次，最近一次在 {days_since_last} 天前。"
        ),
        ReasonCode.LOW_CSAT: (
            "满意度偏低：近期调查平均 {csat_avg}/5 分（最近一次 {last_csat}/5 分）。"
        ),
        ReasonCode.CONTACT_GAP: (
            "已 {days_since_contact} 天没有任何联系（应至少每 {target_days} 天联系一次）。"
        ),
        ReasonCode.FALLING_ENGAGEMENT: (
            "联系频率在下降：最近每月 {recent_per_month} 次，通常每月 {usual_per_month} 次。"
        ),
        ReasonCode.NEGATIVE_SENTIMENT: (
            "近期沟通的情绪偏负面（平均情绪值 {sentiment_avg}，范围 -1 至 1）。"
        ),
    }
)

# Enumerated parameter values a Chinese sentence shows in Chinese.
_ZH_VALUES: Mapping[str, str] = MappingProxyType(
    {
        Severity.LOW.value: "低",
        Severity.MEDIUM.value: "中",
        Severity.HIGH.value: "高",
        Severity.CRITICAL.value: "严重",
    }
)


def render(code: ReasonCode, params: Mapping[str, Scalar], language: Language = "en") -> str:
    """The sentence for `code` with `params` filled in; KeyError if a parameter is missing."""
    if language == "zh":
        shown = {k: _ZH_VALUES.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
        return TEMPLATES_ZH[code].format(**shown)
    return TEMPLATES_EN[code].format(**params)


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for the churn risk.

    `contribution` is the log-odds the factor adds (e^contribution is its odds multiplier);
    `share` is its part of all positive contributions (0–1); `text` the default English sentence.
    """

    code: ReasonCode
    contribution: float
    share: float
    params: Mapping[str, Scalar]
    text: str


def rank_reasons(
    candidates: Iterable[tuple[ReasonCode, float, Mapping[str, Scalar]]],
    *,
    top: int,
    min_contribution: float,
) -> tuple[Reason, ...]:
    """The `top` reasons by contribution (ties by code, so the order is stable), keeping only
    those adding at least `min_contribution` log-odds."""
    rows = list(candidates)
    positive = math.fsum(c for _, c, _ in rows if c > 0)
    kept = sorted(
        (row for row in rows if row[1] >= min_contribution), key=lambda r: (-r[1], r[0].value)
    )[:top]
    return tuple(
        Reason(
            code=code,
            contribution=round(contribution, 4),
            share=round(contribution / positive, 4) if positive > 0 else 0.0,
            params=MappingProxyType(dict(params)),
            text=render(code, params),
        )
        for code, contribution, params in kept
    )
