"""Events omnicx itself adds to the stream (a profile entered a segment, a lead changed stage).

They go through the same checks and the same `append` as collected events, so every consumer
sees them in order: identity attributes them by the one identifier they carry (so they can
never merge anything), the timeline shows them, the lake keeps them and automations can react
to them. They come from the built-in source `omnicx`, whose channel is `system`: no one can
send as it (it has no usable write key), and the profile builder does not count its events as
the person's activity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, select

from omnicx.collect.messages import normalise
from omnicx.collect.sources import SYSTEM_CHANNEL, SYSTEM_SOURCE
from omnicx.collect.stream import StampedRow, append
from omnicx.collect.tables import sources
from omnicx.store.clock import utc_now

__all__ = ["SYSTEM_CHANNEL", "SYSTEM_SOURCE", "emit", "system_source_id", "with_identifier"]

IDENTIFIER_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "user_id": ("userId",),
    "anonymous_id": ("anonymousId",),
    "email": ("context", "traits", "email"),
    "phone": ("context", "traits", "phone"),
    "loyalty_card": ("context", "traits", "loyaltyCard"),
    "device_id": ("context", "device", "id"),
}
"""Where an emitted message carries an identifier of each built-in type, so that identity
resolution reads it with its default rules (identity.config.DEFAULT_FIELDS)."""


def system_source_id(connection: Connection) -> int:
    """The built-in source's id, created disabled on first use."""
    found = connection.execute(select(sources.c.id).where(sources.c.name == SYSTEM_SOURCE)).scalar()
    if found is not None:
        return int(found)
    inserted = connection.execute(
        sources.insert().values(
            name=SYSTEM_SOURCE, channel=SYSTEM_CHANNEL, enabled=False, created_at=utc_now()
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def with_identifier(message: dict[str, Any], type_name: str, value: str) -> dict[str, Any]:
    """The message carrying one identifier where identity resolution reads it; ValueError for
    a type that has no such place."""
    path = IDENTIFIER_FIELDS.get(type_name)
    if path is None:
        raise ValueError(f"an emitted event cannot carry an identifier of type {type_name!r}")
    node = message
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return message


def emit(connection: Connection, messages: Sequence[Mapping[str, Any]]) -> int:
    """Appends the messages to the stream from the built-in source, in the caller's
    transaction; each needs a `messageId` unique for what it records (a repeat is skipped).
    Returns how many were new. A message the intake would refuse raises IntakeError."""
    if not messages:
        return 0
    source_id = system_source_id(connection)
    received_at = utc_now()
    rows = []
    for index, message in enumerate(messages):
        fields = normalise(
            dict(message), path=f"[{index}]", received_at=received_at, identified_elsewhere=True
        )
        message_id, kind, name, user_id, anonymous_id, timestamp, payload = fields
        rows.append(
            StampedRow(
                source_id,
                SYSTEM_CHANNEL,
                message_id,
                kind,
                name,
                user_id,
                anonymous_id,
                timestamp,
                received_at,
                payload,
            )
        )
    return append(connection, rows)
