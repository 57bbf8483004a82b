"""The processing stage: named consumers read the event stream in order from a checkpoint.

Each consumer's effects and its new checkpoint are committed in the same transaction, so a
crash at any point neither loses nor repeats an event: after a restart the consumer resumes
from the last committed checkpoint. The checkpoint row is locked while a batch is processed,
so several workers (`omnicx worker`) can run side by side without processing an event twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from omnicx.collect.tables import checkpoints, events, source_daily_counts
from omnicx.store.clock import as_utc, utc_now
from omnicx.store.engine import wal_kept

if TYPE_CHECKING:
    from omnicx.collect.event_window import EventWindow

log = logging.getLogger("omnicx.collect.processing")

IDLE_SECONDS = 0.5
"""How often the stage lets a consumer with no new event do its idle work (the audiences fire
their timers, follow identity changes, bring new segments live: ~50 ms with 100 segments).
Without a bound it ran on every empty turn: every commit's wake-up, and every 50 ms while
another process held a consumer."""

FULL_BATCH_WAIT_SECONDS = 10.0
"""How long the stage lets a consumer that asks for large batches (the lake) wait for a whole
one while its upstream is busy catching up, rather than follow it a small batch at a time."""
CONTENDED_RETRY_SECONDS = 0.05
"""How soon a stage looks again after finding a consumer held by another process (and nothing
to do itself): that process's batch, once committed, usually leaves work for this one."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of the stream, as consumers receive it."""

    id: int
    source_id: int
    channel: str
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    received_at: datetime
    payload: str | None
    """The stored message as JSON; None when the consumer said it does not need it."""

    @property
    def message(self) -> dict[str, Any]:
        """The stored message, decoded."""
        if self.payload is None:
            raise ValueError("this consumer reads events without their payload")
        decoded: dict[str, Any] = orjson.loads(self.payload)
        return decoded


class StreamConsumer(Protocol):
    """Something that reacts to every event once, in stream order."""

    name: str
    needs_payload: bool
    """False when the columns suffice: reading the stored JSON is most of a batch's cost."""

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        """Applies the batch's effects using `connection` (inside the checkpoint's transaction)."""


class RangeConsumer(Protocol):
    """A consumer that does its work in SQL over a range of the stream, never reading the
    events into Python (a count per source and day needs no row in memory)."""

    name: str

    def handle_range(self, connection: Connection, after: int, until: int) -> None:
        """Applies the effects of the events with `after < id <= until`."""


def batch_size_of(consumer: StreamConsumer, default: int) -> int:
    """The batch size a consumer asks for (its attribute `batch_size`), else `default`."""
    size = getattr(consumer, "batch_size", None)
    return size if isinstance(size, int) and size > 0 else default


def min_interval_of(consumer: StreamConsumer) -> float:
    """Seconds the stage lets pass between two runs of a consumer that asks for it (its
    attribute `min_interval`: the event lake prefers fewer, larger batches)."""
    interval = getattr(consumer, "min_interval", 0.0)
    return float(interval) if isinstance(interval, int | float) else 0.0


def upstream_of(consumer: StreamConsumer) -> str | None:
    """The consumer whose results this one reads, if any (its attribute `upstream`): it only
    processes events the upstream consumer has already processed."""
    upstream = getattr(consumer, "upstream", None)
    return upstream if isinstance(upstream, str) else None


# In StoredEvent's order: rows are unpacked by position.
_WITHOUT_PAYLOAD = [
    events.c.id,
    events.c.source_id,
    events.c.channel,
    events.c.message_id,
    events.c.type,
    events.c.event,
    events.c.user_id,
    events.c.anonymous_id,
    events.c.timestamp,
    events.c.received_at,
]


def read_events(
    connection: Connection,
    *,
    after: int,
    limit: int,
    with_payload: bool = True,
    until: int | None = None,
    names: Collection[str] | None = None,
) -> list[StoredEvent]:
    """Reads up to `limit` events with an id greater than `after` (and at most `until`; with
    `names`, only events with one of these names), oldest first."""
    columns: list[Any] = [*_WITHOUT_PAYLOAD, events.c.payload] if with_payload else _WITHOUT_PAYLOAD
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite keeps instants as text; parsing it with fromisoformat (C) instead of
        # SQLAlchemy's per-value regex is a good share of a consumer's cost per event.
        columns = [
            type_coerce(c, String).label(c.name) if c.name in _INSTANTS else c for c in columns
        ]
    statement = select(*columns).where(events.c.id > after)
    if until is not None:
        statement = statement.where(events.c.id <= until)
    if names is not None:
        statement = statement.where(events.c.event.in_(sorted(names)))
    rows = connection.execute(statement.order_by(events.c.id).limit(limit))
    instant = _sqlite_instant if sqlite else as_utc
    # Unpacking each row as a tuple: reading columns by name off SQLAlchemy's rows cost as much
    # again as the query (every consumer reads every event).
    if with_payload:
        return [
            StoredEvent(i, s, ch, m, t, e, u, a, instant(ts), instant(ra), p)
            for (i, s, ch, m, t, e, u, a, ts, ra, p) in rows
        ]
    return [
        StoredEvent(i, s, ch, m, t, e, u, a, instant(ts), instant(ra), None)
        for (i, s, ch, m, t, e, u, a, ts, ra) in rows
    ]


