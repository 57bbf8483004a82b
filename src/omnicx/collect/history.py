"""Reading and erasing stored events on behalf of later domains (timelines, privacy).

Other domains never query the events table themselves: they pass the ids they own (as a list
or a subquery) and get events back through these functions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, delete, func, or_, select

from omnicx.collect.sources import SYSTEM_CHANNEL
from omnicx.collect.tables import events, rejected_events, sources
from omnicx.store.bulk import chunks
from omnicx.store.clock import as_utc


@dataclass(frozen=True, slots=True)
class HistoricEvent:
    """A stored event as timelines show it."""

    id: int
    source: str
    channel: str
    type: str
    event: str | None
    message_id: str
    timestamp: datetime
    received_at: datetime
    message: dict[str, Any]


def _full_events() -> Select[Any]:
    """Every column a timeline shows, with the source's name."""
    return select(
        events.c.id,
        sources.c.name.label("source"),
        events.c.channel,
        events.c.type,
        events.c.event,
        events.c.message_id,
        events.c.timestamp,
        events.c.received_at,
        events.c.payload,
    ).join(sources, sources.c.id == events.c.source_id)


def _historic(row: Any) -> HistoricEvent:
    return HistoricEvent(
        row.id,
        row.source,
        row.channel,
        row.type,
        row.event,
        row.message_id,
        as_utc(row.timestamp),
        as_utc(row.received_at),
        orjson.loads(row.payload),
    )


def page_of_events(
    connection: Connection,
    event_ids: Select[Any],
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
    channels: Collection[str] = (),
    types: Collection[str] = (),
) -> list[HistoricEvent]:
    """Events among `event_ids` (a one-column subquery), newest first, after a cursor.

    `types` matches the message type (`track`, `page`, ...) or the track event's name.
    The page's ids are chosen first, reading only the sort keys, then its events are read in
    full: a person with 10,000 events costs 10,000 narrow rows, not 10,000 payloads.
    """
    statement = select(events.c.id).where(events.c.id.in_(event_ids.scalar_subquery()))
    if before is not None:
        at, last_id = before
        statement = statement.where(
            or_(events.c.timestamp < at, and_(events.c.timestamp == at, events.c.id < last_id))
        )
    if channels:
        statement = statement.where(events.c.channel.in_(list(channels)))
    if types:
        wanted = list(types)
        statement = statement.where(or_(events.c.type.in_(wanted), events.c.event.in_(wanted)))
    statement = statement.order_by(events.c.timestamp.desc(), events.c.id.desc()).limit(limit)
    chosen = list(connection.execute(statement).scalars())
    if not chosen:
        return []
    found = {
        row.id: _historic(row)
        for row in connection.execute(_full_events().where(events.c.id.in_(chosen)))
    }
    return [found[i] for i in chosen if i in found]


def events_by_id(connection: Connection, event_ids: Sequence[int]) -> list[HistoricEvent]:
    """These events, oldest first (missing ids are skipped)."""
    found: list[HistoricEvent] = []
    for chunk in chunks(list(event_ids)):
        found.extend(
            _historic(row)
            for row in connection.execute(_full_events().where(events.c.id.in_(chunk)))
        )
    found.sort(key=lambda e: (e.timestamp, e.id))
    return found


def erase_events(connection: Connection, event_ids: Collection[int]) -> int:
    """Deletes these events for good (privacy erasure); returns how many there were."""
    erased = 0
    for chunk in chunks(list(event_ids)):
        erased += connection.execute(delete(events).where(events.c.id.in_(chunk))).rowcount or 0
    return erased


def erase_rejected_mentioning(connection: Connection, needles: Collection[str]) -> int:
    """Deletes refused messages whose stored text contains one of these values."""
    erased = 0
    for needle in needles:
        if len(needle) < 3:
            continue
        erased += (
            connection.execute(
                delete(rejected_events).where(rejected_events.c.payload.contains(needle))
            ).rowcount
            or 0
        )
    return erased


