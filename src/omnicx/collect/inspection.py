"""Looking at what sources send: their keys and recent traffic, the latest events as they
arrive (the live debugger) and the messages refused at intake, with their reasons.

Every read here is an indexed lookup that stays fast on a large database:

- the latest events of a source after a cursor use the index on `events (source_id, id)`
  (the whole stream's latest events, the primary key);
- traffic counts read the per-day counts the processing stage keeps (`source_daily_counts`),
  never the events themselves;
- rejected messages are bounded: the intake keeps the latest REJECTIONS_KEPT per source
  (`keep_latest_rejections`), so reading or counting them costs little.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, or_, select

from omnicx.collect import sources as source_service
from omnicx.collect.tables import events, rejected_events, source_daily_counts, sources, write_keys
from omnicx.store.clock import as_utc, utc_now

LIVE_EVENTS_LIMIT = 200
"""The most events one call of `latest_events` answers with."""

REJECTIONS_KEPT = 1000
"""Rejected messages kept per source: older ones are deleted as new ones arrive."""

PRUNE_EVERY = 100
"""A source's old rejections are pruned after this many new ones (per process): pruning on
every rejected request would cost a flood of bad requests a query each for nothing."""


@dataclass(frozen=True, slots=True)
class WriteKeyInfo:
    """A currently valid write key and how long it stays valid."""

    key: str
    created_at: datetime
    expires_at: datetime | None
    """Set when the key was rotated away with a grace period; None while it is current."""

    @property
    def hint(self) -> str:
        """Enough of the key to tell it from another, not enough to send with it."""
        return key_hint(self.key)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """A stored event as the debugger shows it."""

    id: int
    source_id: int
    source: str
    channel: str
    type: str
    event: str | None
    """The track event's name, or the page or screen name."""
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    received_at: datetime
    message: dict[str, Any]
    """The whole message as stored (context merged, receivedAt set)."""


@dataclass(frozen=True, slots=True)
class LiveEvents:
    """The newest events after a cursor, newest first."""

    events: list[LiveEvent]
    cursor: int
    """Pass it as `after` next time to get only the events stored since."""
    more: bool
    """More events than `limit` arrived after the cursor: only the newest are here."""


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """A message (or a whole request) refused at intake, with why and where."""

    id: int
    source_id: int | None
    received_at: datetime
    code: str
    """The error code the intake answered with (docs/collection.md lists them)."""
    reason: str
    """The error message the sender got, naming the offending field."""
    path: str
    """Where in the request the problem is, e.g. `batch[3].properties` ("" for the body)."""
    payload: str
    """The refused message (or body) as received, cut to a few kilobytes."""


def key_hint(key: str) -> str:
    """`AbCd…WxYz`: the first and last four characters of a write key."""
    return f"{key[:4]}…{key[-4:]}" if len(key) > 8 else "…"


def get_source(connection: Connection, source_id: int) -> source_service.Source | None:
    """The source with this id (with its keys and event count), or None."""
    name = connection.execute(select(sources.c.name).where(sources.c.id == source_id)).scalar()
    if name is None:
        return None
    found = source_service.list_all(connection, name=name)
    return found[0] if found else None


def valid_keys(
    connection: Connection, source_ids: Collection[int]
) -> dict[int, list[WriteKeyInfo]]:
    """The currently valid write keys of these sources, newest first, by source id."""
    if not source_ids:
        return {}
    now = utc_now()
    found: dict[int, list[WriteKeyInfo]] = {}
    for row in connection.execute(
        select(
            write_keys.c.source_id,
            write_keys.c.key,
            write_keys.c.created_at,
            write_keys.c.expires_at,
        )
        .where(write_keys.c.source_id.in_(list(source_ids)))
        .order_by(write_keys.c.created_at.desc(), write_keys.c.key)
    ):
        expires = as_utc(row.expires_at) if row.expires_at is not None else None
        if expires is None or expires > now:
            found.setdefault(row.source_id, []).append(
                WriteKeyInfo(row.key, as_utc(row.created_at), expires)
            )
    return found


def events_on_day(connection: Connection, day: str) -> dict[int, int]:
    """How many events each source sent on `day` (YYYY-MM-DD, UTC), as counted so far by
    the processing stage (events not processed yet are not counted)."""
    return {
        source_id: int(count or 0)
        for source_id, count in connection.execute(
            select(source_daily_counts.c.source_id, func.sum(source_daily_counts.c.events))
            .where(source_daily_counts.c.day == day)
            .group_by(source_daily_counts.c.source_id)
        )
    }


def rejections_since(connection: Connection, since: datetime) -> dict[int, int]:
    """How many rejected messages each source has had since `since` (among those kept)."""
    return {
        source_id: int(count)
        for source_id, count in connection.execute(
            select(rejected_events.c.source_id, func.count())
            .where(
                rejected_events.c.source_id.is_not(None),
                rejected_events.c.received_at >= since,
            )
            .group_by(rejected_events.c.source_id)
        )
    }


