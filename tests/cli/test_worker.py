"""`omnicx worker --processes N` as an operator runs it: N processes, stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omnicx.collect.processing import lag
from omnicx.pipeline import stream_consumers
from tests.collect.test_processing import _append, _source
from tests.e2e.server import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _children(pid: int) -> list[int]:
    """The processing processes `pid` started (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def _start(database_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "omnicx", "worker", "--db", database_url, "--poll", "0.2", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,  # its own process group, as a terminal gives a command
    )


def _wait_for(engine: Engine, worker: subprocess.Popen[str], processes: int) -> list[int]:
    """Waits until the worker runs `processes` children and has processed everything."""
    deadline = time.monotonic() + 120
    while len(children := _children(worker.pid)) < processes or any(
        lag(engine, stream_consumers()).values()
    ):
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, lag(engine, stream_consumers())
        time.sleep(0.1)
    return children


def _stopped(worker: subprocess.Popen[str], children: list[int]) -> tuple[str, str]:
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, (out, err)
    assert "Traceback" not in err, err
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    return out, err


def test_ctrl_c_stops_the_worker_and_its_processes(engine: Engine, database_url: str) -> None:
    source_id = _source(engine)
    _append(engine, source_id, [f"a{i}" for i in range(50)])
    worker = _start(database_url, "--processes", "2")
    try:
        postgresql = engine.dialect.name == "postgresql"
        children = _wait_for(engine, worker, 2 if postgresql else 0)
        _append(engine, source_id, [f"b{i}" for i in range(50)])  # found by polling
        _wait_for(engine, worker, len(children))
        os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out, err = _stopped(worker, children)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    if postgresql:
        assert "Processing stage running in 2 processes" in out
        # Each consumer's share of the 100 events, whichever process ran it.
        assert f"Stopped after processing {100 * len(stream_consumers())} events" in out
    else:  # one writer at a time: it says so and runs one
        assert "--processes asks for 2 processing processes; running 1" in err
        assert "Processing stage running (" in out


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_sigterm_to_the_worker_stops_its_processes(engine: Engine, database_url: str) -> None:
    _append(engine, _source(engine), [f"a{i}" for i in range(20)])
    worker = _start(database_url, "--processes", "3")
    try:
        children = _wait_for(engine, worker, 3)
        worker.send_signal(signal.SIGTERM)  # to the worker alone, as `kill PID` does
        out, _ = _stopped(worker, children)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert f"Stopped after processing {20 * len(stream_consumers())} events" in out
