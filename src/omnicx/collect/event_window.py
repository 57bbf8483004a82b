"""The stretch of the stream a processing stage read last, kept so its other consumers do not
read it again.

Every consumer reads every event: identity, then profiles, the lake and the audiences, a batch
behind one another. Each read of an event cost ~7 µs on SQLite (measured, performance.md),
paid once per consumer. The stage keeps one contiguous stretch of recently read events; a
consumer whose position falls inside it gets those events from memory and only the rest from
the database.

Served events are exact: event ids only grow and are never reused (SQLite AUTOINCREMENT,
PostgreSQL sequences, committed in order by the stream writer), so a stretch read once can
only lose events, by erasure. Before serving from memory the window counts the stored events
in the served range (an index-only count): a different count drops the stretch and the batch
is read from the database, so an erased person's events are never processed again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from omnicx.collect.processing import StoredEvent, read_events
from omnicx.collect.tables import events

KEPT_EVENTS = 30_000
"""Events the window keeps at most: the lake writer's batch (20,000) and a few of the others',
so the consumers a batch or two behind the first still find theirs (~30 MB at most)."""


class EventWindow:
    """One contiguous stretch of the stream, with payloads: `(start, end]` held in full."""

    def __init__(self, keep: int = KEPT_EVENTS) -> None:
        self._keep = keep
        self._start = 0
        self._end = 0
        self._events: list[StoredEvent] = []
        self._ids: list[int] = []
        self.served = 0
        """Events handed out from memory (for the tests and the benchmark)."""

    def read(
        self, connection: Connection, *, after: int, limit: int, until: int | None = None
    ) -> list[StoredEvent]:
        """What `read_events(connection, after=after, limit=limit, until=until)` returns,
        from memory where the window holds it."""
        cached = self._cached(after, limit, until)
        if cached and not _intact(connection, after, cached):
            self.clear()
            cached = []
        rest: list[StoredEvent] = []
        if len(cached) < limit and (until is None or self._tail(after, cached) < until):
            rest = read_events(
                connection,
                after=self._tail(after, cached),
                limit=limit - len(cached),
                until=until,
            )
            self._remember(self._tail(after, cached), rest)
        self.served += len(cached)
        return cached + rest

    def clear(self) -> None:
        """Forgets the stretch."""
        self._start = self._end = 0
        self._events = []
        self._ids = []

    def _cached(self, after: int, limit: int, until: int | None) -> list[StoredEvent]:
        if not (self._start <= after < self._end):
            return []
        first = bisect_right(self._ids, after)
        last = len(self._ids) if until is None else bisect_right(self._ids, until)
        return self._events[first : min(last, first + limit)]

    @staticmethod
    def _tail(after: int, cached: Sequence[StoredEvent]) -> int:
        """Where the database read starts: after what memory served (which holds every
        stored event up to its last)."""
        return cached[-1].id if cached else after

    def _remember(self, after: int, read: list[StoredEvent]) -> None:
        if not read:
            return
        if after == self._end and self._events:
            self._events.extend(read)  # the stretch goes on
            self._ids.extend(e.id for e in read)
        elif after > self._end or not self._events:
            self._events = list(read)  # ahead of the stretch: the new front of the stream
            self._ids = [e.id for e in read]
            self._start = after
        else:
            return  # behind the stretch: a consumer catching up; keep the front
        self._end = read[-1].id
        if len(self._events) > self._keep:
            drop = len(self._events) - self._keep
            self._start = self._events[drop - 1].id
            del self._events[:drop]
            del self._ids[:drop]


def _intact(connection: Connection, after: int, cached: Sequence[StoredEvent]) -> bool:
    """Whether every cached event from `after` to the last served is still stored."""
    stored = connection.execute(
        select(func.count())
        .select_from(events)
        .where(events.c.id > after, events.c.id <= cached[-1].id)
    ).scalar_one()
    return int(stored) == len(cached)
