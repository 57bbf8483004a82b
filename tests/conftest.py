"""Shared fixtures: a migrated database on SQLite and on PostgreSQL for every storage test.

PostgreSQL is not optional: without it the suite fails at once instead of skipping half of
itself. Point OMNICX_TEST_POSTGRES_URL elsewhere than 127.0.0.1:5432/test if needed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from omnicx.access import users
from omnicx.schema import metadata
from omnicx.store.engine import make_engine
from omnicx.store.migrate import upgrade
from tests.databases import fresh_postgres_database

POSTGRES_URL = os.environ.get(
    "OMNICX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps `--dist loadgroup` grouping by `xdist_group` on pytest 9.2.

    pytest-xdist tells the scheduler a test's group by appending "@group" to its node id
    through `item._nodeid`, which pytest 9.2's structured node ids no longer read: every
    group was silently spread over both workers (pytest-dev/pytest-xdist#1386), so each
    worker loaded the console's demo twice and the end-to-end tests' servers ran side by
    side. This sets the suffix on the structured id; it does nothing where xdist's own
    suffix took effect (an older pytest, or a fixed xdist).
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers only
        return
    for item in items:
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
             for m in item.iter_markers("xdist_group")}
        )  # fmt: skip
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = NodeId.parse(item.nodeid + suffix)


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The reachable PostgreSQL server the suite needs; fails the run if it cannot connect."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.exit(
            f"PostgreSQL is required for the test suite and is unreachable at {POSTGRES_URL}: "
            f"{exc}. Start it, or set OMNICX_TEST_POSTGRES_URL.",
            returncode=3,
        )
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database of its own for this test process."""
    # The pid too: two test runs on one machine must not drop each other's database.
    name = f"omnicx_test_{_worker_suffix()}_{os.getpid()}"
    with fresh_postgres_database(postgres_admin_url, name) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "omnicx.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


_USED_SEQUENCES = text(
    """SELECT DISTINCT t.relname FROM pg_class s
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_sequences q ON q.schemaname = current_schema() AND q.sequencename = s.relname
    WHERE s.relkind = 'S' AND q.last_value IS NOT NULL"""
)
"""The tables whose serial or identity sequence has handed out a value since its last restart."""


def _tables_to_empty(connection: Connection) -> list[str]:
    """The schema's tables holding rows or with a used sequence: what TRUNCATE must reset."""
    holding = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")"
        for t in metadata.sorted_tables
    )
    used = {row[0] for row in connection.execute(_USED_SEQUENCES)}
    known = {t.name for t in metadata.sorted_tables}
    return sorted({row[0] for row in connection.execute(text(holding))} | (used & known))


def _truncate_all(engine: Engine, attempts: int = 5) -> None:
    """Every table empty and every sequence restarted, as after migrating. Only the tables
    that need it are truncated: TRUNCATE costs a couple of milliseconds per table even when
    empty, a tenth of a second per PostgreSQL test for all of them."""
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                names = ", ".join(f'"{name}"' for name in _tables_to_empty(connection))
                if names:
                    connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as exc:
            # The previous test's server may still be finishing a processing batch: when its
            # locks and the TRUNCATE's deadlock, PostgreSQL aborts one of them; try again.
            if "deadlock" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """The URL of an empty, migrated database; each test runs once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "omnicx.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database (SQLite or PostgreSQL)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def lake_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own event lake: processing never writes into the working directory (the
    default beside a PostgreSQL database), and no test reads another's lake."""
    path = tmp_path_factory.mktemp("lake")
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(path))
    return path


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id with cheap parameters: the real ones cost a fifth of a second per hash, which is
the point in production and a waste in a test that signs people in and out."""


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordHasher]:
    """Makes `access.users` hash with CHEAP_HASHER (and a dummy hash made with it) in this
    process: for tests of the code in-process, never for a served `omnicx` (its own process
    keeps the real parameters)."""
    monkeypatch.setattr(users, "_hasher", CHEAP_HASHER)
    users._dummy_hash.cache_clear()
    yield CHEAP_HASHER
    users._dummy_hash.cache_clear()
