"""The lake writer: the processing stage's consumer that keeps the event lake up to date.

Each run it (1) brings the people files up to date with the identity changes logged since
the last run, (2) appends the new events with their anchor identifiers, (3) compacts days
with many small files, then replaces the manifest. The manifest's `events_through` makes a
repeated batch (a crash between the manifest and the checkpoint's commit) write nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Connection

from omnicx.analytics import writer
from omnicx.analytics.lake import LakeSnapshot, define_people
from omnicx.analytics.layout import (
    EVENT_SCHEMA,
    Manifest,
    collect_garbage,
    drop_files,
    read_manifest,
    write_manifest,
)
from omnicx.analytics.location import resolve_lake_dir
from omnicx.analytics.scratch import scratch
from omnicx.collect.emit import SYSTEM_CHANNEL
from omnicx.collect.history import SourceNames
from omnicx.collect.processing import StoredEvent
from omnicx.identity import service as identity
from omnicx.identity.consumer import CONSUMER_NAME as IDENTITY_CONSUMER
from omnicx.profiles.facts import ORDER_EVENT, PASSIVE_EVENTS, number

log = logging.getLogger("omnicx.analytics.lake")

CONSUMER_NAME = "analytics.lake"


class LakeWriter:
    """Stream consumer: appends processed events to the lake (after identity resolution)."""

    name = CONSUMER_NAME
    upstream = IDENTITY_CONSUMER
    needs_payload = True
    batch_size = 20_000
    """Larger batches than the other consumers': fewer, larger Parquet files."""
    min_interval = 2.0
    """Seconds between two runs while events trickle in (analytics is not per-event)."""

    def __init__(self, lake_dir: Path | None = None) -> None:
        self._lake_dir = lake_dir
        self._sources = SourceNames()

    def lake_dir(self, connection: Connection) -> Path:
        """The lake this consumer writes: the one given, or the database's (location.py)."""
        if self._lake_dir is None:
            url = connection.engine.url.render_as_string(hide_password=False)
            self._lake_dir = resolve_lake_dir(url)
        return self._lake_dir

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        """Writes the batch's events not in the lake yet, and the identity changes since."""
        lake_dir = self.lake_dir(connection)
        manifest = read_manifest(lake_dir)
        manifest = follow_identity(connection, lake_dir, manifest)
        fresh = [e for e in batch if e.id > manifest.events_through]
        if fresh:
            anchors = identity.anchors_of_events(connection, [e.id for e in fresh])
            sources = self._sources.of(connection, {e.source_id for e in fresh})
            table = event_table(fresh, anchors, sources)
            manifest = writer.append_events(lake_dir, manifest, table)
            manifest = writer.append_people(lake_dir, manifest, dict(anchors.values()))
        manifest = writer.compact(lake_dir, manifest)
        manifest = collect_garbage(lake_dir, manifest)
        write_manifest(lake_dir, manifest)

    def idle(self, connection: Connection) -> None:
        """With no new events, still follows identity changes (an unmerge through the API)."""
        lake_dir = self.lake_dir(connection)
        manifest = read_manifest(lake_dir)
        followed = follow_identity(connection, lake_dir, manifest)
        if followed != manifest:
            write_manifest(lake_dir, collect_garbage(lake_dir, followed))


def follow_identity(connection: Connection, lake_dir: Path, manifest: Manifest) -> Manifest:
    """Brings the people files up to date with the identity changes after the manifest's
    `changes_through`: re-attributes the anchors of every profile they name, removes an erased
    person's events, and starts the lake again after an identity rebuild."""
    last = manifest.changes_through
    named: set[str] = set()
    erased: set[str] = set()
    rebuilt = False
    while page := identity.changes_since(connection, last, limit=1000):
        for change in page:
            rebuilt = rebuilt or change.kind == "rebuild"
            if change.kind == "erased" and change.profile_id:
                erased.add(change.profile_id)
            named.update(p for p in (change.profile_id, change.other_profile_id) if p)
        last = page[-1].id
    if last == manifest.changes_through:
        return manifest
    if rebuilt:
        # Identity rebuilt from the raw events picks anchors again, and sets this consumer
        # back to the start of the stream: the lake starts again too, as the profiles do.
        log.info("identity was rebuilt: the lake starts again from the first event")
        return drop_files(
            Manifest(
                generation=manifest.generation + 1,
                changes_through=last,
                garbage=manifest.garbage,
                extra=manifest.extra,
            ),
            manifest.files(),
        )
    if erased:
        gone = lake_anchors_of(lake_dir, manifest, erased)
        manifest = writer.erase_anchors(lake_dir, manifest, gone)
    if named:
        anchors = lake_anchors_of(lake_dir, manifest, named)
        anchors |= identity.identifier_ids_of_profiles(connection, named)
        manifest = writer.append_people(
            lake_dir, manifest, identity.owners_of_identifiers(connection, anchors)
        )
    return replace(manifest, changes_through=last)


