"""Building small lakes for tests straight from plain rows, through the real lake writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from omnicx.analytics import writer
from omnicx.analytics.lake import LakeSnapshot, open_lake
from omnicx.analytics.layout import EVENT_SCHEMA, read_manifest, write_manifest


@dataclass(frozen=True)
class Row:
    """One event as a test writes it. `person` names the profile; `anchor` (default: one per
    person) lets a test attribute events through several identifiers, to merge them later."""

    person: str
    event: str | None
    ts: datetime
    channel: str = "web"
    type: str = "track"
    source: str | None = None
    properties: Mapping[str, Any] | None = None
    traits: Mapping[str, Any] | None = None
    revenue: float | None = None
    currency: str | None = None
    active: bool = True
    anchor: int | None = None


def build_lake(path: Path, rows: Sequence[Row], *, batches: int = 1) -> LakeSnapshot:
    """Writes `rows` (in the given order, ids 1..n) as a lake at `path`, in `batches` appends,
    and returns a snapshot. Events of one person share an anchor unless `anchor` is given."""
    anchors: dict[str, int] = {}
    owners: dict[int, str] = {}
    columns: dict[str, list[Any]] = {f.name: [] for f in EVENT_SCHEMA}
    manifest = read_manifest(path)
    first_id = manifest.events_through + 1
    for offset, row in enumerate(rows):
        anchor = (
            row.anchor
            if row.anchor is not None
            else anchors.setdefault(row.person, 10_000 + len(anchors))
        )
        owners[anchor] = row.person
        columns["event_id"].append(first_id + offset)
        columns["message_id"].append(f"m{first_id + offset}")
        columns["anchor"].append(anchor)
        columns["source"].append(row.source or row.channel)
        columns["channel"].append(row.channel)
        columns["type"].append(row.type)
        columns["event"].append(row.event)
        columns["ts"].append(row.ts.replace(tzinfo=None))
        columns["received_at"].append(row.ts.replace(tzinfo=None))
        columns["active"].append(row.active)
        columns["revenue"].append(row.revenue)
        columns["currency"].append(row.currency)
        columns["properties"].append(
            orjson.dumps(dict(row.properties)).decode() if row.properties else None
        )
        columns["traits"].append(orjson.dumps(dict(row.traits)).decode() if row.traits else None)
    table = pa.table(columns, schema=EVENT_SCHEMA)
    size = max(1, -(-table.num_rows // batches))
    for start in range(0, table.num_rows, size):
        manifest = writer.append_events(path, manifest, table.slice(start, size))
    manifest = writer.append_people(path, manifest, owners)
    write_manifest(path, manifest)
    return open_lake(path)


def reattribute(path: Path, owners: Mapping[int, str | None]) -> LakeSnapshot:
    """Moves anchors to other profiles (what a merge or an unmerge does to the lake)."""
    manifest = writer.append_people(path, read_manifest(path), owners)
    write_manifest(path, manifest)
    return open_lake(path)
