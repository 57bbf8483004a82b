"""SQLite engines: `wal_kept` keeps the write-ahead log between a loop's transactions."""

from __future__ import annotations

import sqlite3
from contextlib import nullcontext
from pathlib import Path

from sqlalchemy import text

from omnicx.store.engine import make_engine, wal_kept


def _write(engine_url: str, wal: Path, *, kept: bool) -> bool:
    """Whether the WAL file is still there after a write transaction's connection closed."""
    engine = make_engine(engine_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        with wal_kept(engine) if kept else nullcontext():
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (1)"))
            return wal.exists()
    finally:
        engine.dispose()


def test_the_last_connection_closing_checkpoints_and_removes_the_wal(tmp_path: Path) -> None:
    database = tmp_path / "plain.db"
    assert not _write(f"sqlite:///{database}", Path(f"{database}-wal"), kept=False)


def test_wal_kept_leaves_the_wal_to_sqlites_own_checkpoints(tmp_path: Path) -> None:
    database = tmp_path / "kept.db"
    assert _write(f"sqlite:///{database}", Path(f"{database}-wal"), kept=True)
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:  # and every write is there for the next reader
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    engine.dispose()


def test_wal_kept_does_nothing_for_a_database_in_memory() -> None:
    engine = make_engine("sqlite://")
    with wal_kept(engine), engine.begin() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1


def _checkpoint_blocked(path: Path) -> bool:
    """Whether a full checkpoint from another connection must wait for a reader."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy)
    finally:
        other.close()


def test_kept_connections_are_reused_and_hold_nothing_between_transactions(
    tmp_path: Path,
) -> None:
    # The processing stage runs many small transactions: opening and setting up a SQLite
    # connection for each cost it a fifth of its CPU under a steady load.
    path = tmp_path / "kept.db"
    engine = make_engine(f"sqlite:///{path}", keep_connections=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            first = connection.connection.driver_connection
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            second = connection.connection.driver_connection
        assert first is second
        # The pool keeps the file open already: wal_kept takes no connection of its own.
        with wal_kept(engine):
            assert engine.pool.checkedout() == 0
        # Idle in the pool, it keeps no snapshot that would hold the WAL back...
        assert not _checkpoint_blocked(path)
        # ... as a connection reading in a transaction does (what the check would catch).
        reading = sqlite3.connect(path, isolation_level=None)
        try:
            reading.execute("BEGIN")
            assert reading.execute("SELECT count(*) FROM t").fetchone() == (1,)
            with engine.begin() as connection:  # pages the reader's snapshot predates
                connection.exec_driver_sql("INSERT INTO t VALUES (2)")
            assert _checkpoint_blocked(path)
        finally:
            reading.close()
    finally:
        engine.dispose()
