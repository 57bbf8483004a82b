"""Paths: worked examples with hand-counted numbers, and the reference implementation on
random lakes (merges, shuffled arrival in several batches, date ranges)."""

from __future__ import annotations

import random
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicx.analytics.lake import open_lake
from omnicx.analytics.paths import PathsError, paths
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_paths as reference
from tests.analytics.lakes import Row, build_lake, reattribute

T0 = datetime(2026, 3, 1, 9)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def journeys() -> list[Row]:
    """ann: web web email store; bob: app web web store; cat: web email store; dan: email.
    An e-mail delivered is passive: it is no touchpoint."""
    return [
        Row("ann", "Page Viewed", at(0), channel="web"),
        Row("ann", "Page Viewed", at(0.1), channel="web"),
        Row("ann", "Email Delivered", at(1), channel="email", active=False),
        Row("ann", "Email Opened", at(3), channel="email"),
        Row("ann", "Order Completed", at(24), channel="store", revenue=40.0),
        Row("bob", "App Opened", at(1), channel="app"),
        Row("bob", "Page Viewed", at(2), channel="web"),
        Row("bob", "Page Viewed", at(2.5), channel="web"),
        Row("bob", "Order Completed", at(30), channel="store", revenue=10.0),
        Row("cat", "Page Viewed", at(5), channel="web"),
        Row("cat", "Email Opened", at(6), channel="email"),
        Row("cat", "Order Completed", at(7), channel="store"),
        Row("dan", "Email Delivered", at(1), channel="email", active=False),
        Row("dan", "Email Opened", at(8), channel="email"),
    ]


def test_channel_paths_collapse_repeats_and_skip_passive_events(tmp_path: Path) -> None:
    result = paths(build_lake(tmp_path, journeys()))
    assert result.people == 4
    assert [(p.steps, p.people) for p in result.paths] == [
        (("web", "email", "store"), 2),
        (("app", "web", "store"), 1),
        (("email",), 1),
    ]
    # web→email twice (ann, cat), web→store once (bob): shares 2/3 and 1/3 of web's exits.
    assert [(t.source, t.target, t.transitions, t.people) for t in result.transitions] == [
        ("email", "store", 2, 2),
        ("web", "email", 2, 2),
        ("app", "web", 1, 1),
        ("web", "store", 1, 1),
    ]
    shares = {(t.source, t.target): t.share for t in result.transitions}
    assert shares["web", "email"] == pytest.approx(2 / 3)
    assert shares["web", "store"] == pytest.approx(1 / 3)
    assert shares["email", "store"] == 1.0
    assert [(n.id, n.people) for n in result.nodes] == [
        ("1: web", 2),
        ("1: app", 1),
        ("1: email", 1),
        ("2: email", 2),
        ("2: web", 1),
        ("3: store", 3),
    ]
    assert [(link.source, link.target, link.value) for link in result.links] == [
        ("1: web", "2: email", 2),
        ("1: app", "2: web", 1),
        ("2: email", "3: store", 2),
        ("2: web", "3: store", 1),
    ]
    names, counts = result.matrix()
    assert names == ["app", "email", "store", "web"]
    assert counts[names.index("web")] == [0, 2, 1, 0]


def test_repeats_kept_when_asked(tmp_path: Path) -> None:
    result = paths(build_lake(tmp_path, journeys()), collapse_repeats=False)
    assert [(p.steps, p.people) for p in result.paths][:2] == [
        (("app", "web", "web", "store"), 1),
        (("email",), 1),
    ]
    by_pair = {(t.source, t.target): t.transitions for t in result.transitions}
    assert by_pair["web", "web"] == 2  # ann once, bob once


def test_paths_from_and_to_a_step(tmp_path: Path) -> None:
    lake = build_lake(tmp_path, journeys())
    onward = paths(lake, start_at="web", depth=2)
    assert onward.people == 3  # dan never touched the web
    assert [(p.steps, p.people) for p in onward.paths] == [
        (("web", "email"), 2),
        (("web", "store"), 1),
    ]
    before = paths(lake, end_at="store", depth=2)
    assert [(p.steps, p.people) for p in before.paths] == [
        (("email", "store"), 2),
        (("web", "store"), 1),
    ]
    # Counting back from the chosen step keeps every path's end in one column.
    assert [(n.id, n.people) for n in before.nodes] == [
        ("-1: email", 2),
        ("-1: web", 1),
        ("0: store", 3),
    ]
    assert [link.to_dict() for link in before.links] == [
        {"source": "-1: email", "target": "0: store", "value": 2},
        {"source": "-1: web", "target": "0: store", "value": 1},
    ]


def test_event_paths_name_events(tmp_path: Path) -> None:
    result = paths(build_lake(tmp_path, journeys()), by="event", start_at="Email Opened", top=1)
    assert result.people == 3
    assert [(p.steps, p.people) for p in result.paths] == [(("Email Opened", "Order Completed"), 2)]


def test_a_merge_joins_two_paths_into_one_person(tmp_path: Path) -> None:
    rows = [
        Row("ann", "Page Viewed", at(1), channel="web", anchor=1),
        Row("ann", "Order Completed", at(2), channel="store", anchor=1),
        Row("eve", "App Opened", at(0), channel="app", anchor=2),
    ]
    assert paths(build_lake(tmp_path, rows)).people == 2
    merged = paths(reattribute(tmp_path, {2: "ann"}))
    assert merged.people == 1
    assert [(p.steps, p.people) for p in merged.paths] == [(("app", "web", "store"), 1)]


