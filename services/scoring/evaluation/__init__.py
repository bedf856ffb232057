"""Offline evaluation of churn risk: replay a purchase history through the real scorer up to a
cutoff and compare `churn.risk` with what customers did in the following horizon.

Modules: `history` (the CSV format), `synthetic` (histories to develop against), `replay` (the
real domain fold and score, plus outcome labels), `metrics` (AUC, Brier, calibration).
Usage and measured numbers: docs/evaluation.md.
"""
