"""Command line of the churn evaluation.

    python -m services.scoring.evaluation generate --customers 2000 --seed 7 --out hist.csv
    python -m services.scoring.evaluation evaluate hist.csv --cutoff 2026-06-30 --horizon-days 90

Exit status: 0 on success, 2 for bad arguments or an unreadable history (the error names the
line and field).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from services.scoring.evaluation.history import (
    HistoryFormatError,
    format_time,
    parse_time,
    read_history,
    write_history,
)
from services.scoring.evaluation.metrics import CalibrationBin
from services.scoring.evaluation.replay import Evaluation, ScorerResult, evaluate
from services.scoring.evaluation.synthetic import generate_history

DEFAULT_CUTOFF = "2026-06-30"


def _cutoff(text: str) -> datetime:
    """A date means the start of that day in UTC; a time must carry its offset."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cutoff: {exc}") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.scoring.evaluation",
        description=(
            "Evaluate churn.risk against what customers did after a cutoff, next to a "
            "days-since-last-order baseline (see docs/evaluation.md)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic purchase history (CSV)")
    gen.add_argument("--customers", type=int, default=2000, help="customers in the history")
    gen.add_argument("--seed", type=int, default=7, help="random seed (same seed, same file)")
    gen.add_argument("--out", type=Path, required=True, help="CSV file to write ('-': stdout)")
    gen.add_argument(
        "--cutoff",
        type=_cutoff,
        default=_cutoff(DEFAULT_CUTOFF),
        help=f"every customer orders before this (default {DEFAULT_CUTOFF})",
    )
    gen.add_argument(
        "--horizon-days",
        type=_positive,
        default=90.0,
        help="the history runs on this long after the cutoff (default 90)",
    )
    gen.add_argument(
        "--history-days",
        type=_positive,
        default=730.0,
        help="days of history before the cutoff (default 730)",
    )

    ev = commands.add_parser("evaluate", help="replay a history and report AUC, Brier, calibration")
    ev.add_argument("history", type=Path, help="CSV with header customer_id,time,amount")
    ev.add_argument(
        "--cutoff",
        type=_cutoff,
        required=True,
        help="score as of this instant (a date is 00:00 UTC); orders before it are replayed",
    )
    ev.add_argument(
        "--horizon-days",
        type=_positive,
        default=90.0,
        help="churned = no order within this many days after the cutoff (default 90)",
    )
    ev.add_argument(
        "--fit-population",
        action="store_true",
        help="fit the population prior on the replayed history first (default: worker's)",
    )
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _generate(args: argparse.Namespace) -> int:
    if args.customers < 1:
        print("--customers must be ≥ 1", file=sys.stderr)
        return 2
    history = generate_history(
        args.customers,
        seed=args.seed,
        cutoff=args.cutoff,
        horizon_days=args.horizon_days,
        history_days=args.history_days,
    )
    if str(args.out) == "-":
        rows = write_history(history.purchases, sys.stdout)
    else:
        with args.out.open("w", encoding="utf-8", newline="") as out:
            rows = write_history(history.purchases, out)
        print(f"wrote {rows} orders of {len(history.customers)} customers to {args.out}")
    return 0


def _bin_json(b: CalibrationBin) -> dict[str, Any]:
    return {
        "group": b.group,
        "customers": b.customers,
        "min_predicted": b.min_predicted,
        "max_predicted": b.max_predicted,
        "mean_predicted": b.mean_predicted,
        "observed_rate": b.observed_rate,
    }


def _scorer_json(r: ScorerResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "auc": r.auc,
        "brier": r.brier,
        "calibration": [_bin_json(b) for b in r.calibration],
    }


def report_json(source: str, e: Evaluation) -> dict[str, Any]:
    """The report as plain JSON-able data (what `--json` prints)."""
    base_rate = e.churned / e.customers
    return {
        "history": source,
        "history_rows": e.history_rows,
        "history_ends_at": None if e.history_ends_at is None else format_time(e.history_ends_at),
        "window_covered": e.window_covered,
        "cutoff": format_time(e.cutoff),
        "horizon_days": e.horizon_days,
        "model_version": e.model_version,
        "customers": e.customers,
        "churned": e.churned,
        "base_rate": base_rate,
        "base_rate_brier": base_rate * (1.0 - base_rate),
        "churn_risk": _scorer_json(e.churn_risk),
        "baseline": {
            **_scorer_json(e.baseline),
            "probability": "min(1, days_since_last_order / horizon_days)",
        },
    }


def _auc(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:.4f}"


def _calibration_lines(r: ScorerResult) -> list[str]:
    lines = [
        f"Calibration of {r.name} (customers in risk deciles, lowest first):",
        "  decile  customers  predicted range    mean predicted  churned",
    ]
    for b in r.calibration:
        lines.append(
            f"  {b.group:>6}  {b.customers:>9}  {b.min_predicted:.4f}–{b.max_predicted:.4f}"
            f"    {b.mean_predicted:>14.3f}  {b.observed_rate:>7.3f}"
        )
    return lines


def report_text(source: str, e: Evaluation) -> str:
    """The human-readable report."""
    horizon = f"{e.horizon_days:g}"
    base_rate = e.churned / e.customers
    ends = "—" if e.history_ends_at is None else format_time(e.history_ends_at)
    lines = [
        f"Churn evaluation of {source}",
        f"  cutoff        {format_time(e.cutoff)} (orders before it are replayed)",
        f"  horizon       {horizon} days (churned = no order in the {horizon} days after cutoff)",
        f"  model         {e.model_version}",
        f"  history       {e.history_rows} orders, the last at {ends}",
        f"  customers     {e.customers} scored, {e.churned} churned ({100 * base_rate:.1f} %)",
    ]
    if not e.window_covered:
        lines.append(
            "  WARNING       the history ends before the outcome window does: customers who "
            "ordered after its end count as churned"
        )
    lines += [
        "",
        "                          ROC AUC   Brier",
        f"  churn.risk               {_auc(e.churn_risk.auc)}  {e.churn_risk.brier:.4f}",
        f"  days since last order    {_auc(e.baseline.auc)}  {e.baseline.brier:.4f}"
        f"   (Brier of min(1, days / {horizon}))",
        f"  base rate, constant         —     {base_rate * (1 - base_rate):.4f}",
        "",
        *_calibration_lines(e.churn_risk),
        "",
        *_calibration_lines(e.baseline),
    ]
    return "\n".join(lines)


def _evaluate(args: argparse.Namespace) -> int:
    try:
        purchases = read_history(args.history)
    except OSError as exc:
        print(f"{args.history}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except HistoryFormatError as exc:
        print(f"{args.history}: {exc}", file=sys.stderr)
        return 2
    try:
        result = evaluate(
            purchases,
            cutoff=args.cutoff,
            horizon_days=args.horizon_days,
            fit_population=args.fit_population,
        )
    except ValueError as exc:
        print(f"{args.history}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report_json(str(args.history), result), indent=2))
    else:
        print(report_text(str(args.history), result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    return _evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
