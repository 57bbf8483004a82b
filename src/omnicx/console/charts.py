"""Apache ECharts options built on the server: pages hand them to `ui.chart` (macros.html),
console.js draws them. Labels arrive translated and numbers as numbers; the browser's ECharts
does the drawing, so a chart is data, not markup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = (
    "#0b5cad",
    "#d1700d",
    "#1a7f4b",
    "#b3261e",
    "#6f42c1",
    "#0f7c8c",
    "#8a6d00",
    "#c2185b",
    "#5a6772",
)
"""Distinguishable for the common colour-vision deficiencies, dark enough on white."""

_BASE: dict[str, Any] = {
    "color": list(PALETTE),
    "tooltip": {"trigger": "axis", "confine": True},
    "grid": {"left": 8, "right": 16, "top": 40, "bottom": 8, "containLabel": True},
    "aria": {"enabled": True},
    "animation": False,
}


def _with_base(option: dict[str, Any], *, rtl: bool = False) -> dict[str, Any]:
    merged = {**_BASE, **option}
    if rtl and "xAxis" in merged and isinstance(merged["xAxis"], dict):
        # Right-to-left readers read time and categories from the right.
        merged["xAxis"] = {**merged["xAxis"], "inverse": True}
        if isinstance(merged.get("yAxis"), dict):
            merged["yAxis"] = {**merged["yAxis"], "position": "right"}
    return merged


def bar(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | int | None]],
    *,
    stacked: bool = False,
    horizontal: bool = False,
    rtl: bool = False,
    percent: bool = False,
) -> dict[str, Any]:
    """Bars: one series per entry of `series`, one bar per category."""
    category_axis: dict[str, Any] = {"type": "category", "data": list(categories)}
    value_axis: dict[str, Any] = {"type": "value"}
    if percent:
        value_axis["axisLabel"] = {"formatter": "{value}%"}
    option = {
        "legend": {"show": len(series) > 1, "top": 0},
        "xAxis": value_axis if horizontal else category_axis,
        "yAxis": category_axis if horizontal else value_axis,
        "series": [
            {
                "name": name,
                "type": "bar",
                "data": list(values),
                **({"stack": "total"} if stacked else {}),
            }
            for name, values in series.items()
        ],
    }
    return _with_base(option, rtl=rtl and not horizontal)


def line(
    x: Sequence[str],
    series: Mapping[str, Sequence[float | int | None]],
    *,
    area: bool = False,
    stacked: bool = False,
    rtl: bool = False,
) -> dict[str, Any]:
    """Lines over time (or any ordered axis): one line per entry of `series`."""
    option = {
        "legend": {"show": len(series) > 1, "top": 0, "type": "scroll"},
        "xAxis": {"type": "category", "data": list(x), "boundaryGap": False},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": name,
                "type": "line",
                "showSymbol": len(x) <= 40,
                "data": list(values),
                **({"areaStyle": {}} if area else {}),
                **({"stack": "total"} if stacked else {}),
            }
            for name, values in series.items()
        ],
    }
    return _with_base(option, rtl=rtl)


def sankey(
    nodes: Sequence[Mapping[str, Any]], links: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A Sankey diagram: nodes `{"name"}` (unique), links `{"source", "target", "value"}`
    by node name."""
    return {
        "color": list(PALETTE),
        "tooltip": {"trigger": "item", "confine": True},
        "aria": {"enabled": True},
        "animation": False,
        "series": [
            {
                "type": "sankey",
                "data": [dict(node) for node in nodes],
                "links": [dict(link) for link in links],
                "emphasis": {"focus": "adjacency"},
                "nodeAlign": "left",
                "lineStyle": {"color": "gradient", "curveness": 0.5, "opacity": 0.35},
                "label": {"color": "#1b1f24"},
            }
        ],
    }


def heatmap(
    x: Sequence[str],
    y: Sequence[str],
    cells: Sequence[tuple[int, int, float | None]],
    *,
    maximum: float = 100.0,
    rtl: bool = False,
) -> dict[str, Any]:
    """A grid of values (a retention grid): `cells` are (x index, y index, value)."""
    option = {
        "tooltip": {"trigger": "item", "confine": True},
        "grid": {"left": 8, "right": 16, "top": 8, "bottom": 48, "containLabel": True},
        "xAxis": {"type": "category", "data": list(x), "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": list(y), "inverse": True},
        "visualMap": {
            "min": 0,
            "max": maximum,
            "calculable": False,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#f4f8fc", "#0b5cad"]},
        },
        "series": [
            {
                "type": "heatmap",
                "data": [[i, j, value if value is not None else "-"] for i, j, value in cells],
                "label": {"show": len(cells) <= 200},
            }
        ],
    }
    return _with_base(option, rtl=rtl)
