"""`omnicx serve`'s processing stage in a child process: same consumers, woken by commits."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from omnicx.api import runtime as runtime_module
from omnicx.api.runtime import ProcessingProcess, Runtime
from omnicx.api.wake import WakeListener, WakeSender
from omnicx.collect import sources
from omnicx.collect.stream import StampedRow
from omnicx.collect.tables import source_daily_counts
from omnicx.settings import Settings
from omnicx.store.clock import utc_now


def test_the_child_process_consumes_what_the_writer_commits(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "tune_server_process", lambda: None)  # tested below
    with engine.begin() as connection:
        source_id = sources.add(connection, name="web", channel="web").id
    settings = Settings(database_url=database_url, processing_workers=1)
    runtime = Runtime.open(settings, serving=True)
    try:
        assert isinstance(runtime.processing, ProcessingProcess)
        now = utc_now()
        rows = [
            StampedRow(source_id, "web", f"m{i}", "track", "E", "u", None, now, now, b"{}")
            for i in range(30)
        ]
        runtime.writer.write_blocking(rows)
        deadline = time.monotonic() + 60
        counted = 0
        while time.monotonic() < deadline and counted < 30:
            time.sleep(0.1)
            with engine.connect() as connection:
                counted = sum(connection.execute(select(source_daily_counts.c.events)).scalars())
        assert counted == 30
        while time.monotonic() < deadline and runtime.processing.processed < 30:
            time.sleep(0.1)  # the child publishes its count a few times a second
        assert runtime.processing.processed >= 30  # every consumer's share of the 30 events
    finally:
        runtime.close()
    assert not runtime.processing._process.is_alive()


def test_server_processes_are_tuned_for_the_intake() -> None:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        runtime_module.tune_server_process()
        assert gc.get_threshold()[0] == 50_000
        assert sys.getswitchinterval() == pytest.approx(runtime_module.SWITCH_INTERVAL)
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
        gc.unfreeze()


def test_a_server_process_wakes_processing_run_by_another_process(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `omnicx serve --workers N`: the supervisor runs the processing processes and listens
    # on a socket; each server process sends to it after its commits.
    monkeypatch.setattr(runtime_module, "tune_server_process", lambda: None)
    with engine.begin() as connection:
        source_id = sources.add(connection, name="web", channel="web").id
    woken = threading.Event()
    listener = WakeListener(woken.set)
    listener.start()
    settings = Settings(
        database_url=database_url, run_processing=False, processing_wake=str(listener.path)
    )
    runtime = Runtime.open(settings, serving=True)
    try:
        assert runtime.processing is None
        assert not woken.is_set()
        now = utc_now()
        row = StampedRow(source_id, "web", "m1", "track", "E", "u", None, now, now, b"{}")
        runtime.writer.write_blocking([row])
        assert woken.wait(10), "the commit sent no wake-up"
    finally:
        runtime.close()
        listener.close()
    assert not listener.path.exists()
    assert not listener.path.parent.exists()


def test_a_wake_up_nobody_listens_to_is_dropped_quietly(tmp_path: Path) -> None:
    sender = WakeSender(str(tmp_path / "gone.sock"))
    try:
        sender.send()  # the supervisor stopped first: the events are durable, nothing to do
    finally:
        sender.close()


def test_a_processing_process_that_dies_is_started_again_and_resumes(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel kills it for memory, or it crashes: `omnicx serve` starts another, which
    # resumes from the checkpoints (nothing counted twice, nothing missed).
    monkeypatch.setattr(runtime_module, "tune_server_process", lambda: None)
    monkeypatch.setattr(runtime_module, "RESTART_CHECK_SECONDS", 0.1)
    monkeypatch.setattr(runtime_module, "RESTART_FIRST_DELAY", 0.1)
    with engine.begin() as connection:
        source_id = sources.add(connection, name="web", channel="web").id
    settings = Settings(database_url=database_url, processing_workers=1)
    runtime = Runtime.open(settings, serving=True)
    processing = runtime.processing
    try:
        assert isinstance(processing, ProcessingProcess)
        now = utc_now()

        def rows(prefix: str) -> list[StampedRow]:
            return [
                StampedRow(
                    source_id, "web", f"{prefix}{i}", "track", "E", "u", None, now, now, b"{}"
                )
                for i in range(20)
            ]

        runtime.writer.write_blocking(rows("before"))
        _wait_for_counted(engine, 20)
        first = processing.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (processing.pid == first or processing.exitcode):
            time.sleep(0.05)
        assert processing.pid != first, "no new processing process was started"
        assert processing.restarts == 1
        runtime.writer.write_blocking(rows("after"))
        _wait_for_counted(engine, 40)
    finally:
        runtime.close()
    assert processing.exitcode is not None  # stopped with the server, not started again


def _wait_for_counted(engine: Engine, expected: int) -> None:
    deadline = time.monotonic() + 60
    counted = 0
    while time.monotonic() < deadline and counted < expected:
        time.sleep(0.1)
        with engine.connect() as connection:
            counted = sum(connection.execute(select(source_daily_counts.c.events)).scalars())
    assert counted == expected
