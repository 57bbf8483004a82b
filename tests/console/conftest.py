"""Console fixtures.

- `console`: the application in-process (FastAPI's TestClient) on the test database, SQLite
  and PostgreSQL, with one console user per role (cheap password hashing): server-side tests
  of pages and permissions.
- `demo_console`: `omnicx serve` as a real process on a small demo retailer (`omnicx demo`,
  loaded once per backend and worker, copied for each module), with the same users and an
  admin API token, once per module and backend: browser tests.
- `browser`: Debian's Chromium, headless, driven by Playwright.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from omnicx.access import users
from omnicx.api.app import create_app
from omnicx.settings import Settings
from omnicx.store.engine import make_engine
from tests.conftest import POSTGRES_URL
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
def console(database_url: str, cheap_password_hashing: PasswordHasher) -> Iterator[TestClient]:
    """The application in-process on the test database, with a user per role. Passwords are
    hashed and checked with cheap argon2id parameters (tests/conftest.py): four users and a
    sign-in or more per test cost a second at the real ones, and no test here is about the
    hash's cost (the browser tests' served console keeps the real parameters)."""
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


@dataclass(frozen=True)
class _DemoTemplate:
    """A loaded demo (database, lake, users and token) that modules copy."""

    database_url: str
    lake: Path
    token: str


def _new_database(request: pytest.FixtureRequest, backend: str, folder: Path, name: str) -> str:
    """An empty database: a SQLite file in `folder`, or this worker's PostgreSQL database
    `name`."""
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{name}.db'}"
    return _postgres_database(request, name)


def _postgres_database(
    request: pytest.FixtureRequest, name: str, template: str | None = None
) -> str:
    """This worker's PostgreSQL database `name`, new (a copy of `template` when given)."""
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"omnicx_{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres(database_url: str) -> None:
    """Drops a PostgreSQL database made here (nothing for SQLite: its folder goes)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _demo_templates() -> Iterator[dict[str, _DemoTemplate]]:
    """The demo loaded once per backend in this worker (filled by `_demo_template`)."""
    templates: dict[str, _DemoTemplate] = {}
    yield templates
    for template in templates.values():
        _drop_postgres(template.database_url)


def _demo_template(request: pytest.FixtureRequest, backend: str) -> _DemoTemplate:
    """`omnicx demo` of DEMO_CUSTOMERS customers with a console user per role and an admin API
    token, loaded the first time a module of this worker asks for `backend`."""
    templates: dict[str, _DemoTemplate] = request.getfixturevalue("_demo_templates")
    if backend in templates:
        return templates[backend]
    tmp = request.getfixturevalue("tmp_path_factory").mktemp(f"demo-template-{backend}")
    database_url = _new_database(request, backend, tmp, "console_template")
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
    templates[backend] = _DemoTemplate(database_url, lake, token)
    return templates[backend]


def _copy_demo(
    request: pytest.FixtureRequest, template: _DemoTemplate, backend: str, tmp: Path
) -> tuple[str, Path]:
    """A copy of the template's database and lake for one module (its tests change them)."""
    shutil.copytree(template.lake, tmp / "lake")
    if backend == "sqlite":
        target = tmp / "demo.db"
        source = sqlite3.connect(make_url(template.database_url).database or "")
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return f"sqlite:///{target}", tmp / "lake"
    template_name = make_url(template.database_url).database
    return _postgres_database(request, "console", template_name), tmp / "lake"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoConsole]:
    """`omnicx serve` on a copy of the demo retailer (`_demo_template`: loaded once per
    backend and worker), with a console user per role and an admin API token."""
    template = _demo_template(request, request.param)
    tmp = tmp_path_factory.mktemp("demo-console")
    database_url, lake = _copy_demo(request, template, request.param, tmp)
    server = OmnicxServer(database_url, tmp / "serve.log")
    try:
        _spawn_with_lake(server, lake)
        server.wait_healthy()
        yield DemoConsole(server.url, database_url, template.token, request.param)
        server.stop()
    finally:
        server.ensure_stopped()
        _drop_postgres(database_url)


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
