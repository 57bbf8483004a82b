"""Sources: every system that sends events, with its channel and write keys."""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update

from omnicx.collect.tables import source_daily_counts, sources, write_keys
from omnicx.store.clock import as_utc, utc_now

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


def add(connection: Connection, *, name: str, channel: str) -> Source:
    """Creates a source with a fresh write key."""
    name = name.strip()
    if not _NAME.match(name):
        raise SourceError(
            f"Source name {name!r} is not allowed: use 1 to 200 letters, digits, spaces "
            "and . : / @ + - _, starting with a letter or digit."
        )
    validate_channel(channel)
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
    source = get_by_name_or_raise(connection, name)
    connection.execute(
        update(sources)
        .where(sources.c.id == source.id)
        .values(enabled=enabled, disabled_at=None if enabled else utc_now())
    )
    return get_by_name_or_raise(connection, name)


def rotate_key(connection: Connection, *, name: str, grace: timedelta = timedelta(0)) -> str:
    """Issues a new write key; the old ones stop working after `grace` (at once by default)."""
    source = get_by_name_or_raise(connection, name)
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


class WriteKeyCache:
    """Resolves write keys without a database round trip per request.

    Answers (found or not) are kept for `ttl` seconds, so a disabled source or a rotated key
    takes effect within that time in every server process.
    """

    def __init__(self, engine: Engine, *, ttl: float = 2.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._entries: dict[str, tuple[float, KeyOwner | None]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, KeyOwner | None]:
        """Returns (True, owner) when a fresh answer is cached, else (False, None); no I/O."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return True, entry[1]
        return False, None

    def resolve(self, key: str) -> KeyOwner | None:
        """Returns the key's source, from the cache when fresh, else from the database."""
        fresh, owner = self.cached(key)
        if fresh:
            return owner
        if not plausible_write_key(key):  # answered without a query, and never cached
            return None
        now = time.monotonic()
        with self._engine.connect() as connection:
            owner = find_key_owner(connection, key)
        with self._lock:
            if len(self._entries) > 10_000:  # bound memory against random keys
                self._entries.clear()
            self._entries[key] = (now + self._ttl, owner)
        return owner

    def forget(self) -> None:
        """Drops every cached answer."""
        with self._lock:
            self._entries.clear()
