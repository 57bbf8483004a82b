"""Shared by the analytics tests: a wide console for the report tables (a width once set
sticks to Rich's shared console, whatever another test left it at), and an API client on a
SQLite database for the report routes, reading the module's `lake` fixture as the server's
lake."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.analytics import compiled, funnel_walk, person_index
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


@pytest.fixture(params=["python", "compiled"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with analytics' compiled loops (compiled.py) as plain Python and as
    numba's machine code, whatever the size of the input."""
    if request.param == "compiled":
        monkeypatch.setattr(compiled, "COMPILE_ABOVE", 0)
    else:
        for module, name in (
            (funnel_walk, "_starts"),
            (funnel_walk, "_place"),
            (funnel_walk, "_walk"),
            (person_index, "_number"),
            (person_index, "_look_up_dense"),
        ):
            monkeypatch.setattr(module, name, _plain_python(getattr(module, name)))
    return str(request.param)


def _plain_python(function: Callable[..., Any]) -> Callable[..., Any]:
    """A compiled function's Python, as compiled.py runs it before compiling."""
    python = function.__wrapped__  # type: ignore[attr-defined]

    def run(*args: Any) -> Any:
        with np.errstate(over="ignore"):
            return python(*args)

    return run
