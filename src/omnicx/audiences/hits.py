"""Hits: which stored events match which event condition, and when they happened.

An event condition ("Order Completed on store_pos with total > 100") is kept by its key
(`EventCondition.key`). For every key in use, each matching event gets a row (event id, key,
time) as the membership consumer processes it; a key new to the installation is first filled in
from the events already stored (`backfill`). A profile's times for a key are then the times of
the hits of its events, whatever merges and unmerges did to it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from omnicx.audiences.definition import EventCondition
from omnicx.audiences.evaluate import matches
from omnicx.audiences.tables import audience_condition_keys, audience_hits
from omnicx.collect.processing import StoredEvent, read_events
from omnicx.identity import service as identity
from omnicx.store.bulk import chunks, insert_ignoring_duplicates
from omnicx.store.clock import as_utc

BACKFILL_PAGE = 5000
NAMED_TYPES = frozenset({"track", "page", "screen"})
"""Message types whose `event` column is the name conditions match (a page's or screen's name)."""


class Matcher:
    """Finds the conditions an event matches, looking only at those on its name."""

    def __init__(self, conditions: Mapping[str, EventCondition]) -> None:
        self.conditions = dict(conditions)
        self._by_name: dict[str, list[tuple[str, EventCondition]]] = {}
        for key, condition in sorted(conditions.items()):
            self._by_name.setdefault(condition.event, []).append((key, condition))

    @property
    def names(self) -> frozenset[str]:
        """The event names some condition is about."""
        return frozenset(self._by_name)

    def keys_of(self, event: StoredEvent) -> list[str]:
        """The keys of the conditions the event matches."""
        if event.type not in NAMED_TYPES or event.event is None:
            return []
        candidates = self._by_name.get(event.event)
        if not candidates:
            return []
        properties = _properties(event)
        return [
            key
            for key, condition in candidates
            if matches(condition, event.event, event.channel, properties)
        ]


def _properties(event: StoredEvent) -> Mapping[str, Any]:
    if event.payload is None:
        return {}
    try:
        message = orjson.loads(event.payload)
    except orjson.JSONDecodeError:
        return {}
    found = message.get("properties") if isinstance(message, dict) else None
    return found if isinstance(found, dict) else {}


def record(connection: Connection, matcher: Matcher, events: Iterable[StoredEvent]) -> int:
    """Stores the hits of these events (a repeat is ignored); returns how many rows."""
    rows = [
        {"event_id": e.id, "condition_key": key, "ts": e.timestamp}
        for e in events
        for key in matcher.keys_of(e)
    ]
    for chunk in chunks(rows, 5000):
        insert_ignoring_duplicates(connection, audience_hits, chunk)
    return len(rows)


def registered(connection: Connection) -> dict[str, int]:
    """The keys hits are kept for, each with the stream position they are complete through."""
    return {
        r.condition_key: int(r.complete_through)
        for r in connection.execute(
            select(
                audience_condition_keys.c.condition_key, audience_condition_keys.c.complete_through
            )
        )
    }


def register(
    connection: Connection,
    conditions: Mapping[str, EventCondition],
    *,
    through: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Starts keeping hits for new conditions: fills them in from the stored events up to
    `through` first, then records the keys as complete through it."""
    if not conditions:
        return
    backfill(connection, Matcher(conditions), through=through, progress=progress)
    connection.execute(
        audience_condition_keys.insert(),
        [
            {
                "condition_key": key,
                "condition": orjson.dumps(c.model_dump(mode="json")).decode(),
                "complete_through": through,
            }
            for key, c in sorted(conditions.items())
        ],
    )


def backfill(
    connection: Connection,
    matcher: Matcher,
    *,
    through: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Records the hits of the stored events up to `through` (only events with a name some
    condition is about are read); returns how many rows."""
    after = found = 0
    while batch := read_events(
        connection, after=after, limit=BACKFILL_PAGE, until=through, names=matcher.names
    ):
        found += record(connection, matcher, batch)
        after = batch[-1].id
        if progress is not None:
            progress(after)
    return found


def advance(connection: Connection, keys: Collection[str], through: int) -> None:
    """Records that the hits of these keys are complete through `through`."""
    if keys:
        connection.execute(
            update(audience_condition_keys)
            .where(audience_condition_keys.c.condition_key.in_(sorted(keys)))
            .values(complete_through=through)
        )


def forget(connection: Connection, keys: Collection[str]) -> None:
    """Stops keeping hits for keys no definition uses any more, and deletes theirs."""
    for chunk in chunks(sorted(keys)):
        connection.execute(delete(audience_hits).where(audience_hits.c.condition_key.in_(chunk)))
        connection.execute(
            delete(audience_condition_keys).where(
                audience_condition_keys.c.condition_key.in_(chunk)
            )
        )


def times_of(
    connection: Connection, profile_ids: Collection[str], keys: Collection[str]
) -> dict[str, dict[str, list[datetime]]]:
    """Per profile and key, the sorted times of the hits of the profile's events."""
    found: dict[str, dict[str, list[datetime]]] = {}
    if not keys:
        return found
    wanted = frozenset(keys)
    for chunk in chunks(sorted(profile_ids), 500):
        owned = identity.event_ids_of_profiles(chunk).subquery()
        # No condition on the key in SQL: with one, the databases walk the key index through
        # most of the table instead of reaching these profiles' few events by event id.
        rows = connection.execute(
            select(owned.c.profile_id, audience_hits.c.condition_key, audience_hits.c.ts).join(
                audience_hits, audience_hits.c.event_id == owned.c.event_id
            )
        )
        for profile_id, key, ts in rows:
            if key in wanted:
                found.setdefault(profile_id, {}).setdefault(key, []).append(as_utc(ts))
    for per_key in found.values():
        for times in per_key.values():
            times.sort()
    return found


def event_times_of(
    times: Mapping[str, Mapping[str, Sequence[datetime]]],
    profile_id: str,
    keys: Collection[str],
) -> dict[str, Sequence[datetime]]:
    """The facts' `events` for one profile: every key, empty when it has no hit."""
    held = times.get(profile_id, {})
    return {key: held.get(key, ()) for key in keys}
