"""Every query of the Grafana dashboard names a metric the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import services.complaint.metrics
import services.scoring.metrics
import shared.observability  # noqa: F401  (importing registers the metrics)

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "customer-signals.json"
_ = (services.complaint.metrics, services.scoring.metrics)


def exported_series() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
            names.add(family.name + suffix)
    return names


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_series()
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert queries
    unknown = {
        name
        for query in queries
        for name in re.findall(r"\bcrm_[a-z_]+\b", query)
        if name not in exported
    }
    assert unknown == set()
    # Each query uses at least one of our metrics.
    assert all(re.search(r"\bcrm_[a-z_]+\b", query) for query in queries)


def test_every_exported_metric_is_on_the_dashboard() -> None:
    text = DASHBOARD.read_text()
    ours = {f.name for f in REGISTRY.collect() if f.name.startswith("crm_")}
    assert {name for name in ours if name not in text} == set()
