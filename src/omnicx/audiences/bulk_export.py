"""Every profile's facts as the two Arrow tables batch_sql evaluates, straight from storage.

`export_facts` asks each domain for its bulk export (identity: the identifier types of every
profile and which events are whose; profiles: traits, computed traits, consents) and adds the
audiences' own (the hits of the events, the stored memberships), then builds `people` and
`hits` (batch_sql's PEOPLE_SCHEMA and HITS_SCHEMA) in DuckDB. They hold what `load_facts` would
give `facts_to_arrow` for every profile: the tests compare both on varied data.

Everything streams from the database in large chunks through the drivers' own cursors
(store.export); DuckDB does the joins and the per-profile lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, String, cast, func, select

from omnicx.audiences.batch_sql_arrow import TIMESTAMP
from omnicx.audiences.definition import COMPUTED_TRAITS
from omnicx.audiences.tables import audience_hits, audience_members
from omnicx.identity import export as identity_export
from omnicx.profiles import export as profiles_export
from omnicx.profiles.consent import CONSENT_CHANNELS
from omnicx.store.export import arrow_batches, arrow_table

MEMBERS: Final = pa.schema(  # Facts.members
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("segment_id", pa.int64(), nullable=False),
    ]
)
_GROUPED_MEMBERS: Final = pa.schema(  # Facts.members
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("segment_ids", pa.string(), nullable=False),
    ]
)
HITS: Final = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class Facts:
    """Every profile's facts (batch_sql's tables) and the stored members of every segment."""

    people: pa.Table
    hits: pa.Table
    members: pa.Table
    """MEMBERS: every stored membership of a current profile."""


def hits(connection: Connection) -> Iterator[pa.RecordBatch]:
    """Every hit of an event attributed to a profile: (person_id, key, ts)."""
    owned = identity_export.attributed_events().subquery()
    statement = select(owned.c.profile_id, audience_hits.c.condition_key, audience_hits.c.ts).join(
        owned, owned.c.event_id == audience_hits.c.event_id
    )
    return arrow_batches(connection, statement, HITS)


def members(connection: Connection) -> pa.Table:
    """Every stored membership, one row per profile: `segment_ids`, its segments' ids joined
    by commas (a fraction of the rows to carry out of the database; DuckDB splits them)."""
    m = audience_members.c
    statement = select(
        m.profile_id, func.aggregate_strings(cast(m.segment_id, String), ",")
    ).group_by(m.profile_id)
    return arrow_table(connection, statement, _GROUPED_MEMBERS)


def _table(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(batches), schema)


def database() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one batch evaluation (two threads: the machines we aim at)."""
    db = duckdb.connect()
    db.execute("SET threads = 2")
    db.execute("SET TimeZone = 'UTC'")
    return db


def export_facts(
    connection: Connection,
    db: duckdb.DuckDBPyConnection,
    *,
    held: Mapping[int, str],
) -> Facts:
    """The facts of every current profile; `memberships` holds the keys of the stored
    segments of `held` (segment id -> key: those not evaluated in this run)."""
    tables = {
        "x_types": _table(
            identity_export.identifier_types(connection), identity_export.IDENTIFIER_TYPES
        ),
        "x_traits": _table(profiles_export.traits(connection), profiles_export.TRAITS),
        "x_computed": _table(profiles_export.computed_traits(connection), profiles_export.COMPUTED),
        "x_consents": _table(profiles_export.consents(connection), profiles_export.CONSENTS),
        "x_grouped": members(connection),
        "x_held": pa.table(
            {"id": pa.array(list(held), pa.int64()), "key": pa.array(list(held.values()))}
        ),
        "x_channels": pa.table({"channel": pa.array(CONSENT_CHANNELS, pa.string())}),
    }
    found_hits = _table(hits(connection), HITS)
    for name, table in tables.items():
        db.register(name, table)
    try:
        db.execute(
            "CREATE TEMP TABLE x_members AS SELECT profile_id, "
            "CAST(unnest(string_split(segment_ids, ',')) AS BIGINT) AS segment_id FROM x_grouped"
        )
        people = db.sql(_PEOPLE).to_arrow_table()
        stored = db.sql(
            "SELECT m.profile_id, m.segment_id FROM x_members m "
            "SEMI JOIN (SELECT DISTINCT profile_id FROM x_types) p USING (profile_id)"
        ).to_arrow_table()
        db.execute("DROP TABLE x_members")
    finally:
        for name in tables:
            db.unregister(name)
    return Facts(people, found_hits, stored.cast(MEMBERS))


def _computed_columns() -> str:
    empty = profiles_export.EMPTY_COMPUTED
    columns = []
    for name, kind in COMPUTED_TRAITS.items():
        quoted = '"' + name + '"'
        if kind == "object":  # an open cart: present, reads as nothing else (facts_to_arrow)
            columns.append(f"CASE WHEN c.{quoted} THEN '@opaque' END AS {quoted}")
        elif name in empty:
            default = "[]::VARCHAR[]" if kind == "set" else repr(float(empty[name]))
            columns.append(f"coalesce(c.{quoted}, {default}) AS {quoted}")
        else:
            columns.append(f"c.{quoted}")
    return ",\n    ".join(columns)


# A consent in force per channel: the later of the channel's own and the `all` one (at the
# same instant, the channel's own), as facts.consents_in_force decides.
_PEOPLE: Final = f"""
WITH ids AS (
  SELECT profile_id, list(type ORDER BY type) AS identities FROM x_types GROUP BY profile_id
),
traits AS (
  SELECT profile_id, map_from_entries(list(struct_pack(k := name, v := value))) AS traits
  FROM x_traits GROUP BY profile_id
),
purposes AS (SELECT DISTINCT profile_id, purpose FROM x_consents),
consents AS (
  SELECT p.profile_id, list(ch.channel || '/' || p.purpose ORDER BY ch.channel, p.purpose)
    AS consents
  FROM purposes p
  CROSS JOIN x_channels ch
  LEFT JOIN x_consents own
    ON own.profile_id = p.profile_id AND own.purpose = p.purpose AND own.channel = ch.channel
  LEFT JOIN x_consents everywhere
    ON everywhere.profile_id = p.profile_id AND everywhere.purpose = p.purpose
    AND everywhere.channel = 'all'
  WHERE CASE
    WHEN own.profile_id IS NULL AND everywhere.profile_id IS NULL THEN false
    WHEN own.profile_id IS NULL OR (everywhere.profile_id IS NOT NULL
      AND everywhere.occurred_at > own.occurred_at) THEN everywhere.granted
    ELSE own.granted END
  GROUP BY p.profile_id
),
held AS (
  SELECT m.profile_id, list(h.key ORDER BY h.key) AS memberships
  FROM x_members m JOIN x_held h ON h.id = m.segment_id GROUP BY m.profile_id
)
SELECT
    ids.profile_id AS person_id,
    coalesce(t.traits, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS traits,
    {_computed_columns()},
    ids.identities,
    coalesce(s.consents, []::VARCHAR[]) AS consents,
    coalesce(h.memberships, []::VARCHAR[]) AS memberships
FROM ids
LEFT JOIN x_computed c ON c.profile_id = ids.profile_id
LEFT JOIN traits t ON t.profile_id = ids.profile_id
LEFT JOIN consents s ON s.profile_id = ids.profile_id
LEFT JOIN held h ON h.profile_id = ids.profile_id
"""
