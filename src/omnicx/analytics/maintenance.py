"""Looking after the lake: its status, a rebuild from the raw events, a full compaction.

A rebuild writes a new generation of files beside the lake while the lake stays readable
and the processing stage keeps appending to it; only the swap (one manifest replacement and
the lake consumer's checkpoint set to where the rebuild stopped) holds the consumer's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine, update

from omnicx.analytics import writer
from omnicx.analytics.consumer import CONSUMER_NAME, event_table
from omnicx.analytics.currency import ReportingCurrency
from omnicx.analytics.layout import (
    Manifest,
    collect_garbage,
    drop_files,
    read_manifest,
    write_manifest,
)
from omnicx.analytics.scratch import scratch
from omnicx.collect import history
from omnicx.collect.processing import checkpoint, lock_consumer, read_events
from omnicx.collect.tables import checkpoints
from omnicx.identity import service as identity
from omnicx.identity.consumer import CONSUMER_NAME as IDENTITY_CONSUMER
from omnicx.store.clock import utc_now

REBUILD_BATCH = 50_000

Progress = Callable[[int, int], None]
"""Told (events done, events to do) as a rebuild goes."""


@dataclass(frozen=True, slots=True)
class LakeStatus:
    """What `omnicx lake status` shows."""

    path: Path
    events: int
    event_files: int
    people_files: int
    days: int
    first_day: date | None
    last_day: date | None
    bytes_on_disk: int
    events_through: int
    processed_through: int
    """The newest event identity resolution has processed: the lake can reach it."""
    generation: int

    @property
    def lag(self) -> int:
        """Events processed by identity resolution that the lake does not hold yet."""
        return max(0, self.processed_through - self.events_through)


@contextmanager
def lake_lock(engine: Engine) -> Iterator[Connection]:
    """Holds the lake consumer's checkpoint: no batch writes the lake meanwhile."""
    with engine.begin() as connection:
        lock_consumer(connection, CONSUMER_NAME)
        yield connection


def status(engine: Engine, lake_dir: Path) -> LakeStatus:
    """The lake's size, span and how far behind processing it is."""
    manifest = read_manifest(lake_dir)
    with engine.connect() as connection:
        processed = checkpoint(connection, IDENTITY_CONSUMER)
    days = manifest.days()
    size = sum((lake_dir / p).stat().st_size for p in manifest.files() if (lake_dir / p).exists())
    return LakeStatus(
        lake_dir,
        manifest.rows(),
        len(manifest.event_files),
        len(manifest.people_files),
        len(days),
        days[0] if days else None,
        days[-1] if days else None,
        size,
        manifest.events_through,
        processed,
        manifest.generation,
    )


def compact_all(engine: Engine, lake_dir: Path) -> Manifest:
    """Merges every day's small files into one and the people files into one."""
    with lake_lock(engine):
        manifest = read_manifest(lake_dir)
        manifest = writer.compact(lake_dir, manifest, days=set(manifest.days()))
        manifest = collect_garbage(lake_dir, manifest)
        write_manifest(lake_dir, manifest)
        return manifest


def rebuild(engine: Engine, lake_dir: Path, *, progress: Progress | None = None) -> Manifest:
    """Writes the lake again from the stored events, up to what identity resolution has
    processed, and swaps it in; the processing stage then carries on from there."""
    current = read_manifest(lake_dir)
    staged = Manifest(generation=current.generation + 1)
    with engine.connect() as connection:
        until = checkpoint(connection, IDENTITY_CONSUMER)
        changes = identity.latest_change_id(connection)
        total = history.count_events_between(connection, 0, until)
        sources = history.source_names(connection)
        done = 0
        after = 0
        while batch := read_events(connection, after=after, limit=REBUILD_BATCH, until=until):
            anchors = identity.anchors_of_events(connection, [e.id for e in batch])
            staged = writer.append_events(lake_dir, staged, event_table(batch, anchors, sources))
            after = batch[-1].id
            done += len(batch)
            if progress:
                progress(done, total)
        staged = writer.replace_people(lake_dir, staged, identity.all_owners(connection))
    staged = writer.compact(lake_dir, staged, days=set(staged.days()))
    staged = replace(
        staged, events_through=until, changes_through=changes, garbage=(), extra=current.extra
    )
    with lake_lock(engine) as connection:
        now = read_manifest(lake_dir)
        staged = drop_files(replace(staged, garbage=now.garbage, extra=now.extra), now.files())
        write_manifest(lake_dir, staged)
        connection.execute(
            update(checkpoints)
            .where(checkpoints.c.consumer == CONSUMER_NAME)
            .values(position=until, updated_at=utc_now())
        )
    return staged


def set_currency(engine: Engine, lake_dir: Path, currency: ReportingCurrency | None) -> None:
    """Sets (or with None, removes) the currency reports give revenue in."""
    with lake_lock(engine):
        manifest = read_manifest(lake_dir)
        extra = {k: v for k, v in manifest.extra.items() if k != "currency"}
        if currency is not None:
            extra["currency"] = currency.to_document()
        write_manifest(lake_dir, replace(manifest, extra=extra))


def revenue_currencies(lake_dir: Path) -> dict[str, int]:
    """How many events with revenue the lake holds per currency as sent ('' for none)."""
    manifest = read_manifest(lake_dir)
    if not manifest.event_files:
        return {}
    files = [str(lake_dir / f.path) for f in manifest.event_files]
    with scratch() as db:
        rows = db.execute(
            "SELECT coalesce(currency, ''), count(*) FROM read_parquet(?) "
            "WHERE revenue IS NOT NULL GROUP BY 1 ORDER BY 2 DESC",
            [files],
        ).fetchall()
    return {str(code): int(count) for code, count in rows}
