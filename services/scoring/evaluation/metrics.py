"""Discrimination and calibration of a probabilistic score against observed outcomes.

Pure Python (no numpy): the evaluation must run wherever the scorer runs, and these are a few
sorts and sums over one number per customer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CalibrationBin", "brier_score", "calibration_table", "roc_auc"]


def _check(scores: Sequence[float], outcomes: Sequence[bool]) -> None:
    if len(scores) != len(outcomes):
        raise ValueError(f"{len(scores)} scores but {len(outcomes)} outcomes")
    if not scores:
        raise ValueError("no customers to evaluate")
    if not all(math.isfinite(s) for s in scores):
        raise ValueError("scores must be finite")


def _midranks(scores: Sequence[float]) -> list[float]:
    """1-based ranks of `scores`, tied scores sharing the mean of the ranks they span."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        shared = (start + end) / 2.0 + 1.0
        for k in range(start, end + 1):
            ranks[order[k]] = shared
        start = end + 1
    return ranks


def roc_auc(scores: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Area under the ROC curve: P(a random positive scores above a random negative), ties
    counting one half (Mann–Whitney U from midranks).

    Ties matter here: the baseline (whole days of silence) and rounded risks tie a lot, and
    breaking ties by input order would make the AUC depend on the file's row order.
    Raises ValueError when the outcomes are all one class (the AUC is undefined).
    """
    _check(scores, outcomes)
    positives = sum(1 for o in outcomes if o)
    negatives = len(outcomes) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one positive and one negative outcome")
    ranks = _midranks(scores)
    rank_sum = math.fsum(r for r, o in zip(ranks, outcomes, strict=True) if o)
    u = rank_sum - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def brier_score(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome
    (0 is perfect; always predicting the base rate p scores p·(1 − p))."""
    _check(probabilities, outcomes)
    if any(not 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError("probabilities must be within [0, 1]")
    return math.fsum(
        (p - (1.0 if o else 0.0)) ** 2 for p, o in zip(probabilities, outcomes, strict=True)
    ) / len(probabilities)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One risk group: how many customers, the mean predicted risk and the observed rate."""

    group: int
    customers: int
    min_predicted: float
    max_predicted: float
    mean_predicted: float
    observed_rate: float


def calibration_table(
    probabilities: Sequence[float], outcomes: Sequence[bool], groups: int = 10
) -> list[CalibrationBin]:
    """Customers sorted by predicted risk and cut into `groups` groups of (nearly) equal size
    (deciles by default), lowest risk first; a calibrated score has mean_predicted ≈
    observed_rate in every group.

    Equal-count groups rather than fixed risk intervals, because churn risks crowd near 0 and
    near 1 and fixed intervals would leave most groups empty. Tied risks may straddle two groups
    (they are cut by position, ties kept in input order), which is why each group reports its
    own risk range.
    """
    _check(probabilities, outcomes)
    if groups < 1:
        raise ValueError("groups must be ≥ 1")
    order = sorted(range(len(probabilities)), key=lambda i: probabilities[i])
    n = len(order)
    table: list[CalibrationBin] = []
    for g in range(min(groups, n)):
        members = order[g * n // min(groups, n) : (g + 1) * n // min(groups, n)]
        predicted = [probabilities[i] for i in members]
        table.append(
            CalibrationBin(
                group=g + 1,
                customers=len(members),
                min_predicted=min(predicted),
                max_predicted=max(predicted),
                mean_predicted=math.fsum(predicted) / len(members),
                observed_rate=sum(1 for i in members if outcomes[i]) / len(members),
            )
        )
    return table
