"""The analyses bench/analytics.py times: how to call omnicx's function, how to read its
report in the canonical form of bench/analytics_reference.py, and the references to compare.

An analysis whose module is not in omnicx yet is listed with a note instead of a function.
"""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import analytics_pandas as pdref
import analytics_reference as ref
import analytics_sequences as seq
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scope import Scope


@dataclass(frozen=True)
class Analysis:
    """One analysis: omnicx's function (returning the canonical answer) and the references."""

    name: str
    target: float | None
    omnicx: Callable[[LakeSnapshot], Any] | None
    sql: Callable[[ref.LakeFiles, int], Any] | None = None
    pandas: Callable[[ref.LakeFiles], Any] | None = None
    note: str | None = None


def compare(expected: Any, found: Any, *, tolerance: float = 1e-6) -> str | None:
    """None when two canonical answers agree (floats to `tolerance`, relative above 1),
    else what differs."""
    problems: list[str] = []
    _compare(expected, found, "", tolerance, problems)
    if not problems:
        return None
    return f"{len(problems)} differences, e.g. " + "; ".join(problems[:3])


def _compare(a: Any, b: Any, where: str, tolerance: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=repr):
            if key not in a or key not in b:
                out.append(f"{where}{key!r} only in {'omnicx' if key in a else 'reference'}")
            else:
                _compare(a[key], b[key], f"{where}{key!r}→", tolerance, out)
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _compare(x, y, f"{where}[{i}]", tolerance, out)
    elif isinstance(a, float) or isinstance(b, float):
        numbers = isinstance(a, int | float) and isinstance(b, int | float)
        if not numbers or not math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance):
            out.append(f"{where}: {a!r} != {b!r}")
    elif a != b:
        out.append(f"{where}: {a!r} != {b!r}")


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(f"omnicx.analytics.{name}")
    except ImportError:
        return None


# --------------------------------------------------------------------------- omnicx → canonical


def _funnel(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.funnels import funnel

    result = funnel(lake, list(seq.FUNNEL_STEPS), breakdown="channel")
    answer: dict[Any, Any] = {("(all)", s.index): s.count for s in result.steps if s.count}
    for group in result.groups:
        for s in group.steps:
            if s.count:
                answer[(str(group.value), s.index)] = s.count
    answer["average_seconds_to_convert"] = result.time_to_convert.average_seconds
    return answer


def _paths(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.paths import paths

    result = paths(lake, by="channel", depth=seq.PATH_DEPTH, top=seq.TOP_PATHS)
    return {
        "people": result.people,
        "paths": {p.steps: p.people for p in result.paths},
        "transitions": {
            (t.source, t.target): (t.transitions, t.people) for t in result.transitions
        },
    }


def _retention(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.retention import retention

    report = retention(lake, Scope(), by_first_channel=True, periods=ref.PERIODS)
    return {
        (c.start, c.channel, k): n for c in report.cohorts for k, n in enumerate(c.retained) if n
    }


def _lifecycle(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.lifecycle import STATUSES, lifecycle

    report = lifecycle(lake, Scope())
    return {(p.start, s): getattr(p, s) for p in report.periods for s in STATUSES if getattr(p, s)}


def _churn(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.churn import churn_points

    report = churn_points(lake, Scope(), inactive_after=ref.CHURN_DAYS, limit=20)
    return {
        (p.touches[0].channel, p.touches[0].event): (p.churned, p.retained) for p in report.points
    }


def _churn_top(answer: dict[tuple[str, str], tuple[int, int]]) -> Any:
    """The reference's answer as omnicx reports it: churned touchpoints, the top 20."""
    ranked = sorted(
        ((k, v) for k, v in answer.items() if v[0]), key=lambda i: (-i[1][0], i[1][1], i[0])
    )
    return dict(ranked[:20])


def _channels(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.channels import channel_performance

    report = channel_performance(lake, Scope())
    return {
        (f.channel, f.period): (f.reach, f.engaged, f.converted, f.orders, float(f.revenue))
        for f in (*report.periods, *report.totals)
        if f.reach
    }


def _multichannel(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.multichannel import multichannel_value

    report = multichannel_value(lake, Scope())
    out = {}
    for prefix, groups, offset in (
        ("channels", report.by_channels, 1),
        ("touchpoints", report.by_touchpoints, 0),
    ):
        for i, g in enumerate(groups):
            if g.people:
                out[f"{prefix}:{i + offset}"] = (g.people, g.customers, g.orders, float(g.revenue))
    return out


def _attribution(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.attribution import attribution

    result = attribution(lake)
    return {
        "conversions": result.conversions,
        "revenue": result.revenue,
        "without_conversion": result.journeys_without_conversion,
        "credit": {
            (c.channel, model): (credit.conversions, credit.revenue)
            for c in result.channels
            for model, credit in c.credit.items()
            if credit.conversions or credit.revenue
        },
        "removal_effects": {c.channel: c.removal_effect for c in result.channels},
        "conversion_probability": result.conversion_probability,
    }


def _nonzero(answer: dict[str, Any]) -> dict[str, Any]:
    """An attribution answer without zero credits (omnicx lists every channel per model)."""
    credit = {k: v for k, v in answer["credit"].items() if v[0] or v[1]}
    return {**answer, "credit": credit}


def _stages(lake: LakeSnapshot) -> Any:
    from omnicx.analytics.stages import stage_report

    report = stage_report(lake, Scope())
    return {c.stage: c.people for c in report.counts}


# --------------------------------------------------------------------------- the list


def analyses(args: argparse.Namespace) -> list[Analysis]:
    """Every analysis, in the order the report shows them."""
    del args
    found: list[Analysis] = []

    def add(module: str, analysis: Analysis) -> None:
        if _module(module) is None:
            note = f"omnicx.analytics.{module} does not exist yet"
            found.append(Analysis(analysis.name, analysis.target, None, note=note))
        else:
            found.append(analysis)

    add("funnels", Analysis("funnel", 1.0, _funnel, seq.funnel_sql, pdref.funnel_pandas))
    add("paths", Analysis("paths", 5.0, _paths, seq.paths_sql, pdref.paths_pandas))
    add(
        "retention",
        Analysis("retention", 5.0, _retention, ref.retention_sql, pdref.retention_pandas),
    )
    add(
        "attribution",
        Analysis(
            "attribution",
            5.0,
            _attribution,
            lambda f, t: _nonzero(seq.attribution_sql(f, t)),
            lambda f: _nonzero(pdref.attribution_pandas(f)),
        ),
    )
    add(
        "lifecycle",
        Analysis("lifecycle", None, _lifecycle, ref.lifecycle_sql, pdref.lifecycle_pandas),
    )
    add(
        "churn",
        Analysis(
            "churn",
            None,
            _churn,
            lambda f, t: _churn_top(ref.churn_sql(f, t)),
            lambda f: _churn_top(pdref.churn_pandas(f)),
        ),
    )
    add("channels", Analysis("channels", None, _channels, ref.channels_sql, pdref.channels_pandas))
    add(
        "multichannel",
        Analysis(
            "multichannel", None, _multichannel, ref.multichannel_sql, pdref.multichannel_pandas
        ),
    )
    add("stages", Analysis("stages", None, _stages, note="no reference"))
    return found