def test_date_range_and_filters_choose_the_touchpoints(tmp_path: Path) -> None:
    lake = build_lake(tmp_path, journeys())
    result = paths(lake, scope=Scope(start=date(2026, 3, 2)))
    assert [(p.steps, p.people) for p in result.paths] == [(("store",), 2)]
    no_email = paths(lake, scope=Scope(filters=(Filter("channel", "!=", "email"),)))
    # ann's two web visits meet once her e-mail is filtered out; dan has no touchpoint left.
    assert [(p.steps, p.people) for p in no_email.paths] == [
        (("web", "store"), 2),
        (("app", "web", "store"), 1),
    ]


def test_the_json_shape(tmp_path: Path) -> None:
    document = paths(build_lake(tmp_path, journeys()), depth=2, top=1).to_dict()
    assert set(document) == {
        "by", "from_step", "to_step", "depth", "top", "collapse_repeats", "people",
        "paths", "nodes", "links", "transitions", "matrix",
    }  # fmt: skip
    assert document["paths"] == [{"path": ["web", "email"], "people": 2}]
    assert document["links"] == [{"source": "1: web", "target": "2: email", "value": 2}]
    assert document["transitions"][0] == {
        "source": "email", "target": "store", "transitions": 2, "people": 2, "share": 1.0,
    }  # fmt: skip


def test_an_empty_lake_has_no_paths(tmp_path: Path) -> None:
    result = paths(build_lake(tmp_path, []))
    assert (result.people, result.paths, result.nodes, result.transitions) == (0, (), (), ())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"by": "source"}, "by channel or event"),
        ({"start_at": "web", "end_at": "store"}, "not both"),
        ({"depth": 0}, "depth must be 1 to 20"),
        ({"depth": 21}, "depth must be 1 to 20"),
        ({"top": 0}, "1 to 1000"),
    ],
)
def test_bad_parameters_are_named(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(PathsError, match=message):
        paths(build_lake(tmp_path, journeys()), **arguments)  # type: ignore[arg-type]


CHANNELS = ["web", "app", "email", "store"]
EVENTS = ["Page Viewed", "Product Viewed", "Email Delivered", "Order Completed"]


@st.composite
def lakes(draw: st.DrawFn) -> tuple[list[Row], dict[int, str | None], int]:
    """Rows of up to 4 people, two anchors each; anchors moved to another person (a merge
    or an unmerge); a batch count."""
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        person = draw(st.integers(0, 3))
        event = draw(st.sampled_from(EVENTS))
        rows.append(
            Row(
                f"p{person}",
                event,
                at(draw(st.integers(0, 24 * 6)) * 1.0),  # hours: ties happen
                channel=draw(st.sampled_from(CHANNELS)),
                active=event != "Email Delivered",
                anchor=100 + 10 * person + draw(st.integers(0, 1)),
            )
        )
    owners = draw(
        st.dictionaries(
            st.sampled_from([100 + 10 * p + a for p in range(4) for a in range(2)]),
            st.sampled_from(["p0", "p1", "p2", "p3"]),
            max_size=2,
        )
    )
    return rows, owners, draw(st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(
    lakes(),
    st.sampled_from(["channel", "event"]),
    st.booleans(),
    st.sampled_from(["none", "start", "end"]),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([None, date(2026, 3, 2), date(2026, 3, 4)]),
    st.randoms(use_true_random=False),
)
def test_paths_match_the_reference(
    lake: tuple[list[Row], dict[int, str | None], int],
    by: str,
    collapse: bool,
    anchor: str,
    depth: int,
    top: int,
    start: date | None,
    shuffle: random.Random,
) -> None:
    rows, owners, batches = lake
    rows = list(rows)
    shuffle.shuffle(rows)  # arrival order is not time order
    node = reference.channel_of if by == "channel" else reference.event_of
    step = node(rows[0]) if rows else "web"
    start_at, end_at = (step if anchor == "start" else None), (step if anchor == "end" else None)
    with tempfile.TemporaryDirectory() as directory:
        build_lake(Path(directory), rows, batches=batches)
        if owners:
            reattribute(Path(directory), owners)
        result = paths(
            open_lake(Path(directory)),
            by=by,  # type: ignore[arg-type]
            start_at=start_at,
            end_at=end_at,
            depth=depth,
            top=top,
            collapse_repeats=collapse,
            scope=Scope(start=start),
        )
    expected = reference.paths(
        reference.attribute(rows, owners),
        by=by,
        start_at=start_at,
        end_at=end_at,
        depth=depth,
        top=top,
        collapse=collapse,
        start=start,
    )
    assert result.people == expected["people"]
    assert [(p.steps, p.people) for p in result.paths] == expected["paths"]
    assert {
        (t.source, t.target): (t.transitions, t.people) for t in result.transitions
    } == expected["transitions"]
    # The Sankey carries exactly the top paths' people.
    anchored = [n.people for n in result.nodes if n.step == (0 if end_at else 1)]
    assert sum(anchored) == sum(p.people for p in result.paths)
