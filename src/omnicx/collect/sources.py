"""Sources: every system that sends events, with its channel and write keys."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import string
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update

from omnicx.collect.tables import source_daily_counts, sources, write_keys
from omnicx.store.clock import as_utc, utc_now
from omnicx.store.engine import read_only_engine

CHANNELS = (
    "web",
    "ios",
    "android",
    "store_pos",
    "email",
    "sms",
    "social",
    "chat",
    "phone",
    "support",
    "crm",
    "other",
)
"""The channel kinds a source can be; every stored event carries its source's channel."""

SYSTEM_SOURCE = "omnicx"
"""The built-in source of the events omnicx itself emits (collect.emit): reserved."""
SYSTEM_CHANNEL = "system"
"""Its channel, which no other source may have."""

log = logging.getLogger("omnicx.collect.sources")

_NAME = re.compile(r"^[\w][\w .:/@+-]{0,199}$")


class SourceError(ValueError):
    """A source operation refused, with a message saying why and what to do instead."""


@dataclass(frozen=True, slots=True)
class Source:
    """A source as users see it."""

    id: int
    name: str
    channel: str
    enabled: bool
    created_at: datetime
    write_keys: tuple[str, ...]
    events: int = 0
    last_event_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """What the intake needs to know about the source a write key belongs to."""

    source_id: int
    name: str
    channel: str
    enabled: bool


_KEY_ALPHABET = string.ascii_letters + string.digits


