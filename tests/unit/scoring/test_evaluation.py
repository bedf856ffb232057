"""The churn evaluation: metrics against hand-computed values, the history CSV format and its
errors, the synthetic generator's determinism, the replay's use of the real scorer and the
end-to-end claim that churn.risk ranks churners better than days since the last order."""

from __future__ import annotations

import io
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scoring.domain import DEFAULT_PARAMS, OrderPlaced, fold_all, score
from services.scoring.evaluation.__main__ import main
from services.scoring.evaluation.history import (
    HistoryFormatError,
    Purchase,
    read_history,
    read_purchases,
    write_history,
)
from services.scoring.evaluation.metrics import brier_score, calibration_table, roc_auc
from services.scoring.evaluation.replay import (
    baseline_probability,
    evaluate,
    outcomes_at_cutoff,
    scoring_params,
)
from services.scoring.evaluation.synthetic import Rhythm, generate_history

CUTOFF = datetime(2026, 6, 30, tzinfo=UTC)


def at(days: float) -> datetime:
    """A time `days` after (negative: before) the cutoff."""
    return CUTOFF + timedelta(days=days)


# ---------------------------------------------------------------------------------------------
# Metrics


def test_auc_of_a_constant_score_is_one_half() -> None:
    assert roc_auc([0.3] * 6, [True, False, True, False, False, False]) == 0.5


def test_auc_of_a_perfect_and_of_a_reversed_ranking() -> None:
    outcomes = [False, False, True, True]
    assert roc_auc([0.1, 0.2, 0.8, 0.9], outcomes) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], outcomes) == 0.0


def test_auc_of_a_known_example() -> None:
    # Positives 0.35, 0.8 against negatives 0.1, 0.4: three of four pairs ordered right.
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75


def test_auc_counts_a_tied_pair_as_one_half() -> None:
    # Pairs (pos, neg): (0.5, 0.5) tie = ½, (0.5, 0.2) = 1, (0.9, 0.5) = 1, (0.9, 0.2) = 1.
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == 3.5 / 4


def test_auc_does_not_depend_on_the_order_of_the_rows() -> None:
    rng = random.Random(3)
    scores = [float(rng.randint(0, 5)) for _ in range(200)]  # many ties
    outcomes = [rng.random() < 0.2 + 0.1 * s for s in scores]
    pairs = list(zip(scores, outcomes, strict=True))
    rng.shuffle(pairs)
    shuffled = roc_auc([s for s, _ in pairs], [o for _, o in pairs])
    assert math.isclose(roc_auc(scores, outcomes), shuffled, rel_tol=1e-12)


def test_auc_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([0.1, 0.2], [True, True])


def test_brier_score_of_a_known_example() -> None:
    assert math.isclose(brier_score([0.8, 0.3], [True, False]), (0.2**2 + 0.3**2) / 2)
    assert brier_score([1.0, 0.0], [True, False]) == 0.0


def test_brier_score_refuses_a_probability_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="within"):
        brier_score([1.2], [True])


def test_calibration_table_cuts_sorted_risks_into_equal_groups() -> None:
    risks = [0.9, 0.1, 0.5, 0.2, 0.8, 0.3, 0.7]
    churned = [True, False, True, False, True, False, False]
    table = calibration_table(risks, churned, groups=3)
    assert [b.customers for b in table] == [2, 2, 3]
    assert [(b.min_predicted, b.max_predicted) for b in table] == [
        (0.1, 0.2),
        (0.3, 0.5),
        (0.7, 0.9),
    ]
    assert math.isclose(table[0].mean_predicted, 0.15)
    assert [b.observed_rate for b in table] == [0.0, 0.5, 2 / 3]


def test_calibration_table_has_deciles_by_default() -> None:
    table = calibration_table([i / 100 for i in range(100)], [i % 2 == 0 for i in range(100)])
    assert [b.group for b in table] == list(range(1, 11))
    assert all(b.customers == 10 for b in table)


# ---------------------------------------------------------------------------------------------
# History CSV


def read(text: str) -> list[Purchase]:
    return list(read_purchases(io.StringIO(text)))


def test_history_round_trips_through_the_csv_format() -> None:
    purchases = [
        Purchase("C1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 1234.5),
        Purchase("C2, Shanghai", datetime(2026, 1, 3, tzinfo=UTC), 0.0),
    ]
    out = io.StringIO()
    assert write_history(purchases, out) == 2
    assert out.getvalue().splitlines()[:2] == [
        "customer_id,time,amount",
        "C1,2026-01-02T03:04:05Z,1234.50",
    ]
    assert read(out.getvalue()) == purchases


def test_history_accepts_any_column_order_offsets_blank_lines_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeffamount,region,time,customer_id\n\n10,east,2026-01-02T08:00:00+08:00,C1\n",
        encoding="utf-8",
    )
    assert read_history(path) == [Purchase("C1", datetime(2026, 1, 2, tzinfo=UTC), 10.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("customer,time,amount\n", "line 1: header lacks column(s) customer_id"),
        (
            "customer_id,time,amount\nC1,2026-01-02T00:00:00Z,1\nC1,yesterday,1\n",
            "line 3: field 'time': not an ISO-8601 time",
        ),
        (
            "customer_id,time,amount\nC1,2026-01-02T10:00:00,1\n",
            "line 2: field 'time': time has no UTC offset",
        ),
        ("customer_id,time,amount\nC1,2026-01-02T00:00:00Z,-5\n", "line 2: field 'amount'"),
        ("customer_id,time,amount\nC1,2026-01-02T00:00:00Z,nan\n", "line 2: field 'amount'"),
        ("customer_id,time,amount\nC1,2026-01-02T00:00:00Z,¥5\n", "line 2: field 'amount'"),
        ("customer_id,time,amount\n ,2026-01-02T00:00:00Z,5\n", "line 2: field 'customer_id'"),
        ("customer_id,time,amount\nC1,2026-01-02T00:00:00Z\n", "line 2: 2 field(s)"),
    ],
)
def test_a_bad_history_names_the_line_and_field(text: str, message: str) -> None:
    with pytest.raises(HistoryFormatError) as caught:
        read(text)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Synthetic histories


