"""Benchmarks, run on demand against the local stack (`python -m bench …`), never in CI.

Each prints its figures as ratios against a baseline measured in the same run.
"""
