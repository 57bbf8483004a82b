"""Several processing processes sharing the consumers (`OMNICX_PROCESSING_WORKERS`).

On PostgreSQL each batch holds its consumer's checkpoint row and a process skips the consumers
another one holds: two processes must process a stream exactly once and resolve the same
profiles one process does. On SQLite (one writer at a time) there is only ever one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select

from omnicx.api import runtime as runtime_module
from omnicx.api.app import create_app
from omnicx.api.runtime import ProcessingProcess, ProcessingProcesses, Runtime
from omnicx.collect import processing
from omnicx.collect.processing import ProcessingStage, StoredEvent, lag, lock_consumer
from omnicx.collect.tables import source_daily_counts
from omnicx.identity import service as identity
from omnicx.pipeline import stream_consumers
from omnicx.profiles import service as profiles
from omnicx.settings import Settings, processing_workers_for
from omnicx.store.engine import make_engine
from tests.collect.helpers import add_source, post_by_source, running_app
from tests.collect.test_processing import _append, _source
from tests.databases import fresh_postgres_database

START = datetime(2026, 3, 1, tzinfo=UTC)

Messages = list[tuple[str, dict[str, Any]]]


def test_two_processes_on_postgresql_one_on_sqlite_by_default() -> None:
    assert processing_workers_for(None, "postgresql") == 2
    assert processing_workers_for(None, "sqlite") == 1
    assert processing_workers_for(1, "postgresql") == 1
    assert processing_workers_for(3, "postgresql") == 3
    assert processing_workers_for(3, "sqlite") == 1


def test_the_number_of_processes_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMNICX_PROCESSING_WORKERS", raising=False)
    assert Settings().processing_workers is None
    monkeypatch.setenv("OMNICX_PROCESSING_WORKERS", "3")
    assert Settings().processing_workers == 3
    for wrong in ("0", "-1", "two"):
        monkeypatch.setenv("OMNICX_PROCESSING_WORKERS", wrong)
        with pytest.raises(SystemExit, match="OMNICX_PROCESSING_WORKERS"):
            Settings()


def test_sqlite_runs_one_processing_process_and_says_so_once_when_asked_for_more(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(runtime_module, "tune_server_process", lambda: None)
    path = tmp_path / "omnicx.db"
    path.write_bytes(sqlite_template.read_bytes())
    settings = Settings(database_url=f"sqlite:///{path}", processing_workers=3)
    with caplog.at_level(logging.WARNING, logger="omnicx.processing"):
        runtime = Runtime.open(settings, serving=True)
        runtime.close()
    assert isinstance(runtime.processing, ProcessingProcess)
    [warning] = [r for r in caplog.records if r.name == "omnicx.processing"]
    assert warning.levelno == logging.WARNING
    assert "OMNICX_PROCESSING_WORKERS asks for 3" in warning.getMessage()
    assert "SQLite" in warning.getMessage()


def _people(people: int) -> tuple[Messages, Messages]:
    """(source, message) for a crowd: anonymous visits, sign-ins, e-mails shared by families,
    orders; shuffled (late and out of order), the same way every time. In two phases: visits
    and e-mail opens, then the sign-ins and identifies that merge their profiles."""
    messages: Messages = []

    def add(source: str, minutes: int, **fields: Any) -> None:
        stamp = (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        messages.append((source, {"messageId": f"m-{len(messages)}", "timestamp": stamp, **fields}))

    for person in range(people):
        family = (person // 2) % 5 == 0  # two people, two accounts, one mailbox
        mail = f"family{person // 2}@example.org" if family else f"p{person}@example.org"
        at = person * 11
        for visit in range(1 + person % 3):
            add("web", at + visit, type="page", anonymousId=f"a-{person}-{visit}", name="Home")
            if visit == 0 or person % 4 == 0:
                add(
                    "web",
                    at + visit + 1,
                    type="track",
                    event="Signed In",
                    anonymousId=f"a-{person}-{visit}",
                    userId=f"u-{person}",
                )
        add(
            "web",
            at + 5,
            type="identify",
            userId=f"u-{person}",
            traits={"email": mail.upper(), "firstName": f"P{person}"},
        )
        add(
            "email",
            at + 6,
            type="track",
            event="Email Opened",
            anonymousId=f"esp-{person}",
            context={"traits": {"email": mail}},
        )
        if person % 3 == 0:
            add(
                "web",
                at + 8,
                type="track",
                event="Order Completed",
                userId=f"u-{person}",
                properties={"revenue": 10 + person, "orderId": f"o-{person}"},
            )
    rng = random.Random(20261201)
    first = [m for m in messages if m[1]["type"] == "page" or m[1].get("event") == "Email Opened"]
    then = [m for m in messages if m not in first]
    rng.shuffle(first)
    rng.shuffle(then)
    return first, then


def _post_all(
    client: TestClient, engine: Engine, keys: dict[str, str], phases: Sequence[Messages]
) -> None:
    """Posts each phase's messages in chunks, pausing between them so processing interleaves,
    then waits for processing to catch up before the next phase."""
    for messages in phases:
        _post(client, keys, messages)
        _wait_until_caught_up(engine)


def _post(client: TestClient, keys: dict[str, str], messages: Messages) -> None:
    for start in range(0, len(messages), 50):
        post_by_source(client, keys, messages[start : start + 50])
        time.sleep(0.1)


def _wait_until_caught_up(engine: Engine, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while any(lag(engine, stream_consumers()).values()):
        assert time.monotonic() < deadline, lag(engine, stream_consumers())
        time.sleep(0.1)


def _profiles_by_identities(engine: Engine) -> dict[frozenset[tuple[str, str]], dict[str, Any]]:
    """Every profile's document (without its id), keyed by the identifiers it holds."""
    with engine.connect() as connection:
        ids = identity.profile_ids(connection)
        found = profiles.documents(connection, ids)
    return {
        frozenset((kind, i.value) for kind, held in d.identities.items() for i in held): (
            d.model_dump(exclude={"id", "merged_from"})
        )
        for d in found.values()
    }


