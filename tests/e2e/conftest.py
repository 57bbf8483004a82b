"""End-to-end fixtures: `omnicx serve` as a real process on SQLite and on PostgreSQL.

`database_url` (tests/conftest.py) gives every test an empty migrated database: a fresh SQLite
file, or the worker's PostgreSQL database with every table truncated. The server is started
with `[sys.executable, "-m", "omnicx", "serve", ...]` so the test runs exactly what an
operator runs, and stopped with SIGTERM, which must end it with status 0 within seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import OmnicxServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sources(name=channel, ...): sources the omnicx_server fixture creates with the CLI",
    )


@pytest.fixture
def omnicx_server(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[OmnicxServer]:
    """A healthy `omnicx serve` on the test database (SQLite or PostgreSQL).

    The sources named by the test's `@pytest.mark.sources(name="channel")` are created with
    `omnicx sources add` while the server starts; `server.write_keys[name]` has their keys.
    """
    marker = request.node.get_closest_marker("sources")
    server = OmnicxServer(database_url, tmp_path / "omnicx-serve.log")
    try:
        server.spawn()
        if marker is not None:
            server.add_sources(**marker.kwargs)
        server.wait_healthy()
        yield server
        if server.running:  # a test that killed the server has checked what it needed
            server.stop()
    finally:
        server.ensure_stopped()
