"""Creates SQLAlchemy engines tuned for omnicx on SQLite and PostgreSQL.

SQLite: WAL journal, `synchronous=FULL` (an acknowledged event survives a crash of the
process and of the machine), a generous busy timeout, and every transaction opened with
`BEGIN IMMEDIATE` so two writers never deadlock upgrading a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from omnicx.store.config import normalise_url


def is_sqlite(engine: Engine) -> bool:
    """Tells whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def is_in_memory(engine: Engine) -> bool:
    """Tells whether the engine's database is an in-memory SQLite one (private to this
    engine: no other process, or engine, can see it)."""
    return is_sqlite(engine) and engine.url.database in (None, "", ":memory:")


def make_engine(url: str, *, pool_size: int = 5, keep_connections: bool = False) -> Engine:
    """Creates an engine for the URL with omnicx's connection settings.

    `keep_connections`: on a SQLite file, pool connections instead of opening one per
    transaction, for a process that runs many small transactions (the processing stage:
    pooling cut its CPU time by a fifth under a steady 2,000 events/s, docs/performance.md).
    PostgreSQL engines always pool."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _make_sqlite_engine(url, keep_connections=keep_connections)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"application_name": "omnicx"},
    )


def _make_sqlite_engine(url: str, *, keep_connections: bool = False) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if memory:
        pooling: dict[str, Any] = {"poolclass": StaticPool}
    elif keep_connections:
        # An idle pooled connection holds no transaction (the pool rolls back on return), so
        # no WAL snapshot that would hold checkpoints back.
        pooling = {"poolclass": QueuePool, "pool_size": 2, "max_overflow": 8}
    else:
        # Opening is cheap next to most transactions, and nothing stays open between them.
        pooling = {"poolclass": NullPool}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, **pooling)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def read_only_engine(engine: Engine) -> Engine:
    """An engine for reads that never takes SQLite's write lock (the same engine otherwise);
    dispose of it when it is not `engine`.

    omnicx's SQLite engines begin every transaction IMMEDIATE (store.engine), which is the
    database's write lock; a lookup only reads, and in WAL mode reads need no lock at all.
    An in-memory database is private to its engine's one connection: it keeps that engine.
    """
    if not is_sqlite(engine) or is_in_memory(engine):
        return engine
    reader = create_engine(
        engine.url,
        connect_args={"check_same_thread": False, "timeout": 60},
        poolclass=NullPool,
    )

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit: each SELECT reads on its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return reader


@contextmanager
def wal_kept(engine: Engine) -> Iterator[None]:
    """Holds one idle connection to a SQLite file while the block runs, where the engine
    opens a connection per transaction (not `keep_connections`, whose pool keeps them).

    SQLite checkpoints the whole WAL into the database (and deletes it) when its last
    connection closes: a processing loop paid that at every batch (5 % of a catch-up). The
    idle connection holds no transaction, so it keeps no snapshot and blocks no checkpoint;
    SQLite's automatic checkpoints go on as usual."""
    if not is_sqlite(engine) or is_in_memory(engine) or not isinstance(engine.pool, NullPool):
        yield
        return
    with engine.connect():  # opens the file at once; nothing is executed on it
        yield