@pytest.fixture
def second_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """Another fresh, migrated PostgreSQL database: the same stream with one process."""
    name = f"omnicx_test_one_worker_{time.monotonic_ns()}"
    with fresh_postgres_database(postgres_admin_url, name) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_process_a_stream_once_into_the_profiles_one_process_builds(
    engine: Engine,
    database_url: str,
    second_postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "tune_server_process", lambda: None)
    monkeypatch.delenv("OMNICX_PROCESSING_WORKERS", raising=False)
    phases = _people(60)
    events = sum(len(p) for p in phases)
    keys = {"web": add_source(engine, "web", "web"), "email": add_source(engine, "email", "email")}
    settings = Settings(database_url=database_url, write_key_cache_seconds=0)
    with TestClient(create_app(settings, serving=True)) as client:
        running = client.app.state.runtime.processing  # type: ignore[attr-defined]
        # PostgreSQL's default: two processes, one of which delivers segment syncs.
        assert isinstance(running, ProcessingProcesses)
        assert [c.run_syncs for c in running.children] == [True, False]
        _post_all(client, engine, keys, phases)
        consumers = len(stream_consumers())
        deadline = time.monotonic() + 10
        while running.processed < consumers * events and time.monotonic() < deadline:
            time.sleep(0.05)  # the children publish their counts every 20 ms
        # Each consumer handled each event once, whichever process ran its batches.
        assert running.processed == consumers * events
    assert all(c.exitcode == 0 for c in running.children)
    with engine.connect() as connection:
        counted = connection.execute(select(func.sum(source_daily_counts.c.events))).scalar()
    assert counted == events

    monkeypatch.setenv("OMNICX_LAKE_DIR", str(tmp_path / "lake-one"))  # its own lake
    one = make_engine(second_postgres_url)
    try:
        single = {"web": add_source(one, "web", "web"), "email": add_source(one, "email", "email")}
        with running_app(second_postgres_url) as client:  # one stage, in a thread
            _post_all(client, one, single, phases)
        expected = _profiles_by_identities(one)
        with one.connect() as connection:
            expected_partition = set(identity.partition(connection))
    finally:
        one.dispose()
    with engine.connect() as connection:
        assert set(identity.partition(connection)) == expected_partition
        summary = identity.summary(connection)
    assert summary["merges"] > 0, summary  # not a trivial crowd: profiles merged late,
    assert summary["conflicts"] > 0, summary  # and shared mailboxes were refused
    assert _profiles_by_identities(engine) == expected


