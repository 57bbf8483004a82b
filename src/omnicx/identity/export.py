"""Bulk exports of the identity graph, for batch jobs over every profile (audiences' recompute).

`identifier_types` streams which identifier types each current profile holds;
`attributed_events` is a subquery of every attributed event with its profile, for another
domain to join its own per-event rows to (as `service.event_ids_of_profiles` does for a few
profiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pyarrow as pa
from sqlalchemy import Connection, Select, select

from omnicx.identity.tables import identifiers, identity_observations
from omnicx.store.export import arrow_batches

IDENTIFIER_TYPES: Final = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
    ]
)


def identifier_types(connection: Connection) -> Iterator[pa.RecordBatch]:
    """One row per (profile, identifier type it holds at least one value of), for every
    current profile (`service.profile_ids`: a profile is the holder of an identifier)."""
    statement = (
        select(identifiers.c.profile_id, identifiers.c.type)
        .where(identifiers.c.profile_id.is_not(None))
        .group_by(identifiers.c.profile_id, identifiers.c.type)
    )
    return arrow_batches(connection, statement, IDENTIFIER_TYPES)


def attributed_events() -> Select[Any]:
    """A subquery of (event_id, profile_id) for every event attributed to a profile (through
    its anchor identifier), events of nobody left out."""
    return (
        select(identity_observations.c.event_id, identifiers.c.profile_id)
        .join(identifiers, identifiers.c.id == identity_observations.c.identifier_id)
        .where(identity_observations.c.anchor.is_(True))
        .where(identifiers.c.profile_id.is_not(None))
    )
