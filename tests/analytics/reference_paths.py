"""Paths computed the plain way, one person at a time, to check omnicx.analytics.paths."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from tests.analytics.lakes import Row


@dataclass(frozen=True)
class Event:
    """An event as the lake attributes it: its id (arrival order) and its person now."""

    event_id: int
    person: str
    row: Row


def attribute(
    rows: Sequence[Row], owners: Mapping[int, str | None] | None = None, *, first_id: int = 1
) -> list[Event]:
    """The events of `rows` written in this order (ids from `first_id`), each with the person
    its anchor belongs to after `owners` (anchor → person; None: nobody, the event drops)."""
    owners = owners or {}
    events = []
    for offset, row in enumerate(rows):
        assert row.anchor is not None, "reference rows name their anchor"
        person = owners.get(row.anchor, row.person)
        if person is not None:
            events.append(Event(first_id + offset, person, row))
    return events


def in_range(moment: datetime, start: date | None, end: date | None) -> bool:
    """Whether `moment` falls on a day from `start` to `end` (inclusive)."""
    return (start is None or moment.date() >= start) and (end is None or moment.date() <= end)


def sequences(
    events: Iterable[Event],
    *,
    node: Callable[[Row], str],
    collapse: bool,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, list[str]]:
    """Each person's touchpoint nodes in time order (ties: arrival), repeats collapsed."""
    by_person: dict[str, list[Event]] = {}
    for event in events:
        if event.row.active and in_range(event.row.ts, start, end):
            by_person.setdefault(event.person, []).append(event)
    out: dict[str, list[str]] = {}
    for person, mine in by_person.items():
        mine.sort(key=lambda e: (e.row.ts, e.event_id))
        names: list[str] = []
        for event in mine:
            name = node(event.row)
            if not (collapse and names and names[-1] == name):
                names.append(name)
        out[person] = names
    return out


def channel_of(row: Row) -> str:
    return row.channel


def event_of(row: Row) -> str:
    return row.event if row.event is not None else row.type


def paths(
    events: Iterable[Event],
    *,
    by: str = "channel",
    start_at: str | None = None,
    end_at: str | None = None,
    depth: int = 5,
    top: int = 20,
    collapse: bool = True,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, object]:
    """People with a path, the top paths as (steps, people), and the transitions as
    (source, target) → (count, people)."""
    node = channel_of if by == "channel" else event_of
    seqs = sequences(events, node=node, collapse=collapse, start=start, end=end)
    counts: dict[tuple[str, ...], int] = {}
    transitions: dict[tuple[str, str], list[int]] = {}
    for names in seqs.values():
        seen: set[tuple[str, str]] = set()
        for pair in pairwise(names):
            transitions.setdefault(pair, [0, 0])[0] += 1
            if pair not in seen:
                seen.add(pair)
                transitions[pair][1] += 1
        path = _path(names, start_at, end_at, depth)
        if path is not None:
            counts[path] = counts.get(path, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "people": sum(counts.values()),
        "paths": ranked[:top],
        "transitions": {pair: (c, p) for pair, (c, p) in transitions.items()},
    }


def _path(
    names: list[str], start_at: str | None, end_at: str | None, depth: int
) -> tuple[str, ...] | None:
    if end_at is not None:
        if end_at not in names:
            return None
        at = names.index(end_at)
        return tuple(names[max(0, at - depth + 1) : at + 1])
    if start_at is not None:
        if start_at not in names:
            return None
        at = names.index(start_at)
        return tuple(names[at : at + depth])
    return tuple(names[:depth]) if names else None
