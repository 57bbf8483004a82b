"""Console fixtures.

- `console`: the application in-process (FastAPI's TestClient) on the test database, SQLite
  and PostgreSQL, with one console user per role: server-side tests of pages and permissions.
- `demo_console`: `omnicx serve` as a real process on a small demo retailer (`omnicx demo`),
  with the same users and an admin API token, once per module and backend: browser tests.
- `browser`: Debian's Chromium, headless, driven by Playwright.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from omnicx.access import users
from omnicx.api.app import create_app
from omnicx.settings import Settings
from omnicx.store.engine import make_engine
from tests.console.support import PASSWORD, ROLE_EMAILS
from tests.e2e.server import OmnicxServer, child_env, run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_CUSTOMERS = 200


def add_role_users(database_url: str) -> None:
    """One console user per role (ROLE_EMAILS), all with PASSWORD."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for role, email in ROLE_EMAILS.items():
                users.add_user(connection, email, role=role, password=PASSWORD, name=role.title())
    finally:
        engine.dispose()


@pytest.fixture
def console(database_url: str) -> Iterator[TestClient]:
    """The application in-process on the test database, with a user per role."""
    add_role_users(database_url)
    app = create_app(Settings(database_url=database_url, run_processing=False))
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@dataclass
class DemoConsole:
    """A served demo retailer: where it listens, its database, an admin API token."""

    url: str
    database_url: str
    token: str
    backend: str


def _demo_database(request: pytest.FixtureRequest, tmp: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp / 'demo.db'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"omnicx_console_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoConsole]:
    """`omnicx serve` on a demo retailer of DEMO_CUSTOMERS customers, loaded with
    `omnicx demo`, with a console user per role and an admin API token."""
    tmp = tmp_path_factory.mktemp("demo-console")
    database_url = _demo_database(request, tmp)
    lake = tmp / "lake"
    env = {**child_env(), "OMNICX_LAKE_DIR": str(lake)}
    done = subprocess.run(
        [sys.executable, "-m", "omnicx", "demo", "--customers", str(DEMO_CUSTOMERS),
         "--db", database_url, "--output", str(tmp / "demo-output")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    add_role_users(database_url)
    token = run_cli(database_url, "tokens", "create", "--role", "admin").strip().splitlines()[-1]
    server = OmnicxServer(database_url, tmp / "serve.log")
    try:
        _spawn_with_lake(server, lake)
        server.wait_healthy()
        yield DemoConsole(server.url, database_url, token, request.param)
        server.stop()
    finally:
        server.ensure_stopped()


def _spawn_with_lake(server: OmnicxServer, lake: Path) -> None:
    """Starts the server with the demo's lake (the child inherits os.environ at spawn)."""
    previous = os.environ.get("OMNICX_LAKE_DIR")
    os.environ["OMNICX_LAKE_DIR"] = str(lake)
    try:
        server.spawn()
    finally:
        if previous is None:
            os.environ.pop("OMNICX_LAKE_DIR", None)
        else:
            os.environ["OMNICX_LAKE_DIR"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright: one per module, never per session,
    because Playwright's sync API keeps an event loop running in the thread until it stops,
    and later tests in the same worker call `asyncio.run` (the demo's sender does)."""
    assert CHROMIUM.exists(), "the console tests need Debian's chromium: run `make chromium`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