def test_the_generator_is_deterministic_for_a_seed() -> None:
    first = generate_history(150, seed=11, cutoff=CUTOFF)
    again = generate_history(150, seed=11, cutoff=CUTOFF)
    other = generate_history(150, seed=12, cutoff=CUTOFF)
    assert first == again
    assert first.purchases != other.purchases


def test_generated_customers_are_heterogeneous_and_some_really_leave() -> None:
    history = generate_history(400, seed=5, cutoff=CUTOFF, horizon_days=90)
    assert len(history.customers) == 400
    assert {c.rhythm for c in history.customers} == set(Rhythm)
    ordered_before = {p.customer_id for p in history.purchases if p.at < CUTOFF}
    assert ordered_before == {c.customer_id for c in history.customers}
    left = [c for c in history.customers if c.leaves_at is not None and c.leaves_at < CUTOFF]
    assert left and any(c.declines_from is not None for c in left)
    assert all(CUTOFF - timedelta(days=730) <= p.at < at(90) for p in history.purchases)


# ---------------------------------------------------------------------------------------------
# Replay and outcomes


def test_replay_scores_with_the_real_scorer_and_never_looks_past_the_cutoff() -> None:
    orders = [Purchase("C1", at(-300 + 30 * i), 5000.0) for i in range(9)]  # last at −60 d
    later = [Purchase("C1", at(5), 5000.0)]
    params = scoring_params(90.0)
    [with_later] = outcomes_at_cutoff(orders + later, cutoff=CUTOFF, horizon_days=90, params=params)
    [without] = outcomes_at_cutoff(orders, cutoff=CUTOFF, horizon_days=90, params=params)
    state = fold_all([OrderPlaced(f"o{i}", p.at, p.amount) for i, p in enumerate(orders)])
    assert with_later.churn_risk == without.churn_risk
    assert with_later.churn_risk == score(state, as_of=CUTOFF, params=DEFAULT_PARAMS).churn.risk
    assert with_later.days_since_last_order == 60.0
    assert (with_later.churned, without.churned) == (False, True)


def test_the_outcome_window_starts_at_the_cutoff_and_lasts_the_horizon() -> None:
    history = [
        Purchase("at-cutoff", at(-10), 1.0),
        Purchase("at-cutoff", at(0), 1.0),
        Purchase("just-inside", at(-10), 1.0),
        Purchase("just-inside", at(89.99), 1.0),
        Purchase("just-after", at(-10), 1.0),
        Purchase("just-after", at(90), 1.0),
        Purchase("only-after-cutoff", at(3), 1.0),
    ]
    outcomes = outcomes_at_cutoff(
        history, cutoff=CUTOFF, horizon_days=90, params=scoring_params(90.0)
    )
    assert {o.customer_id: o.churned for o in outcomes} == {
        "at-cutoff": False,
        "just-inside": False,
        "just-after": True,
    }


def test_the_baseline_probability_ramps_to_one_over_the_horizon() -> None:
    assert baseline_probability(0.0, 90.0) == 0.0
    assert baseline_probability(45.0, 90.0) == 0.5
    assert baseline_probability(400.0, 90.0) == 1.0


def test_churn_risk_ranks_churners_better_than_days_since_last_order() -> None:
    # 600 customers rather than 300: the margin (about 0.025 AUC at 2,000 customers) must
    # stand clear of the sampling noise of a small history, not depend on a lucky seed.
    history = generate_history(600, seed=7, cutoff=CUTOFF, horizon_days=90)
    result = evaluate(history.purchases, cutoff=CUTOFF, horizon_days=90)
    assert result.customers == 600
    assert 0 < result.churned < result.customers
    assert result.churn_risk.auc is not None and result.baseline.auc is not None
    assert result.churn_risk.auc > result.baseline.auc
    assert result.churn_risk.brier < result.baseline.brier
    assert result.window_covered


# ---------------------------------------------------------------------------------------------
# Command line


def test_generate_then_evaluate_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hist.csv"
    assert main(["generate", "--customers", "120", "--seed", "3", "--out", str(path)]) == 0
    capsys.readouterr()
    code = main(["evaluate", str(path), "--cutoff", "2026-06-30", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["customers"] == 120
    assert report["cutoff"] == "2026-06-30T00:00:00Z"
    assert report["model_version"].startswith("churn-loyalty-")
    assert len(report["churn_risk"]["calibration"]) == 10
    assert 0.0 <= report["churn_risk"]["brier"] <= 1.0

    assert main(["evaluate", str(path), "--cutoff", "2026-06-30"]) == 0
    text = capsys.readouterr().out
    assert "churn.risk" in text and "days since last order" in text and "decile" in text


def test_evaluate_reports_a_bad_row_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,time,amount\nC1,2026-01-02,abc\n", encoding="utf-8")
    assert main(["evaluate", str(path), "--cutoff", "2026-06-30"]) == 2
    assert "line 2: field 'time'" in capsys.readouterr().err
