"""SQLite engines: `wal_kept` keeps the write-ahead log between a loop's transactions."""

from __future__ import annotations

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
