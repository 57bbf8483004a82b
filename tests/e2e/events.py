"""What the end-to-end tests send and how they read back what omnicx stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from omnicx.collect.processing import SourceActivity
from omnicx.collect.tables import checkpoints, events, source_daily_counts, sources


@dataclass(frozen=True, slots=True)
class Expected:
    """What a stored event must look like, as a user would check it."""

    type: str
    user_id: str | None
    event: str | None
    channel: str


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 30.0, message: Callable[[], str]
) -> None:
    """Polls `condition` until it holds; fails with `message()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.1)


def source_id(engine: Engine, name: str) -> int:
    """The id of the source called `name`."""
    with engine.connect() as connection:
        return int(
            connection.execute(select(sources.c.id).where(sources.c.name == name)).scalar_one()
        )


def stored_rows(engine: Engine, source: int | None = None) -> list[dict[str, Any]]:
    """Every stored event (of one source, if given), in stream order."""
    statement = select(events).order_by(events.c.id)
    if source is not None:
        statement = statement.where(events.c.source_id == source)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def message_id_counts(engine: Engine, source: int) -> Counter[str]:
    """How many times each messageId of a source is stored (exactly once is 1)."""
    return Counter(row["message_id"] for row in stored_rows(engine, source))


def assert_stored_once(engine: Engine, source: int, expected: dict[str, Expected]) -> None:
    """Every expected message is stored exactly once, as described, and nothing else is."""
    rows = stored_rows(engine, source)
    counts = Counter(row["message_id"] for row in rows)
    twice = {message_id: n for message_id, n in counts.items() if n > 1}
    assert not twice, f"stored more than once: {twice}"
    assert set(counts) == set(expected), (
        f"missing: {sorted(set(expected) - set(counts))}; "
        f"unexpected: {sorted(set(counts) - set(expected))}"
    )
    actual = {
        row["message_id"]: Expected(row["type"], row["user_id"], row["event"], row["channel"])
        for row in rows
    }
    assert actual == expected


def assert_each_once(engine: Engine, source: int, message_ids: Iterable[str]) -> None:
    """Each of `message_ids` is stored exactly once for the source."""
    counts = message_id_counts(engine, source)
    wanted = set(message_ids)
    missing = sorted(wanted - set(counts))
    assert not missing, f"{len(missing)} acknowledged events are missing, e.g. {missing[:5]}"
    twice = {message_id: n for message_id, n in counts.items() if n > 1}
    assert not twice, f"stored more than once: {twice}"


def processing_position(engine: Engine) -> tuple[int, int]:
    """(checkpoint of the built-in consumer, highest event id): equal once it has caught up."""
    with engine.connect() as connection:
        position = connection.execute(
            select(checkpoints.c.position).where(checkpoints.c.consumer == SourceActivity.name)
        ).scalar()
        head = connection.execute(select(func.max(events.c.id))).scalar()
    return int(position or 0), int(head or 0)


def counted_per_source(engine: Engine) -> dict[int, int]:
    """Events per source as the processing stage counted them (what `sources list` shows)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                source_daily_counts.c.source_id, func.sum(source_daily_counts.c.events)
            ).group_by(source_daily_counts.c.source_id)
        )
        return {int(source): int(total) for source, total in rows}


def stored_per_source(engine: Engine) -> dict[int, int]:
    """Events per source actually stored."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.source_id, func.count()).group_by(events.c.source_id)
        )
        return {int(source): int(total) for source, total in rows}


MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def message(kind: str, message_id: str, n: int = 0) -> dict[str, Any]:
    """A valid spec message of type `kind` with an explicit messageId, as SDKs send them."""
    user = f"user-{n % 7}"
    fields_by_type: dict[str, dict[str, Any]] = {
        "track": {"event": "Order Completed", "properties": {"revenue": 42.5, "currency": "EUR"}},
        "identify": {"traits": {"email": f"{user}@example.com"}},
        "page": {"name": "Home", "properties": {"path": "/"}},
        "screen": {"name": "Cart"},
        "group": {"groupId": "acme", "traits": {"plan": "enterprise"}},
        "alias": {"previousId": f"anon-{n}"},
    }
    return {"type": kind, "messageId": message_id, "userId": user} | fields_by_type[kind]


def mixed_batch(prefix: str, size: int) -> list[dict[str, Any]]:
    """`size` messages cycling through every type, with messageIds `{prefix}-{n}`."""
    return [message(MESSAGE_TYPES[n % 6], f"{prefix}-{n}", n) for n in range(size)]