class Counter:
    """A consumer that counts what it handles."""

    needs_payload = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.handled = 0

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        self.handled += len(batch)


@contextmanager
def _held(engine: Engine, names: Sequence[str]) -> Iterator[None]:
    """Holds the consumers' checkpoints, as another process running their batches does."""
    with engine.begin() as connection:  # the rows exist (a new row's insert would block)
        for name in names:
            lock_consumer(connection, name)
    with engine.connect() as connection, connection.begin():
        for name in names:
            lock_consumer(connection, name)
        yield


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the stage's looks at a consumer (one element: the count so far)."""
    counter = [0]
    process_batch = processing._process_batch

    def counted(*args: Any, **kwargs: Any) -> int | None:
        counter[0] += 1
        return process_batch(*args, **kwargs)

    monkeypatch.setattr(processing, "_process_batch", counted)
    return counter


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_stage_whose_consumers_another_process_holds_waits_then_takes_them_over(
    engine: Engine, looks: list[int]
) -> None:
    _append(engine, _source(engine), [f"e{i}" for i in range(20)])
    consumers = [Counter("test.first"), Counter("test.second")]
    stage = ProcessingStage(engine, consumers, poll=30)  # no poll interval within the test
    with _held(engine, [c.name for c in consumers]):
        started = time.monotonic()
        stage.start()
        try:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            # Skipped consumers are no work: the stage waited between looks, it did not spin
            # (one look per consumer every CONTENDED_RETRY_SECONDS at most).
            assert 0 < looks[0] <= 2 * (elapsed / processing.CONTENDED_RETRY_SECONDS + 2)
            assert stage.processed == 0
        except BaseException:
            stage.stop()
            raise
    try:
        # Released: the stage takes them over without a notify, long before its poll.
        deadline = time.monotonic() + 10
        while stage.processed < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [c.handled for c in consumers] == [20, 20]
    finally:
        stage.stop()


def test_a_stage_with_nothing_to_do_waits_for_a_notify(engine: Engine, looks: list[int]) -> None:
    source_id = _source(engine)
    consumers = [Counter("test.first")]
    stage = ProcessingStage(engine, consumers, poll=30)
    stage.start()
    try:
        time.sleep(0.5)
        assert looks[0] == 1  # one look at start, then it waits for a commit
        _append(engine, source_id, ["late"])
        stage.notify()
        deadline = time.monotonic() + 10
        while consumers[0].handled < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert consumers[0].handled == 1
    finally:
        stage.stop()


class Follower(Counter):
    """A consumer that also follows something else than events (as the audiences do)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.idle_runs = 0

    def idle(self, connection: Connection) -> None:
        self.idle_runs += 1


def test_a_consumer_with_no_events_does_its_idle_work_at_most_every_idle_seconds(
    engine: Engine,
) -> None:
    source_id = _source(engine)
    follower = Follower("test.follower")
    stage = ProcessingStage(engine, [follower], poll=30)
    stage.start()
    started = time.monotonic()
    try:
        # Commits that bring nothing for it wake the stage many times a second.
        for _ in range(40):
            stage.notify()
            time.sleep(0.025)
        elapsed = time.monotonic() - started
        assert 1 <= follower.idle_runs <= elapsed / processing.IDLE_SECONDS + 1
        # New events are handled at once, idle work or not.
        _append(engine, source_id, ["new"])
        stage.notify()
        deadline = time.monotonic() + 10
        while follower.handled < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert follower.handled == 1
    finally:
        stage.stop()
