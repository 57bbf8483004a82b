"""Funnels against the plain-Python reference, on random small lakes: every ordering, cross-
channel steps with filters, exclusions, breakdowns and attributions, merges and unmerges
between events, events written out of order in several files, and windows at their edges
(times on an hour grid, windows whole hours, so a step often falls exactly on the edge)."""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.funnels import dropped_people, funnel
from omnicx.analytics.scope import Scope
from tests.analytics import reference_funnels as ref
from tests.analytics.lakes import Row, build_lake, reattribute

T0 = datetime(2026, 3, 2)
NAMES = ("A", "B", "C", "X")
CHANNELS = ("web", "app", "store")
PEOPLE = ("p1", "p2", "p3", "p4")


@st.composite
def lakes(draw: st.DrawFn) -> dict[str, Any]:
    """Rows (each with an anchor owned by a person), a shuffle, merges, and a funnel spec."""
    anchors = {a: draw(st.sampled_from(PEOPLE)) for a in range(1, 7)}
    events = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "anchor": st.integers(1, 6),
                    "event": st.sampled_from(NAMES),
                    "slot": st.integers(0, 60),  # hours: ties and window edges are frequent
                    "channel": st.sampled_from(CHANNELS),
                    "plan": st.sampled_from([None, "gold", "basic"]),
                    "tier": st.sampled_from([None, None, "vip", "std"]),
                    "kind": st.sampled_from(["track", "track", "track", "page", "identify"]),
                    "active": st.booleans() | st.just(True),
                }
            ),
            min_size=1,
            max_size=28,
        )
    )
    # Merges and unmerges move anchors between people. (Moving one to nobody is left out: the
    # lake's `people` view keeps the previous profile then, as arg_max skips NULLs.)
    merges = draw(st.dictionaries(st.integers(1, 6), st.sampled_from(PEOPLE), max_size=3))
    steps = draw(st.lists(step_specs(), min_size=2, max_size=4))
    exclusions = []
    if draw(st.booleans()):
        first = draw(st.integers(1, len(steps) - 1))
        last = draw(st.integers(first + 1, len(steps)))
        exclusions.append((draw(step_specs()), first, last))
    attribution = draw(
        st.sampled_from(["first", "last", *(f"step:{i}" for i in range(1, len(steps) + 1))])
    )
    spec = ref.Spec(
        steps=tuple(s for s, _ in steps),
        window=timedelta(hours=draw(st.sampled_from([1, 2, 3, 6, 24]))),
        ordering=draw(st.sampled_from(["ordered", "strict", "unordered"])),
        exclusions=tuple((s, a, b) for (s, _), a, b in exclusions),
        breakdown=draw(st.sampled_from([None, "channel", "source", "property:plan", "trait:tier"])),
        attribution=attribution,
        limit=draw(st.sampled_from([1, 2, 25])),
        start=draw(st.sampled_from([None, date(2026, 3, 3)])),
        end=draw(st.sampled_from([None, date(2026, 3, 4)])),
    )
    texts = [t for _, t in steps]
    exclusion_texts = [f"{t}@{a}-{b}" for (_, t), a, b in exclusions]
    return {
        "anchors": anchors,
        "events": events,
        "merges": merges,
        "spec": spec,
        "texts": texts,
        "exclusion_texts": exclusion_texts,
        "seed": draw(st.integers(0, 2**16)),
        "batches": draw(st.integers(1, 3)),
    }


@st.composite
def step_specs(draw: st.DrawFn) -> tuple[ref.Step, str]:
    """A step and its text form: an event name, maybe with a channel or property filter."""
    name = draw(st.sampled_from(NAMES[:3]))
    kind = draw(st.sampled_from(["plain", "plain", "channel", "not_plan"]))
    if kind == "channel":
        channel = draw(st.sampled_from(CHANNELS))
        return ref.Step(
            name, (ref.Condition("channel", "=", channel),)
        ), f"{name}[channel={channel}]"
    if kind == "not_plan":
        return (
            ref.Step(name, (ref.Condition("properties.plan", "!=", "gold"),)),
            f"{name}[properties.plan!=gold]",
        )
    return ref.Step(name), name