def lake_anchors_of(lake_dir: Path, manifest: Manifest, profiles: Collection[str]) -> set[int]:
    """The anchors the lake attributes to these profiles now."""
    if not manifest.people_files or not profiles:
        return set()
    with scratch() as db:
        define_people(db, LakeSnapshot(lake_dir, manifest))
        db.register("wanted", pa.table({"profile_id": pa.array(sorted(profiles), pa.string())}))
        rows = db.execute(
            "SELECT anchor FROM people WHERE profile_id IN (SELECT profile_id FROM wanted)"
        ).fetchall()
    return {int(r[0]) for r in rows}


def event_table(
    batch: Sequence[StoredEvent],
    anchors: dict[int, tuple[int, str | None]],
    sources: Mapping[int, str],
) -> pa.Table:
    """The lake rows (EVENT_SCHEMA) of stored events.

    One event at a time, so that each decoded message is freed before the next (holding a
    batch of them makes the garbage collector walk them all, again and again); times go to
    Arrow as they are, aware, and Arrow turns them into UTC (converting each in Python cost
    a sixth of the lake consumer's time)."""
    names: list[str | None] = []
    revenues: list[float | None] = []
    currencies: list[str | None] = []
    properties_text: list[str | None] = []
    traits_text: list[str | None] = []
    for item in batch:
        message = item.message
        properties = _mapping(message.get("properties"))
        traits = _mapping(message.get("traits"))
        if traits is None:
            traits = _context_traits(message)
        name = item.event if item.type == "track" else _text(message.get("name"))
        revenue, currency = _revenue(name, properties)
        names.append(name)
        revenues.append(revenue)
        currencies.append(currency)
        properties_text.append(orjson.dumps(properties).decode() if properties else None)
        traits_text.append(orjson.dumps(traits).decode() if traits else None)
    attributed = [anchors.get(item.id) for item in batch]
    columns: dict[str, Any] = {
        "event_id": [item.id for item in batch],
        "message_id": [item.message_id for item in batch],
        "anchor": [anchor[0] if anchor else None for anchor in attributed],
        "source": [sources.get(item.source_id, str(item.source_id)) for item in batch],
        "channel": [item.channel for item in batch],
        "type": [item.type for item in batch],
        "event": names,
        "ts": _utc([item.timestamp for item in batch]),
        "received_at": _utc([item.received_at for item in batch]),
        "active": [
            item.channel != SYSTEM_CHANNEL and not (item.type == "track" and n in PASSIVE_EVENTS)
            for item, n in zip(batch, names, strict=True)
        ],
        "revenue": revenues,
        "currency": currencies,
        "properties": properties_text,
        "traits": traits_text,
    }
    return pa.table(columns, schema=EVENT_SCHEMA)


def _mapping(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _context_traits(message: Mapping[str, Any]) -> dict[str, Any] | None:
    context = message.get("context")
    return _mapping(context.get("traits")) if isinstance(context, dict) else None


def _utc(moments: list[datetime]) -> pa.Array:
    """Naive UTC times (EVENT_SCHEMA) from aware ones (naive ones are UTC already)."""
    return pa.array(moments, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))


def _revenue(name: object, properties: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """An event's revenue: its `revenue` property, or an order's `total` (Segment's spec)."""
    if not properties:
        return None, None
    value = number(properties.get("revenue"))
    if value is None and name == ORDER_EVENT:
        value = number(properties.get("total"))
    if value is None:
        return None, None
    currency = properties.get("currency")
    return value, currency.upper()[:3] if isinstance(currency, str) and currency else None