_INSTANTS = {"timestamp", "received_at"}


def _sqlite_instant(value: str) -> datetime:
    """An instant as SQLite keeps it (naive UTC text), aware. Appending the offset lets
    fromisoformat build the aware value at once (a third of the cost of `.replace`)."""
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text that carries an offset of its own
        return datetime.fromisoformat(value).astimezone(UTC)


def range_end(
    connection: Connection, *, after: int, limit: int, until: int | None = None
) -> tuple[int, int] | None:
    """The id of the `limit`-th event after `after` (or of the last one, at most `until`) and
    how many events that range holds; None when there is none. Reads ids from the index only."""
    ids = select(events.c.id).where(events.c.id > after)
    if until is not None:
        ids = ids.where(events.c.id <= until)
    window = ids.order_by(events.c.id).limit(limit).subquery()
    last, count = connection.execute(select(func.max(window.c.id), func.count())).one()
    return None if last is None else (int(last), int(count))


def checkpoint(connection: Connection, consumer: str) -> int:
    """Returns the position a consumer has processed up to (0 when it never ran)."""
    position = connection.execute(
        select(checkpoints.c.position).where(checkpoints.c.consumer == consumer)
    ).scalar()
    return int(position or 0)


def lock_consumer(connection: Connection, consumer: str) -> int:
    """Holds a consumer's checkpoint for this transaction, so no batch of it runs meanwhile
    (how API changes to a consumer's state stay consistent with its processing)."""
    return _lock_checkpoint(connection, consumer)


def reset(connection: Connection, consumers: Sequence[str]) -> None:
    """Sets consumers back to the start of the stream (for a rebuild)."""
    for name in consumers:
        _lock_checkpoint(connection, name)
        connection.execute(
            update(checkpoints)
            .where(checkpoints.c.consumer == name)
            .values(position=0, updated_at=utc_now())
        )


def _lock_checkpoint(connection: Connection, consumer: str) -> int:
    """Locks the consumer's checkpoint row for this transaction and returns its position."""
    position = _try_lock_checkpoint(connection, consumer, skip_locked=False)
    assert position is not None
    return position