def _write(case: dict[str, Any], directory: Path) -> tuple[list[ref.Event], Any]:
    """Writes the case's lake (shuffled, in batches, then merged) and returns the events as
    the reference sees them (ids in written order, people after the merges)."""
    rows = []
    for e in case["events"]:
        rows.append(
            Row(
                person=case["anchors"][e["anchor"]],
                event=e["event"] if e["kind"] != "identify" else None,
                ts=T0 + timedelta(hours=e["slot"]),
                channel=e["channel"],
                type=e["kind"],
                source=f"{e['channel']}-src",
                properties={"plan": e["plan"]} if e["plan"] else None,
                traits={"tier": e["tier"]} if e["tier"] else None,
                active=e["active"],
                anchor=e["anchor"],
            )
        )
    random.Random(case["seed"]).shuffle(rows)
    lake = build_lake(directory, rows, batches=case["batches"])
    if case["merges"]:
        lake = reattribute(directory, case["merges"])
    owners = {**case["anchors"], **case["merges"]}
    events = [
        ref.Event(
            id=i,
            person=owners[r.anchor],
            event=r.event,
            ts=r.ts,
            channel=r.channel,
            source=r.source or r.channel,
            type=r.type,
            active=r.active,
            properties=dict(r.properties or {}),
            traits=dict(r.traits or {}),
        )
        for i, r in enumerate(rows, 1)
        if owners[r.anchor] is not None
    ]
    return events, lake


def _scope(spec: ref.Spec) -> Scope:
    return Scope(start=spec.start, end=spec.end)


def _numbers(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = (
        "count",
        "median_seconds_from_previous",
        "average_seconds_from_previous",
        "median_seconds_from_start",
        "average_seconds_from_start",
    )
    return [{k: _round(s[k]) for k in keys} for s in steps]


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _time(time: dict[str, Any]) -> dict[str, Any]:
    return {
        "people": time["people"],
        "median_seconds": _round(time["median_seconds"]),
        "histogram": [b["count"] if isinstance(b, dict) else b for b in time["histogram"]],
    }


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(case=lakes())
def test_funnel_matches_the_reference(case: dict[str, Any], kernels: str) -> None:
    note(repr(case))
    spec: ref.Spec = case["spec"]
    with tempfile.TemporaryDirectory() as directory:
        events, lake = _write(case, Path(directory))
        result = funnel(
            lake,
            case["texts"],
            window=spec.window,
            ordering=spec.ordering,
            exclusions=case["exclusion_texts"],
            breakdown=spec.breakdown,
            breakdown_attribution=spec.attribution,
            breakdown_limit=spec.limit,
            scope=_scope(spec),
        ).to_dict()
        expected = ref.funnel(events, spec)
        assert _numbers(result["steps"]) == _numbers(expected["steps"])
        assert result["excluded"] == expected["excluded"]
        assert _time(result["time_to_convert"]) == _time(expected["time_to_convert"])
        groups = result["breakdown"]["groups"] if result["breakdown"] else []
        assert [(g["value"], g["other"]) for g in groups] == [
            (g["value"], g["other"]) for g in expected["groups"]
        ]
        for got, want in zip(groups, expected["groups"], strict=True):
            assert _numbers(got["steps"]) == _numbers(want["steps"])
            assert _time(got["time_to_convert"]) == _time(want["time_to_convert"])
        # Every person is in exactly one group.
        assert sum(g["steps"][0]["count"] for g in groups) in (0, result["steps"][0]["count"])


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=lakes(), step=st.integers(2, 4))
def test_dropped_people_match_the_reference(case: dict[str, Any], step: int) -> None:
    spec: ref.Spec = case["spec"]
    step = min(step, len(spec.steps))
    with tempfile.TemporaryDirectory() as directory:
        events, lake = _write(case, Path(directory))
        dropped = dropped_people(
            lake,
            case["texts"],
            step=step,
            window=spec.window,
            ordering=spec.ordering,
            exclusions=case["exclusion_texts"],
            scope=_scope(spec),
        )
        assert [(p.profile_id, p.reached_at) for p in dropped.people] == ref.dropped(
            events, replace(spec, breakdown=None), step
        )