def latest_events(
    connection: Connection, *, source_id: int | None, after: int = 0, limit: int = 50
) -> LiveEvents:
    """The newest events (of one source, or of all when `source_id` is None) stored after
    the event id `after`, newest first, at most `limit` (up to LIVE_EVENTS_LIMIT).

    Event ids become visible in increasing order (writers append under the stream lock), so
    polling with the returned cursor misses nothing but what `more` reports as skipped.
    """
    limit = max(1, min(limit, LIVE_EVENTS_LIMIT))
    statement = (
        select(
            events.c.id,
            events.c.source_id,
            sources.c.name.label("source"),
            events.c.channel,
            events.c.type,
            events.c.event,
            events.c.message_id,
            events.c.user_id,
            events.c.anonymous_id,
            events.c.received_at,
            events.c.payload,
        )
        .join(sources, sources.c.id == events.c.source_id)
        .where(events.c.id > after)
        .order_by(events.c.id.desc())
        .limit(limit + 1)
    )
    if source_id is not None:
        statement = statement.where(events.c.source_id == source_id)
    rows = connection.execute(statement).all()
    found = [
        LiveEvent(
            row.id,
            row.source_id,
            row.source,
            row.channel,
            row.type,
            row.event,
            row.message_id,
            row.user_id,
            row.anonymous_id,
            as_utc(row.received_at),
            orjson.loads(row.payload),
        )
        for row in rows[:limit]
    ]
    return LiveEvents(found, found[0].id if found else after, len(rows) > limit)


def rejected_messages(
    connection: Connection, *, source_id: int, before: int | None = None, limit: int = 50
) -> list[RejectedMessage]:
    """A source's rejected messages, newest first, at most `limit` (up to 200); `before`:
    only those older than the rejected message with that id (the next page)."""
    limit = max(1, min(limit, 200))
    statement = select(rejected_events).where(rejected_events.c.source_id == source_id)
    if before is not None:
        previous = connection.execute(
            select(rejected_events.c.received_at).where(rejected_events.c.id == before)
        ).scalar()
        if previous is not None:
            statement = statement.where(
                or_(
                    rejected_events.c.received_at < previous,
                    and_(
                        rejected_events.c.received_at == previous,
                        rejected_events.c.id < before,
                    ),
                )
            )
    statement = statement.order_by(
        rejected_events.c.received_at.desc(), rejected_events.c.id.desc()
    ).limit(limit)
    return [
        RejectedMessage(
            row.id,
            row.source_id,
            as_utc(row.received_at),
            row.code,
            row.reason,
            row.path,
            row.payload,
        )
        for row in connection.execute(statement)
    ]


def prune_rejections(connection: Connection, source_id: int, *, keep: int = REJECTIONS_KEPT) -> int:
    """Deletes a source's rejected messages but the newest `keep`; returns how many."""
    boundary = connection.execute(
        select(rejected_events.c.received_at, rejected_events.c.id)
        .where(rejected_events.c.source_id == source_id)
        .order_by(rejected_events.c.received_at.desc(), rejected_events.c.id.desc())
        .offset(keep)
        .limit(1)
    ).first()
    if boundary is None:
        return 0
    at, last_id = boundary
    deleted = connection.execute(
        delete(rejected_events).where(
            rejected_events.c.source_id == source_id,
            or_(
                rejected_events.c.received_at < at,
                and_(rejected_events.c.received_at == at, rejected_events.c.id <= last_id),
            ),
        )
    )
    return int(deleted.rowcount or 0)


class RejectionCounter:
    """Rejections recorded per source since its last pruning, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since_prune: dict[int, int] = {}

    def due(self, source_ids: Iterable[int | None], every: int) -> list[int]:
        """Counts one rejection per item; returns the sources now due for pruning."""
        due: list[int] = []
        with self._lock:
            for source_id in source_ids:
                if source_id is None:
                    continue
                seen = self._since_prune.get(source_id, 0) + 1
                if seen >= every:
                    due.append(source_id)
                    seen = 0
                self._since_prune[source_id] = seen
        return sorted(set(due))


_counter = RejectionCounter()


def keep_latest_rejections(
    connection: Connection,
    source_ids: Iterable[int | None],
    *,
    keep: int = REJECTIONS_KEPT,
    every: int = PRUNE_EVERY,
    counter: RejectionCounter | None = None,
) -> None:
    """Called with the sources of rejections just recorded (one item per rejection): prunes
    each source once it has had `every` new rejections (counted by `counter`, by default
    this process's), so it keeps about `keep` of them."""
    for source_id in (counter or _counter).due(source_ids, every):
        prune_rejections(connection, source_id, keep=keep)
