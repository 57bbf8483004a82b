"""`omnicx serve --workers N`: N server processes share one set of processing processes (run
by the supervisor), not N sets working the same consumers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.e2e.events import counted_per_source, processing_position, stored_per_source
from tests.e2e.server import OmnicxServer, add_sources, wait_until

WORKERS = 2


@pytest.fixture
def two_server_processes(database_url: str, tmp_path: Path) -> Iterator[OmnicxServer]:
    server = OmnicxServer(database_url, tmp_path / "omnicx-serve.log", workers=WORKERS)
    try:
        server.spawn()
        server.write_keys |= add_sources(database_url, {"web": "web"})
        server.wait_healthy()
        yield server
        server.stop()
    finally:
        server.ensure_stopped()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The parent's pid follows the state, after the command name in parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _expected_processing(database_url: str) -> int:
    return 1 if database_url.startswith("sqlite") else 2  # the documented defaults


def test_server_processes_share_one_set_of_processing_processes(
    two_server_processes: OmnicxServer, database_url: str, engine: Engine
) -> None:
    server = two_server_processes
    assert server.process is not None
    supervisor = server.process.pid
    expected = WORKERS + _expected_processing(database_url)

    def started() -> list[int]:
        return [p for p in _children(supervisor) if not _is_resource_tracker(p)]

    # Processes start one after another: wait for as many as there should be (never more).
    wait_until(lambda: len(started()) >= expected, "the server and processing processes")
    children = started()
    assert len(children) == expected, server.log()
    nested = [q for p in children for q in _children(p) if not _is_resource_tracker(q)]
    assert nested == [], f"a server process runs processing of its own:\n{server.log()}"

    # Whichever server process answers, the shared processing stage takes its events in.
    key = server.write_keys["web"]
    with httpx.Client(base_url=server.url, auth=(key, ""), timeout=10) as client:
        for n in range(40):  # new connections: the kernel spreads them over both processes
            response = client.post(
                "/v1/track",
                json={"userId": f"u{n}", "event": "Signed Up"},
                headers={"Connection": "close"},
            )
            assert response.status_code == 200, response.text

    def caught_up() -> bool:
        position, head = processing_position(engine)
        return position == head > 0

    wait_until(caught_up, "processing to reach the last event", timeout=60)
    assert sum(counted_per_source(engine).values()) == 40
    assert counted_per_source(engine) == stored_per_source(engine)

    # Any server process tells how far processing is (it runs in neither of them).
    def health_shows_caught_up() -> bool:
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
        return bool(health["processing_lag"]) and set(health["processing_lag"].values()) == {0}

    wait_until(health_shows_caught_up, "/healthz to show every consumer caught up", timeout=60)