def new_write_key() -> str:
    """Generates a write key: 32 random letters and digits (safe in URLs, shells and headers)."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


def validate_channel(channel: str) -> str:
    """Returns the channel if it is a known kind, else raises SourceError listing the kinds."""
    if channel not in CHANNELS:
        raise SourceError(f"Unknown channel {channel!r}; choose one of: {', '.join(CHANNELS)}.")
    return channel


def name_problem(connection: Connection, name: str) -> str | None:
    """Why `name` cannot name a new source (`add` refuses it): "invalid" (see `add`),
    "reserved" (the built-in source's name) or "taken"; None when it can."""
    name = name.strip()
    if not _NAME.match(name):
        return "invalid"
    if name.lower() == SYSTEM_SOURCE:
        return "reserved"
    if connection.execute(select(sources.c.id).where(sources.c.name == name)).first():
        return "taken"
    return None


def add(connection: Connection, *, name: str, channel: str) -> Source:
    """Creates a source with a fresh write key."""
    name = name.strip()
    if not _NAME.match(name):
        raise SourceError(
            f"Source name {name!r} is not allowed: use 1 to 200 letters, digits, spaces "
            "and . : / @ + - _, starting with a letter or digit."
        )
    validate_channel(channel)
    if name.lower() == SYSTEM_SOURCE:
        raise SourceError(f"The name {name!r} is reserved for the events omnicx emits itself.")
    if connection.execute(select(sources.c.id).where(sources.c.name == name)).first():
        raise SourceError(f"A source named {name!r} already exists.")
    now = utc_now()
    source_id = connection.execute(
        sources.insert().values(name=name, channel=channel, enabled=True, created_at=now)
    ).inserted_primary_key
    assert source_id is not None
    key = new_write_key()
    connection.execute(write_keys.insert().values(key=key, source_id=source_id[0], created_at=now))
    return Source(source_id[0], name, channel, True, now, (key,))


def get_by_name_or_raise(connection: Connection, name: str) -> Source:
    """Returns the source called `name`, or raises SourceError naming the sources there are."""
    found = list_all(connection, name=name)
    if found:
        return found[0]
    known = ", ".join(connection.execute(select(sources.c.name).order_by(sources.c.id)).scalars())
    raise SourceError(f"No source named {name!r} (sources: {known or 'none yet'}).")


def list_all(connection: Connection, *, name: str | None = None) -> list[Source]:
    """Lists every source (or the one called `name`) with valid write keys and events sent."""
    chosen = select(sources).order_by(sources.c.id)
    if name is not None:
        chosen = chosen.where(sources.c.name == name)
    rows = connection.execute(chosen).all()
    ids = [row.id for row in rows]
    if not ids:
        return []
    now = utc_now()
    keys: dict[int, list[str]] = {}
    for key in connection.execute(
        select(write_keys.c.source_id, write_keys.c.key, write_keys.c.expires_at)
        .where(write_keys.c.source_id.in_(ids))
        .order_by(write_keys.c.created_at.desc())
    ):
        if key.expires_at is None or as_utc(key.expires_at) > now:
            keys.setdefault(key.source_id, []).append(key.key)
    counts = {
        count.source_id: (int(count.events or 0), count.last)
        for count in connection.execute(
            select(
                source_daily_counts.c.source_id,
                func.sum(source_daily_counts.c.events).label("events"),
                func.max(source_daily_counts.c.last_received_at).label("last"),
            )
            .where(source_daily_counts.c.source_id.in_(ids))
            .group_by(source_daily_counts.c.source_id)
        )
    }
    listed = []
    for row in rows:
        events, last = counts.get(row.id, (0, None))
        listed.append(
            Source(
                row.id,
                row.name,
                row.channel,
                row.enabled,
                as_utc(row.created_at),
                tuple(keys.get(row.id, ())),
                events,
                as_utc(last) if last is not None else None,
            )
        )
    return listed


def set_enabled(connection: Connection, *, name: str, enabled: bool) -> Source:
    """Enables or disables a source; a disabled source's events are refused with 403."""
    source = _not_system(get_by_name_or_raise(connection, name))
    connection.execute(
        update(sources)
        .where(sources.c.id == source.id)
        .values(enabled=enabled, disabled_at=None if enabled else utc_now())
    )
    return get_by_name_or_raise(connection, name)


def rotate_key(connection: Connection, *, name: str, grace: timedelta = timedelta(0)) -> str:
    """Issues a new write key; the old ones stop working after `grace` (at once by default)."""
    source = _not_system(get_by_name_or_raise(connection, name))
    now = utc_now()
    connection.execute(
        update(write_keys)
        .where(write_keys.c.source_id == source.id)
        .where((write_keys.c.expires_at.is_(None)) | (write_keys.c.expires_at > now + grace))
        .values(expires_at=now + grace)
    )
    key = new_write_key()
    connection.execute(write_keys.insert().values(key=key, source_id=source.id, created_at=now))
    return key


def _not_system(source: Source) -> Source:
    if source.name == SYSTEM_SOURCE:
        raise SourceError(
            f"The source {SYSTEM_SOURCE!r} is built in: it carries the events omnicx emits "
            "(segment entered, lead stage changed) and no one may send as it."
        )
    return source


MAX_WRITE_KEY_LENGTH = 64


def plausible_write_key(key: str) -> bool:
    """Tells whether `key` could be a write key at all (keys are 32 letters and digits)."""
    return 0 < len(key) <= MAX_WRITE_KEY_LENGTH and key.isprintable()


def find_key_owner(connection: Connection, key: str) -> KeyOwner | None:
    """Returns the source a currently valid write key belongs to, or None."""
    if not plausible_write_key(key):  # e.g. NUL, which PostgreSQL text cannot even compare
        return None
    row = connection.execute(
        select(
            sources.c.id,
            sources.c.name,
            sources.c.channel,
            sources.c.enabled,
            write_keys.c.expires_at,
        )
        .join(write_keys, write_keys.c.source_id == sources.c.id)
        .where(write_keys.c.key == key)
    ).first()
    if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= utc_now()):
        return None
    return KeyOwner(row.id, row.name, row.channel, row.enabled)


class Missing:
    """What `WriteKeyCache.peek` returns when it has no answer it may serve."""


MISSING = Missing()


