"""Small helpers for collection tests: a running app on a test database, and a source."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from omnicx.api.app import create_app
from omnicx.collect import sources
from omnicx.collect.tables import events, rejected_events
from omnicx.settings import Settings


@contextmanager
def running_app(database_url: str, **overrides: object) -> Iterator[TestClient]:
    """The real application (writer and processing stage running) on `database_url`."""
    settings = Settings(database_url=database_url, write_key_cache_seconds=0, **overrides)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        yield client


def add_source(engine: Engine, name: str = "web", channel: str = "web") -> str:
    """Creates a source and returns its write key."""
    with engine.begin() as connection:
        return sources.add(connection, name=name, channel=channel).write_keys[0]


def basic(key: str) -> dict[str, str]:
    """The Authorization header the Segment SDKs send."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post_by_source(
    client: TestClient, keys: dict[str, str], messages: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """Posts (source, message) pairs as one `/v1/batch` per source, with that source's key."""
    for source, key in keys.items():
        batch = [m for s, m in messages if s == source]
        if batch:
            answer = client.post("/v1/batch", json={"batch": batch}, headers=basic(key))
            assert answer.status_code == 200, answer.text


def stored(engine: Engine) -> list[dict[str, object]]:
    """Every stored event, oldest first."""
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(events).order_by(events.c.id))]


def rejected(engine: Engine) -> list[dict[str, object]]:
    """Every rejected message, oldest first."""
    with engine.connect() as connection:
        return [
            dict(r._mapping)
            for r in connection.execute(select(rejected_events).order_by(rejected_events.c.id))
        ]
