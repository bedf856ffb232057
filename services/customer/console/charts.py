"""Apache ECharts options built on the server: a page carries them as JSON in `data-chart`.

`static/console.js` only hands each option to `echarts.init(...).setOption(...)`, so what a
chart shows is decided (and translated) here, next to the rest of the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

FONT = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
    '"WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif'
)
BAND_COLOURS = {"low": "#3ba272", "medium": "#fac858", "high": "#fc8452", "critical": "#ee6666"}
LOYALTY_COLOURS = {
    "bronze": "#c27c3a",
    "silver": "#8a99a8",
    "gold": "#d9a300",
    "platinum": "#2f5bd3",
}
PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452"]

Option = dict[str, Any]


def as_attribute(option: Option) -> str:
    """The option as the JSON a `data-chart` attribute holds (Jinja escapes the quotes)."""
    return json.dumps(option, ensure_ascii=False, separators=(",", ":"))


def _base(*, animation: bool = True) -> Option:
    return {"textStyle": {"fontFamily": FONT}, "animation": animation, "color": PALETTE}


def gauge(name: str, value: float | None, *, maximum: float, unit: str, colour: str) -> Option:
    """A half-ring gauge filled up to `value` in `colour`, the number in its middle."""
    shown = round(value) if value is not None else 0
    return _base(animation=False) | {
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": maximum,
                "startAngle": 200,
                "endAngle": -20,
                "radius": "100%",
                "center": ["50%", "62%"],
                "progress": {"show": True, "width": 16, "itemStyle": {"color": colour}},
                "axisLine": {"lineStyle": {"width": 16, "color": [[1, "#e6ebf1"]]}},
                "pointer": {"show": False},
                "axisTick": {"show": False},
                "splitLine": {"show": False},
                "axisLabel": {"show": False},
                "title": {"offsetCenter": [0, "38%"], "fontSize": 14, "color": "#66788a"},
                "detail": {
                    "valueAnimation": False,
                    "offsetCenter": [0, "0%"],
                    "fontSize": 30,
                    "fontWeight": "bold",
                    "color": colour,
                    "formatter": "{value}" + unit,
                },
                "data": [{"value": shown, "name": name}],
            }
        ]
    }


def score_history(points: Sequence[tuple[str, float, float]], names: Sequence[str]) -> Option:
    """Churn risk (%, left axis) and loyalty score (right axis) over time; each point is
    (local time "YYYY-MM-DD HH:MM:SS", risk %, loyalty). A time axis, because scores come at
    irregular moments (several in one minute when events arrive together)."""
    return _base(animation=False) | {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": list(names), "top": 0},
        "grid": {"left": 48, "right": 48, "top": 40, "bottom": 40},
        "xAxis": {"type": "time", "axisLabel": {"hideOverlap": True}},
        "yAxis": [
            {
                "type": "value",
                "min": 0,
                "max": 100,
                "name": names[0],
                "axisLabel": {"formatter": "{value}%"},
            },
            {"type": "value", "min": 0, "max": 100, "name": names[1], "splitLine": {"show": False}},
        ],
        "series": [
            {
                "name": names[0],
                "type": "line",
                "data": [[at, risk] for at, risk, _ in points],
                "yAxisIndex": 0,
                "step": "end",
                "itemStyle": {"color": "#ee6666"},
            },
            {
                "name": names[1],
                "type": "line",
                "data": [[at, loyalty] for at, _, loyalty in points],
                "yAxisIndex": 1,
                "step": "end",
                "itemStyle": {"color": "#5470c6"},
            },
        ],
    }


def bars(labels: Sequence[str], values: Sequence[float], *, colours: Sequence[str] = ()) -> Option:
    """Vertical bars, one per label (each coloured from `colours` when given)."""
    data: list[Any] = [
        {"value": value, "itemStyle": {"color": colours[i]}} if i < len(colours) else value
        for i, value in enumerate(values)
    ]
    return _base() | {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 16, "top": 20, "bottom": 48},
        "xAxis": {
            "type": "category",
            "data": list(labels),
            "axisLabel": {"interval": 0, "rotate": 30 if len(labels) > 4 else 0},
        },
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "data": data,
                "barMaxWidth": 48,
                "label": {"show": True, "position": "top"},
            }
        ],
    }


def donut(labels: Sequence[str], values: Sequence[float], *, colours: Sequence[str] = ()) -> Option:
    """A ring of shares with a legend."""
    data = [
        {"name": label, "value": value}
        | ({"itemStyle": {"color": colours[i]}} if i < len(colours) else {})
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
        if value  # an empty slice only crowds the labels
    ]
    return _base() | {
        "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
        "legend": {"bottom": 0},
        "series": [
            {
                "type": "pie",
                "radius": ["40%", "68%"],
                "center": ["50%", "45%"],
                "data": data,
                "label": {"formatter": "{b}\n{c}"},
            }
        ],
    }
