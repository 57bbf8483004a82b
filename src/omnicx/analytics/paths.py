"""Paths: how customers move between channels (or events), as a Sankey diagram's nodes and
links and as a transition matrix.

A person's *touchpoints* are their active events in the scope (what they did, not what was
sent to them: an e-mail delivered is not one), in time order (ties: arrival order). Each is
a node: its channel, or its event (a page or screen's name; the type when it has none).
Consecutive repeats of a node collapse into one (web, web, email → web, email) unless
`collapse_repeats` is False.

- **Transitions**: how often a touchpoint on A was followed by one on B, over every person's
  whole sequence, with how many people did so at least once.
- **Top paths**: each person contributes one path of at most `depth` steps: from their first
  touchpoint; or from their first `start_at` step onwards; or, with `end_at`, the steps that
  led to their first `end_at` (ending with it). People without that step have no path. The
  `top` most common paths are counted in people.
- **Sankey**: the top paths as nodes and links. A node is a step's position and name
  ("1: web", "2: email"), so the graph has no cycles; with `end_at` positions count back
  from it ("-1: web" → "0: store"). A link's value is people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.phrases import analytics_wording as _say
from omnicx.analytics.scope import Scope
from omnicx.wording import WordedError

PathsBy = Literal["channel", "event"]
BY: tuple[PathsBy, ...] = ("channel", "event")
MAX_DEPTH = 20
MAX_TOP = 1000

_NODE = {"channel": "channel", "event": "coalesce(event, type)"}


class PathsError(WordedError):
    """Paths parameters that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class PathCount:
    """One path (its steps' names, in order) and how many people followed it."""

    steps: tuple[str, ...]
    people: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"path": list(self.steps), "people": self.people}


@dataclass(frozen=True, slots=True)
class Node:
    """A Sankey node: a step's position and name; `people` through it in the top paths."""

    id: str
    name: str
    step: int
    people: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"id": self.id, "name": self.name, "step": self.step, "people": self.people}


@dataclass(frozen=True, slots=True)
class Link:
    """A Sankey link between two nodes; `value` is people (in the top paths)."""

    source: str
    target: str
    value: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"source": self.source, "target": self.target, "value": self.value}


@dataclass(frozen=True, slots=True)
class Transition:
    """Touchpoints on `source` directly followed by one on `target`: how many times, by how
    many people, and the share of all transitions out of `source`."""

    source: str
    target: str
    transitions: int
    people: int
    share: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "source": self.source,
            "target": self.target,
            "transitions": self.transitions,
            "people": self.people,
            "share": self.share,
        }


@dataclass(frozen=True, slots=True)
class PathsResult:
    """Top paths, their Sankey nodes and links, and the transitions between nodes."""

    by: PathsBy
    start_at: str | None
    end_at: str | None
    depth: int
    top: int
    collapse_repeats: bool
    people: int
    """People with a path (with a touchpoint; with the chosen step when there is one)."""
    paths: tuple[PathCount, ...]
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    transitions: tuple[Transition, ...]
    """Most frequent first."""

    def matrix(self) -> tuple[list[str], list[list[int]]]:
        """The transition counts as a square matrix: names, and counts[from][to]."""
        names = sorted({t.source for t in self.transitions} | {t.target for t in self.transitions})
        index = {name: i for i, name in enumerate(names)}
        counts = [[0] * len(names) for _ in names]
        for t in self.transitions:
            counts[index[t.source]][index[t.target]] = t.transitions
        return names, counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        names, counts = self.matrix()
        return {
            "by": self.by,
            "from_step": self.start_at,
            "to_step": self.end_at,
            "depth": self.depth,
            "top": self.top,
            "collapse_repeats": self.collapse_repeats,
            "people": self.people,
            "paths": [p.to_dict() for p in self.paths],
            "nodes": [n.to_dict() for n in self.nodes],
            "links": [link.to_dict() for link in self.links],
            "transitions": [t.to_dict() for t in self.transitions],
            "matrix": {"names": names, "counts": counts},
        }