def count_events_between(connection: Connection, after: int, until: int) -> int:
    """How many stored events have an id above `after` and at most `until`."""
    return int(
        connection.execute(
            select(func.count())
            .select_from(events)
            .where(events.c.id > after, events.c.id <= until)
        ).scalar()
        or 0
    )


def source_names(connection: Connection) -> dict[int, str]:
    """Every source's name by id."""
    return {r.id: r.name for r in connection.execute(select(sources.c.id, sources.c.name))}


class SourceNames:
    """Source names by id, read again when an unknown id shows up."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def of(self, connection: Connection, ids: Collection[int]) -> Mapping[int, str]:
        """The names, with every id of `ids` looked up."""
        if any(i not in self._names for i in ids):
            self._names = source_names(connection)
        return self._names


@dataclass(frozen=True, slots=True)
class EventSummary:
    """A stored event's columns without its message, with the key the caller grouped it by."""

    id: int
    key: Any
    """The second column of the caller's subquery (for the profiles domain: a profile id)."""
    source_id: int
    channel: str
    type: str
    event: str | None
    message_id: str
    timestamp: datetime


def _keyed(keyed: Select[Any], until: int | None, columns: Sequence[Any]) -> Select[Any]:
    sub = keyed.subquery()
    event_id, key = list(sub.c)[:2]
    statement = select(
        events.c.id,
        key.label("key"),
        events.c.source_id,
        events.c.channel,
        events.c.type,
        events.c.event,
        events.c.message_id,
        events.c.timestamp,
        *columns,
    ).join(sub, event_id == events.c.id)
    if until is not None:
        statement = statement.where(events.c.id <= until)
    return statement


def _summary(row: Any) -> EventSummary:
    return EventSummary(
        row.id,
        row.key,
        row.source_id,
        row.channel,
        row.type,
        row.event,
        row.message_id,
        as_utc(row.timestamp),
    )


def summaries_of(
    connection: Connection, keyed: Select[Any], *, until: int | None = None
) -> list[EventSummary]:
    """Events among `keyed` (a subquery of event id and a key, e.g. the profile it belongs to)
    with an id of at most `until`, without their messages (for aggregates), in id order."""
    statement = _keyed(keyed, until, ()).order_by(events.c.id)
    return [_summary(row) for row in connection.execute(statement)]


def counts_since(connection: Connection, keyed: Select[Any], since: datetime) -> dict[Any, int]:
    """How many events among `keyed` (as for `summaries_of`) each key has from `since` on;
    omnicx's own events (segment entered...) are not counted."""
    sub = keyed.subquery()
    event_id, key = list(sub.c)[:2]
    rows = connection.execute(
        select(key, func.count())
        .join(events, events.c.id == event_id)
        .where(events.c.timestamp >= since, events.c.channel != SYSTEM_CHANNEL)
        .group_by(key)
    )
    return {k: int(n) for k, n in rows}


def messages_of(
    connection: Connection,
    keyed: Select[Any],
    *,
    until: int | None = None,
    names: Collection[str] = (),
) -> list[tuple[EventSummary, dict[str, Any]]]:
    """Events among `keyed` (as for `summaries_of`) with their decoded messages; only track
    events with one of these `names` when names are given."""
    statement = _keyed(keyed, until, (events.c.payload,))
    if names:
        statement = statement.where(events.c.type == "track", events.c.event.in_(list(names)))
    return [
        (_summary(row), orjson.loads(row.payload))
        for row in connection.execute(statement.order_by(events.c.id))
    ]


def events_of(connection: Connection, event_ids: Select[Any]) -> list[HistoricEvent]:
    """Every event among `event_ids` (a one-column subquery), in full, oldest first."""
    statement = (
        _full_events()
        .where(events.c.id.in_(event_ids.scalar_subquery()))
        .order_by(events.c.timestamp, events.c.id)
    )
    return [_historic(row) for row in connection.execute(statement)]