class WriteKeyCache:
    """Resolves write keys without a database round trip per request.

    An answer (found or not) is served for at most `ttl` seconds after the lookup that produced
    it began, so a disabled source or a rotated key takes effect within that time in every
    server process. Under load nobody waits for the database: once an answer is half its
    lifetime old, the next request that uses it starts one lookup in the background (and is
    answered from the cache meanwhile); the fresh answer replaces it before it expires. Only a
    key seen for the first time, or unused for longer than `ttl`, waits for a lookup, and all
    the requests that need the same key share that one lookup.

    Lookups only read. On a SQLite file they run on a connection of their own whose
    transactions do not begin IMMEDIATE, so they never queue for the write lock behind the
    writer's group commits (WAL lets them read meanwhile).
    """

    def __init__(self, engine: Engine, *, ttl: float = 2.0) -> None:
        self._engine = engine
        self._read_engine = read_only_engine(engine)
        self._ttl = ttl
        # key -> (monotonic time its lookup began, owner)
        self._entries: dict[str, tuple[float, KeyOwner | None]] = {}
        # key -> (monotonic time the lookup began, its outcome): at most one per key
        self._inflight: dict[str, tuple[float, Future[KeyOwner | None]]] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def peek(self, key: str) -> KeyOwner | Missing | None:
        """The cached answer if it may still be served, else MISSING; no I/O, never blocks.

        Starts a background refresh when the answer is past half its lifetime.
        """
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        now = time.monotonic()
        age = now - entry[0]
        if age >= self._ttl:
            return MISSING
        if age >= self._ttl / 2 and key not in self._inflight:
            self._lookup(key, now)
        return entry[1]

    async def owner(self, key: str) -> KeyOwner | None:
        """The key's source: from the cache when servable, else awaiting the key's lookup."""
        cached = self.peek(key)
        if not isinstance(cached, Missing):
            return cached
        if not plausible_write_key(key):  # answered without a query, and never cached
            return None
        # Shielded: a request that goes away must not cancel the lookup others are awaiting.
        return await asyncio.shield(asyncio.wrap_future(self._lookup(key, time.monotonic())))

    def resolve(self, key: str) -> KeyOwner | None:
        """Like `owner`, for callers outside an event loop (blocks for the lookup)."""
        cached = self.peek(key)
        if not isinstance(cached, Missing):
            return cached
        if not plausible_write_key(key):
            return None
        return self._lookup(key, time.monotonic()).result()

    def _lookup(self, key: str, now: float) -> Future[KeyOwner | None]:
        """The lookup in flight for `key` if it began at most `ttl` before `now`, else a new one."""
        with self._lock:
            inflight = self._inflight.get(key)
            if inflight is not None and inflight[0] >= now - self._ttl:
                # Began after `now - ttl`: its answer is as recent as one this caller may serve.
                return inflight[1]
            if self._executor is None:
                self._executor = ThreadPoolExecutor(2, thread_name_prefix="omnicx-keys")
            began = time.monotonic()
            future = self._executor.submit(self._query, key, began)
            self._inflight[key] = (began, future)
            return future

    def _query(self, key: str, began: float) -> KeyOwner | None:
        try:
            with self._read_engine.connect() as connection:
                owner = find_key_owner(connection, key)
        except Exception:
            with self._lock:
                if self._inflight.get(key, (None,))[0] == began:
                    del self._inflight[key]
            log.warning("write key lookup failed", exc_info=True)
            raise
        with self._lock:
            if len(self._entries) > 10_000:  # bound memory against random keys
                self._entries.clear()
            current = self._entries.get(key)
            if current is None or current[0] < began:
                self._entries[key] = (began, owner)
            if self._inflight.get(key, (None,))[0] == began:
                del self._inflight[key]
        return owner

    def forget(self) -> None:
        """Drops every cached answer."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Stops the lookup threads and closes the lookups' own connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._read_engine is not self._engine:
            self._read_engine.dispose()
