"""Stored events with given names, with their messages: what a later domain needs to evaluate
conditions on events from the raw events (audiences' preview of an unsaved segment).

Like `history`, the caller passes the event ids it owns as a subquery; it never reads the
events table itself.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import Connection, Select

from omnicx.collect.history import EventSummary, _keyed, _summary
from omnicx.collect.tables import events


def named_messages_of(
    connection: Connection,
    keyed: Select[Any],
    names: Collection[str],
    *,
    until: int | None = None,
) -> list[tuple[EventSummary, dict[str, Any]]]:
    """Events among `keyed` (a subquery of event id and a key, as for
    `history.summaries_of`) whose name (`event` column, of any message type) is one of
    `names`, with their decoded messages, in id order; none when `names` is empty."""
    if not names:
        return []
    statement = _keyed(keyed, until, (events.c.payload,)).where(
        events.c.event.in_(sorted(set(names)))
    )
    return [
        (_summary(row), orjson.loads(row.payload))
        for row in connection.execute(statement.order_by(events.c.id))
    ]