def paths(
    lake: LakeSnapshot,
    *,
    by: PathsBy = "channel",
    start_at: str | None = None,
    end_at: str | None = None,
    depth: int = 5,
    top: int = 20,
    collapse_repeats: bool = True,
    scope: Scope | None = None,
) -> PathsResult:
    """The top `top` paths of at most `depth` steps by channel or event (from `start_at`, or
    to `end_at`, or from each person's first touchpoint), their Sankey nodes and links, and
    the transitions between nodes over the whole scope."""
    if by not in BY:
        raise PathsError(_say("paths_by", by=by))
    if start_at is not None and end_at is not None:
        raise PathsError(_say("paths_both_ends"))
    if not 1 <= depth <= MAX_DEPTH:
        raise PathsError(_say("paths_depth", low=1, high=MAX_DEPTH, depth=depth))
    if not 1 <= top <= MAX_TOP:
        raise PathsError(_say("paths_top", low=1, high=MAX_TOP, top=top))
    with lake.connect(scope or Scope()) as db:
        # One window pass (the only sort): each touchpoint with the node before it.
        db.execute(
            f"""
            CREATE TEMP TABLE touchpoints AS
            SELECT person, node, ts, event_id, previous FROM (
                SELECT person_key AS person, {_NODE[by]} AS node, ts, event_id,
                    lag({_NODE[by]}) OVER (PARTITION BY person_key ORDER BY ts, event_id)
                        AS previous
                FROM events WHERE active
            ) {"WHERE previous IS DISTINCT FROM node" if collapse_repeats else ""}
            """
        )
        transitions = _transitions(
            db.execute(
                "SELECT previous, node, count(*), count(DISTINCT person) FROM touchpoints "
                "WHERE previous IS NOT NULL GROUP BY ALL"
            ).fetchall()
        )
        counted = db.execute(*_top_paths_query(start_at, end_at, depth, top)).fetchall()
    total = counted[0][2] if counted else 0
    found = tuple(PathCount(tuple(steps), int(people)) for steps, people, _ in counted)
    nodes, links = sankey(found, backwards=end_at is not None)
    return PathsResult(
        by=by,
        start_at=start_at,
        end_at=end_at,
        depth=depth,
        top=top,
        collapse_repeats=collapse_repeats,
        people=int(total),
        paths=found,
        nodes=nodes,
        links=links,
        transitions=transitions,
    )


def _top_paths_query(
    start_at: str | None, end_at: str | None, depth: int, top: int
) -> tuple[str, list[Any]]:
    """SQL counting people per path (with every person's total) and its parameters.

    Each person's path is a top-n aggregate (`arg_min(node, order, depth)`: their first
    `depth` nodes, in order), which needs no second sort of the touchpoints; from a step,
    or to one, it takes the nodes from (or up to) the person's first such step."""
    order = "{'ts': ts, 'id': event_id}"
    step = end_at if end_at is not None else start_at
    if step is None:
        paths = f"SELECT arg_min(node, {order}, {depth}) AS path FROM touchpoints GROUP BY person"
        parameters: list[Any] = []
    else:
        picked = (
            f"list_reverse(arg_max(node, {order}, {depth}))"
            if end_at is not None
            else f"arg_min(node, {order}, {depth})"
        )
        side = "<=" if end_at is not None else ">="
        paths = f"""
            SELECT {picked} AS path FROM touchpoints JOIN (
                SELECT person, min({order}) AS mark FROM touchpoints WHERE node = ?
                GROUP BY person
            ) USING (person)
            WHERE {order} {side} mark GROUP BY person
        """
        parameters = [step]
    sql = f"""
        WITH counted AS (SELECT path, count(*) AS people FROM ({paths}) GROUP BY path)
        SELECT path, people, sum(people) OVER () AS everyone FROM counted
        ORDER BY people DESC, path LIMIT {top}
    """
    return sql, parameters


def _transitions(rows: Sequence[tuple[Any, ...]]) -> tuple[Transition, ...]:
    """Transitions from (source, target, count, people) rows, with their shares."""
    out: dict[str, int] = {}
    for source, _, count, _ in rows:
        out[source] = out.get(source, 0) + int(count)
    return tuple(
        sorted(
            (
                Transition(source, target, int(count), int(people), int(count) / out[source])
                for source, target, count, people in rows
            ),
            key=lambda t: (-t.transitions, t.source, t.target),
        )
    )


def sankey(
    found: Sequence[PathCount], *, backwards: bool = False
) -> tuple[tuple[Node, ...], tuple[Link, ...]]:
    """Nodes and links of paths: each step named by its position (1, 2, ...; counting back
    to 0 at the last step when `backwards`), weighted by people."""
    people: dict[tuple[int, str], int] = {}
    flows: dict[tuple[tuple[int, str], tuple[int, str]], int] = {}
    for path in found:
        first = 1 - len(path.steps) if backwards else 1
        keys = [(first + i, name) for i, name in enumerate(path.steps)]
        for key in keys:
            people[key] = people.get(key, 0) + path.people
        for pair in pairwise(keys):
            flows[pair] = flows.get(pair, 0) + path.people
    nodes = tuple(
        Node(_node_id(step, name), name, step, count)
        for (step, name), count in sorted(people.items(), key=lambda i: (i[0][0], -i[1], i[0][1]))
    )
    links = tuple(
        Link(_node_id(*source), _node_id(*target), value)
        for (source, target), value in sorted(
            flows.items(), key=lambda i: (i[0][0][0], -i[1], i[0][0][1], i[0][1][1])
        )
    )
    return nodes, links


def _node_id(step: int, name: str) -> str:
    return f"{step}: {name}"