# Built once: the stage locks and advances a checkpoint for every batch of every consumer,
# and building these statements anew each time (and their cache keys) was 8 % of a
# processing process's CPU under a steady stream of small batches.
_POSITION = select(checkpoints.c.position).where(checkpoints.c.consumer == bindparam("name"))
_POSITION_FOR_UPDATE = {
    False: _POSITION.with_for_update(),
    True: _POSITION.with_for_update(skip_locked=True),
}
_NEW_CHECKPOINT = {
    dialect: insert(checkpoints)
    .values(consumer=bindparam("name"), position=0, updated_at=bindparam("at"))
    .on_conflict_do_nothing(index_elements=["consumer"])
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_ADVANCE = (
    update(checkpoints)
    .where(checkpoints.c.consumer == bindparam("name"))
    .values(position=bindparam("to"), updated_at=bindparam("at"))
)


def _try_lock_checkpoint(connection: Connection, consumer: str, *, skip_locked: bool) -> int | None:
    """Locks the checkpoint row and returns its position; with `skip_locked`, None at once
    when another worker holds it (PostgreSQL; SQLite has one writer at a time anyway)."""
    postgres = connection.dialect.name == "postgresql"
    statement = _POSITION_FOR_UPDATE[skip_locked] if postgres else _POSITION
    position = connection.execute(statement, {"name": consumer}).scalar()
    if position is None:  # no row yet (or, skipping locked rows, another worker holds it)
        connection.execute(
            _NEW_CHECKPOINT["postgresql" if postgres else "sqlite"],
            {"name": consumer, "at": utc_now()},
        )
        position = connection.execute(statement, {"name": consumer}).scalar()
    return None if position is None else int(position)


def process_once(
    engine: Engine,
    consumer: StreamConsumer,
    *,
    batch_size: int = 5000,
    skip_locked: bool = False,
    window: EventWindow | None = None,
) -> int:
    """Processes the next batch for one consumer; returns how many events it handled.

    With `skip_locked`, a consumer another worker is running is skipped (0) instead of waited
    for, so workers spread over the consumers: one resolves identities while another builds
    profiles. With `window`, events the stage read for another consumer come from memory."""
    handled = _process_batch(
        engine, consumer, batch_size=batch_size, skip_locked=skip_locked, window=window
    )
    return handled or 0


def _process_batch(
    engine: Engine,
    consumer: StreamConsumer,
    *,
    batch_size: int,
    skip_locked: bool,
    window: EventWindow | None = None,
    idle: bool = True,
    full_batch: bool = False,
) -> int | None:
    """`process_once`, telling a consumer another worker holds (None) from one with nothing
    to do (0). `idle`: whether a consumer with no new event runs its `idle` work. `full_batch`:
    while its upstream is still catching up, a consumer waits (0) until a whole batch is ready
    for it, rather than following the upstream a small batch at a time."""
    with engine.begin() as connection:
        position = _try_lock_checkpoint(connection, consumer.name, skip_locked=skip_locked)
        if position is None:
            return None
        upstream = upstream_of(consumer)
        until = checkpoint(connection, upstream) if upstream else None
        # Ids, not a count: gaps (erased events) only make the batch a little smaller.
        if full_batch and until is not None and until - position < batch_size:
            return 0
        handle_range = getattr(consumer, "handle_range", None)
        if callable(handle_range):
            span = range_end(connection, after=position, limit=batch_size, until=until)
            if span is None:
                return 0
            handle_range(connection, position, span[0])
            _advance(connection, consumer.name, span[0])
            return span[1]
        if window is not None and consumer.needs_payload:
            batch = window.read(connection, after=position, limit=batch_size, until=until)
        else:
            batch = read_events(
                connection,
                after=position,
                limit=batch_size,
                with_payload=consumer.needs_payload,
                until=until,
            )
        if not batch:
            follow = getattr(consumer, "idle", None)
            if idle and callable(follow):
                follow(connection)  # a consumer that also follows something else than events
            return 0
        consumer.handle(connection, batch)
        _advance(connection, consumer.name, batch[-1].id)
    return len(batch)


def _advance(connection: Connection, consumer: str, position: int) -> None:
    connection.execute(_ADVANCE, {"name": consumer, "to": position, "at": utc_now()})


def process_available(
    engine: Engine,
    consumers: Sequence[StreamConsumer],
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
    max_seconds: float | None = None,
) -> int:
    """Runs every consumer until it has caught up with the stream; returns events handled.
    `progress(done, total)` hears after each batch how many of the consumers' lags (summed
    when it started) are done. `max_seconds`: stops after the batch that passes this time."""
    pending = sum(lag(engine, consumers).values()) if progress is not None else 0
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    with wal_kept(engine):
        return _round_robin(engine, consumers, batch_size, progress, deadline, pending)


def _round_robin(
    engine: Engine,
    consumers: Sequence[StreamConsumer],
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    deadline: float | None,
    pending: int,
) -> int:
    """`process_available`'s loop: a batch of each consumer in turn until none has work."""
    from omnicx.collect.event_window import EventWindow  # it reads through read_events

    total = 0
    # Round robin, as the stage runs them: a batch read for one consumer is in memory for the
    # next ones (the window), not read again.
    window = EventWindow()
    while True:
        worked: set[str] = set()  # consumers that handled events in this round
        for consumer in consumers:
            if deadline is not None and time.monotonic() >= deadline:
                return total
            # A consumer that asks for larger batches than its upstream's (the lake) takes
            # them whole while the upstream is still working: otherwise it follows the
            # upstream's small batches, and writes many small files.
            handled = _process_batch(
                engine,
                consumer,
                batch_size=batch_size_of(consumer, batch_size),
                skip_locked=False,
                window=window,
                full_batch=upstream_of(consumer) in worked,
            )
            if handled:
                worked.add(consumer.name)
                total += handled
                if progress is not None:
                    progress(total, max(pending, total))
        if not worked:
            return total


def lag(engine: Engine, consumers: Sequence[StreamConsumer]) -> dict[str, int]:
    """How many events each consumer still has to process."""
    with engine.connect() as connection:
        return lags(connection, [c.name for c in consumers])


def lags(connection: Connection, names: Sequence[str]) -> dict[str, int]:
    """How many events each named consumer still has to process: the newest event's id
    less the consumer's checkpoint (two index reads, whatever the backlog; ids a rolled-back
    intake never used count too, so it is an upper bound)."""
    head = int(connection.execute(select(func.max(events.c.id))).scalar() or 0)
    positions = dict(
        connection.execute(
            select(checkpoints.c.consumer, checkpoints.c.position).where(
                checkpoints.c.consumer.in_(names)
            )
        ).all()
    )
    return {name: max(head - int(positions.get(name, 0)), 0) for name in names}


class SourceActivity:
    """Built-in consumer: counts each source's events per day and type, for `sources list`.

    One INSERT ... SELECT ... GROUP BY per batch: the counts come from the events table in
    SQL, so no event is read into Python (measured: 17 µs per event in Python before)."""

    name = "collect.source_activity"
    needs_payload = False

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        """Counts a batch already read (the stage calls `handle_range` instead)."""
        if batch:
            self.handle_range(connection, batch[0].id - 1, batch[-1].id)

    def handle_range(self, connection: Connection, after: int, until: int) -> None:
        postgresql = connection.dialect.name == "postgresql"
        # The UTC day of received_at: SQLite keeps naive UTC text (date() also reads an
        # offset, should one be there); PostgreSQL a timestamptz.
        day = (
            func.to_char(func.timezone("UTC", events.c.received_at), "YYYY-MM-DD")
            if postgresql
            else func.date(events.c.received_at)
        )
        counted = (
            select(
                events.c.source_id,
                day.label("day"),
                events.c.type,
                func.count().label("events"),
                func.max(events.c.received_at).label("last_received_at"),
            )
            .where(events.c.id > after, events.c.id <= until)
            .group_by(events.c.source_id, day, events.c.type)
        )
        dialect_insert = pg_insert if postgresql else sqlite_insert
        statement = dialect_insert(source_daily_counts).from_select(
            ["source_id", "day", "type", "events", "last_received_at"], counted
        )
        latest = func.greatest if postgresql else func.max
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["source_id", "day", "type"],
                set_={
                    "events": source_daily_counts.c.events + statement.excluded.events,
                    "last_received_at": latest(
                        source_daily_counts.c.last_received_at,
                        statement.excluded.last_received_at,
                    ),
                },
            )
        )


