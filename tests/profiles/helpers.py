"""Sending messages through the real intake and processing stage, and reading profiles."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access import service as access
from omnicx.api.app import create_app
from omnicx.collect import sources
from omnicx.collect.intake import prepare
from omnicx.collect.processing import process_available
from omnicx.collect.stream import append
from omnicx.pipeline import stream_consumers
from omnicx.profiles import rfm, service
from omnicx.profiles.schemas import ProfileDocument
from omnicx.settings import Settings
from omnicx.store.clock import utc_now

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
_ids = itertools.count(1)


def at(days: float = 0, minutes: float = 0) -> str:
    """An ISO instant `days` and `minutes` after T0."""
    return (T0 + timedelta(days=days, minutes=minutes)).isoformat()


def identify(
    user_id: str | None = None,
    anonymous_id: str | None = None,
    traits: dict[str, Any] | None = None,
    *,
    days: float = 0,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An identify message."""
    return _message("identify", user_id, anonymous_id, days, context, traits=traits or {})


def track(
    event: str,
    user_id: str | None = None,
    properties: dict[str, Any] | None = None,
    *,
    anonymous_id: str | None = None,
    days: float = 0,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A track message."""
    return _message(
        "track", user_id, anonymous_id, days, context, event=event, properties=properties or {}
    )


def page(
    name: str, user_id: str | None = None, *, anonymous_id: str | None = None, days: float = 0
) -> dict[str, Any]:
    """A page message."""
    return _message("page", user_id, anonymous_id, days, None, name=name)


def _message(
    kind: str,
    user_id: str | None,
    anonymous_id: str | None,
    days: float,
    context: dict[str, Any] | None,
    **fields: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": kind,
        "messageId": f"m-{next(_ids)}",
        "timestamp": at(days),
        **fields,
    }
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if context is not None:
        message["context"] = context
    return message


class Shop:
    """A store's sources on a test database: send messages, process them, read profiles."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._owners: dict[str, sources.KeyOwner] = {}

    def owner(self, name: str, channel: str | None = None) -> sources.KeyOwner:
        """The source `name` (created on first use, its channel the name by default)."""
        if name not in self._owners:
            with self.engine.begin() as connection:
                key = sources.add(connection, name=name, channel=channel or name).write_keys[0]
                owner = sources.find_key_owner(connection, key)
            assert owner is not None
            self._owners[name] = owner
        return self._owners[name]

    def send(self, source: str, *messages: dict[str, Any], process: bool = True) -> None:
        """Stores messages as the source's (through the intake's checks), then processes."""
        self.send_all([(source, m) for m in messages], process=process)

    def send_all(self, sent: list[tuple[str, dict[str, Any]]], *, process: bool = True) -> None:
        """Stores (source, message) pairs in one transaction, in order, then processes."""
        rows = []
        for source, message in sent:
            prepared = prepare(
                {"batch": [message]},
                owner=self.owner(source),
                message_type=None,
                received_at=utc_now(),
                max_message_bytes=64 * 1024,
            )
            assert not prepared.failures, prepared.failures
            rows.extend(prepared.rows)
        with self.engine.begin() as connection:
            append(connection, rows)
        if process:
            self.process()

    def process(self, batch_size: int = 5000) -> None:
        """Runs every consumer until it has caught up."""
        process_available(self.engine, stream_consumers(), batch_size=batch_size)
        rfm.forget_thresholds()

    def profile(self, type_name: str, value: str) -> ProfileDocument:
        """The profile document of an identifier."""
        with self.engine.connect() as connection:
            return service.document(connection, service.lookup(connection, type_name, value))

    def profile_id(self, type_name: str, value: str) -> str:
        """The profile id of an identifier."""
        with self.engine.connect() as connection:
            return service.lookup(connection, type_name, value)


def comparable(document: ProfileDocument) -> dict[str, Any]:
    """A profile document without what merely says when it was read."""
    return document.model_dump(mode="json")


def token(engine: Engine, role: str) -> dict[str, str]:
    """The Authorization header of a new token with `role`."""
    with engine.begin() as connection:
        _, plaintext = access.create_token(connection, role=role, name=f"{role} test")
    return {"Authorization": f"Bearer {plaintext}"}


@contextmanager
def api(database_url: str) -> Iterator[TestClient]:
    """The real application without its own processing stage (tests process explicitly)."""
    settings = Settings(database_url=database_url, run_processing=False)
    with TestClient(create_app(settings)) as client:
        yield client
