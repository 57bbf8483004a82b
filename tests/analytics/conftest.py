"""Shared by the analytics tests: a wide console for the report tables (a width once set
sticks to Rich's shared console, whatever another test left it at), and an API client on a
SQLite database for the report routes, reading the module's `lake` fixture as the server's
lake."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.api.app import create_app
from omnicx.cli.common import console
from omnicx.settings import Settings
from omnicx.store.engine import make_engine


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated SQLite database: analytics reads the lake, the database only holds tokens."""
    shutil.copy(sqlite_template, tmp_path / "omnicx.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'omnicx.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def client(sqlite_engine: Engine, lake: Path) -> Iterator[TestClient]:
    """The application on `sqlite_engine`, with the test module's `lake` as its lake."""
    settings = Settings(database_url=str(sqlite_engine.url), run_processing=False)
    with TestClient(create_app(settings)) as client:
        yield client
