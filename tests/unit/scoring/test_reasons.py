"""Reason codes: templates, parameters, rendering, ranking, and docs/scoring.md in step."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from services.scoring.domain.reasons import (
    PARAMETERS,
    TEMPLATES_EN,
    TEMPLATES_ZH,
    ReasonCode,
    rank_reasons,
    render,
)
from services.scoring.domain.vocabulary import Scalar

DOCS = Path(__file__).resolve().parents[3] / "docs" / "scoring.md"

SAMPLE: dict[str, Scalar] = {
    "days_silent": 45,
    "usual_interval_days": 15,
    "ratio": 3.0,
    "orders": 2,
    "recent_interval_days": 40,
    "days_since_created": 120,
    "count": 2,
    "oldest_open_days": 9,
    "worst_severity": "high",
    "max_level": 2,
    "breaches": 3,
    "days_since_last": 4,
    "csat_avg": 2.5,
    "last_csat": 2,
    "days_since_contact": 75,
    "target_days": 60,
    "recent_per_month": 0.5,
    "usual_per_month": 2.3,
    "sentiment_avg": -0.45,
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_code_has_both_sentences_using_exactly_its_parameters(code: ReasonCode) -> None:
    assert code.value.isidentifier() and code.value == code.value.lower()
    assert _fields(TEMPLATES_EN[code]) == set(PARAMETERS[code])
    assert _fields(TEMPLATES_ZH[code]) == set(PARAMETERS[code])


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_code_renders_in_both_languages(code: ReasonCode) -> None:
    params = {name: SAMPLE[name] for name in PARAMETERS[code]}
    english, chinese = render(code, params), render(code, params, "zh")
    assert "{" not in english and "{" not in chinese
    assert english != chinese


def test_chinese_sentences_translate_severity_values() -> None:
    params: dict[str, Scalar] = {"count": 1, "worst_severity": "high"}
    assert render(ReasonCode.OPEN_COMPLAINTS, params, "zh") == (
        "有 1 个投诉尚未解决（最高严重程度：高）。"
    )
    assert render(ReasonCode.OPEN_COMPLAINTS, params) == (
        "Open complaints: 1 (highest severity: high)."
    )


def test_a_missing_parameter_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError):
        render(ReasonCode.FEW_ORDERS, {})


def test_ranking_keeps_the_top_contributions_in_a_stable_order() -> None:
    ranked = rank_reasons(
        [
            (ReasonCode.LOW_CSAT, 0.5, {"csat_avg": 2.5, "last_csat": 2}),
            (ReasonCode.FEW_ORDERS, 0.5, {"orders": 1}),
            (ReasonCode.CONTACT_GAP, 1.0, {"days_since_contact": 80, "target_days": 60}),
            (ReasonCode.NEGATIVE_SENTIMENT, 0.01, {"sentiment_avg": -0.3}),
            (ReasonCode.SLA_BREACHED, -0.2, {"breaches": 1, "days_since_last": 300}),
        ],
        top=3,
        min_contribution=0.1,
    )
    assert [r.code for r in ranked] == [
        ReasonCode.CONTACT_GAP,
        ReasonCode.FEW_ORDERS,
        ReasonCode.LOW_CSAT,
    ]
    assert [r.share for r in ranked] == [pytest.approx(1.0 / 2.01, abs=1e-4)] + [
        pytest.approx(0.5 / 2.01, abs=1e-4)
    ] * 2
    assert ranked[0].text == "No contact for 80 days (expected at least every 60 days)."


@pytest.mark.parametrize("code", list(ReasonCode))
def test_the_docs_table_matches_the_code(code: ReasonCode) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Reason codes") :]
    section = section[: section.index("\n## ")]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    (row,) = [line for line in rows if line.startswith(f"| `{code.value}` |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == ", ".join(f"`{name}`" for name in PARAMETERS[code])
    assert cells[2] == TEMPLATES_EN[code]
    assert cells[3] == TEMPLATES_ZH[code]