class ProcessingStage:
    """Runs the consumers in a background thread, woken by new commits or every `poll` seconds."""

    def __init__(
        self,
        engine: Engine,
        consumers: Sequence[StreamConsumer],
        *,
        poll: float = 1.0,
        batch_size: int = 2000,
    ) -> None:
        self._engine = engine
        self._consumers = consumers
        self._poll = poll
        self._batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0
        self._last_run: dict[str, float] = {}
        self._last_idle: dict[str, float] = {}
        self._started = time.monotonic()
        # Imported here: the window reads through this module's read_events.
        from omnicx.collect.event_window import EventWindow

        self.window = EventWindow()

    def notify(self) -> None:
        """Tells the stage new events were committed."""
        self._wake.set()

    def start(self) -> None:
        """Starts the background thread."""
        self._thread = threading.Thread(target=self.run, name="omnicx-processing", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Asks the thread to finish its current batch and stop, and waits for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def run(self) -> None:
        """Processes until stopped; errors are logged and retried after the poll interval."""
        with wal_kept(self._engine):
            self._run()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            contended = False
            try:
                # Round robin, one batch per consumer per turn: a later consumer (profiles
                # after identity) never waits for an earlier one to drain a busy stream.
                busy = True
                while busy and not self._stop.is_set():
                    busy, contended = self._turn()
            except Exception:
                log.exception("processing failed; retrying")
                time.sleep(self._poll)
            # Nothing to do here. A consumer another process is running is not work for this
            # one, but that process leaves work behind (profiles after identity's batch): look
            # again soon. Else wait for the writer's next commit (or the poll interval).
            self._wake.wait(min(self._poll, CONTENDED_RETRY_SECONDS) if contended else self._poll)

    def _turn(self) -> tuple[bool, bool]:
        """One batch of each consumer; returns whether any handled events, and whether another
        process held any of them."""
        busy = contended = False
        worked: set[str] = set()  # consumers that handled events in this turn
        for consumer in self._consumers:
            if self._stop.is_set():
                break
            if self._resting(consumer):
                continue
            now = time.monotonic()
            idle = now - self._last_idle.get(consumer.name, -IDLE_SECONDS) >= IDLE_SECONDS
            waited = now - self._last_run.get(consumer.name, self._started)
            handled = _process_batch(
                self._engine,
                consumer,
                batch_size=batch_size_of(consumer, self._batch_size),
                skip_locked=True,
                window=self.window,
                idle=idle,
                full_batch=upstream_of(consumer) in worked and waited < FULL_BATCH_WAIT_SECONDS,
            )
            if idle and handled == 0:
                self._last_idle[consumer.name] = now
            if handled is None:
                contended = True
                continue
            if handled:
                self._last_run[consumer.name] = time.monotonic()
                self.processed += handled
                worked.add(consumer.name)
                busy = True
        return busy, contended

    def _resting(self, consumer: StreamConsumer) -> bool:
        """Whether the consumer ran less than its `min_interval` ago."""
        interval = min_interval_of(consumer)
        last = self._last_run.get(consumer.name)
        return bool(interval) and last is not None and time.monotonic() - last < interval
