"""Writing the lake: appending events and people rows, compacting, erasing.

Every function takes the current manifest and returns the next one, after writing its new
files; the caller makes the change visible with `layout.write_manifest`. One writer at a
time: the lake consumer's checkpoint lock (`maintenance.lake_lock`) serialises them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnicx.analytics.layout import (
    EVENT_SCHEMA,
    PEOPLE_SCHEMA,
    EventFile,
    Manifest,
    drop_files,
)

COMPRESSION = "zstd"
COMPACT_AFTER_FILES = 8
"""A day with this many small files gets them merged into one."""
SMALL_FILE_ROWS = 1_000_000
"""Files with fewer rows take part in compaction; larger ones are left as they are."""
COMPACT_PEOPLE_AFTER = 16


def _write(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, temporary, compression=COMPRESSION)
    temporary.replace(target)


def append_events(lake_dir: Path, manifest: Manifest, table: pa.Table) -> Manifest:
    """Adds processed events (EVENT_SCHEMA rows with ids above `events_through`), one file
    per day they happened on."""
    if table.num_rows == 0:
        return manifest
    table = table.cast(EVENT_SCHEMA)
    days = pc.cast(pc.cast(table["ts"], pa.timestamp("us")), pa.date32())
    added: list[EventFile] = []
    for day in pc.unique(days).to_pylist():
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        manifest, tag = manifest.next_serial()
        ids = part["event_id"]
        first, last = pc.min(ids).as_py(), pc.max(ids).as_py()
        path = f"events/day={day.isoformat()}/e{first}-{last}-{tag}.parquet"
        _write(part, lake_dir / path)
        added.append(EventFile(path, day, part.num_rows, first, last))
    through = max(manifest.events_through, pc.max(table["event_id"]).as_py())
    return replace(
        manifest, event_files=manifest.event_files + tuple(added), events_through=through
    )


def append_people(lake_dir: Path, manifest: Manifest, owners: Mapping[int, str | None]) -> Manifest:
    """Records which profile each anchor identifier of `owners` belongs to now."""
    if not owners:
        return manifest
    seq = manifest.people_seq + 1
    table = pa.table(
        {
            "anchor": pa.array(list(owners.keys()), pa.int64()),
            "profile_id": pa.array(list(owners.values()), pa.string()),
            "seq": pa.array([seq] * len(owners), pa.int64()),
        },
        schema=PEOPLE_SCHEMA,
    )
    manifest, tag = manifest.next_serial()
    path = f"people/p{tag}.parquet"
    _write(table, lake_dir / path)
    return replace(manifest, people_files=(*manifest.people_files, path), people_seq=seq)


def replace_people(
    lake_dir: Path, manifest: Manifest, owners: Iterable[tuple[int, str | None]]
) -> Manifest:
    """Replaces every people file with `owners` (after an identity rebuild)."""
    anchors: list[int] = []
    profiles: list[str | None] = []
    for anchor, profile in owners:
        anchors.append(anchor)
        profiles.append(profile)
    old = list(manifest.people_files)
    manifest = drop_files(replace(manifest, people_files=()), old)
    return append_people(lake_dir, manifest, dict(zip(anchors, profiles, strict=True)))


def compact(
    lake_dir: Path, manifest: Manifest, *, days: Collection[date] | None = None
) -> Manifest:
    """Merges each day's small files into one once there are COMPACT_AFTER_FILES of them
    (every day's, whatever their number, when `days` names it), sorted by event name and
    time so a query on a few event names reads few row groups; and the people files into
    one once there are COMPACT_PEOPLE_AFTER."""
    by_day: dict[date, list[EventFile]] = defaultdict(list)
    for f in manifest.event_files:
        if f.rows < SMALL_FILE_ROWS:
            by_day[f.day].append(f)
    for day, files in sorted(by_day.items()):
        forced = days is not None and day in days
        if len(files) < (2 if forced else COMPACT_AFTER_FILES):
            continue
        manifest = _merge_day(lake_dir, manifest, day, files)
    if len(manifest.people_files) >= (2 if days is not None else COMPACT_PEOPLE_AFTER):
        manifest = _merge_people(lake_dir, manifest)
    return manifest


def _merge_day(lake_dir: Path, manifest: Manifest, day: date, files: list[EventFile]) -> Manifest:
    manifest, tag = manifest.next_serial()
    first = min(f.first_id for f in files)
    last = max(f.last_id for f in files)
    path = f"events/day={day.isoformat()}/e{first}-{last}-{tag}c.parquet"
    target = lake_dir / path
    temporary = target.with_name(f".{target.name}.tmp")
    sources = [str(lake_dir / f.path) for f in files]
    with duckdb.connect() as db:
        db.execute(
            f"COPY (SELECT * FROM read_parquet(?) ORDER BY type, event, ts) TO '{temporary}' "
            f"(FORMAT parquet, COMPRESSION {COMPRESSION})",
            [sources],
        )
    temporary.replace(target)
    merged = EventFile(path, day, sum(f.rows for f in files), first, last, compacted=True)
    gone = {f.path for f in files}
    kept = tuple(f for f in manifest.event_files if f.path not in gone)
    return drop_files(replace(manifest, event_files=(*kept, merged)), sorted(gone))


def _merge_people(lake_dir: Path, manifest: Manifest) -> Manifest:
    manifest, tag = manifest.next_serial()
    path = f"people/p{tag}c.parquet"
    target = lake_dir / path
    temporary = target.with_name(f".{target.name}.tmp")
    sources = [str(lake_dir / p) for p in manifest.people_files]
    with duckdb.connect() as db:
        db.execute(
            "COPY (SELECT anchor, arg_max_null(profile_id, seq) AS profile_id, max(seq) AS seq "
            f"FROM read_parquet(?) GROUP BY anchor ORDER BY anchor) TO '{temporary}' "
            f"(FORMAT parquet, COMPRESSION {COMPRESSION})",
            [sources],
        )
    temporary.replace(target)
    old = list(manifest.people_files)
    return drop_files(replace(manifest, people_files=(path,)), old)


def erase_anchors(lake_dir: Path, manifest: Manifest, anchors: Collection[int]) -> Manifest:
    """Removes every event attributed through `anchors` (a person's erasure): the files
    holding such events are rewritten without them and the old files deleted at once."""
    if not anchors or not manifest.event_files:
        return manifest
    wanted = sorted(set(anchors))
    with duckdb.connect() as db:
        db.execute("CREATE TEMP TABLE gone(anchor BIGINT)")
        db.executemany("INSERT INTO gone VALUES (?)", [(a,) for a in wanted])
        holding = {
            Path(str(row[0])).resolve()
            for row in db.execute(
                "SELECT DISTINCT filename FROM read_parquet(?, filename = true) "
                "WHERE anchor IN (SELECT anchor FROM gone)",
                [[str(lake_dir / f.path) for f in manifest.event_files]],
            ).fetchall()
        }
        files: list[EventFile] = []
        removed: list[Path] = []
        for f in manifest.event_files:
            source = (lake_dir / f.path).resolve()
            if source not in holding:
                files.append(f)
                continue
            manifest, tag = manifest.next_serial()
            path = f"events/day={f.day.isoformat()}/e{f.first_id}-{f.last_id}-{tag}c.parquet"
            target = lake_dir / path
            temporary = target.with_name(f".{target.name}.tmp")
            db.execute(
                f"COPY (SELECT * FROM read_parquet('{source}') WHERE anchor IS NULL OR anchor "
                f"NOT IN (SELECT anchor FROM gone)) TO '{temporary}' "
                f"(FORMAT parquet, COMPRESSION {COMPRESSION})"
            )
            temporary.replace(target)
            rows = int(db.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0])  # type: ignore[index]
            files.append(replace(f, path=path, rows=rows, compacted=True))
            removed.append(source)
    manifest = replace(manifest, event_files=tuple(files))
    for source in removed:
        source.unlink(missing_ok=True)  # erased data does not wait for the grace time
    return manifest
