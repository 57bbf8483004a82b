"""The lake's files and its manifest.

```
LAKE/
  _manifest.json                       the files that make up the lake now, and its positions
  events/day=2026-11-25/e<first>-<last>-<tag>.parquet   processed events, by day they happened
  people/p<tag>.parquet                anchor identifier -> profile (and its key), newest row wins
```

Readers take the file lists from the manifest, never from a directory listing, and the
manifest is replaced atomically: a reader sees the lake before or after a write or a
compaction, never half of one. Files a manifest no longer names are deleted a while later
(`GRACE_SECONDS`), so a query that started on the older manifest can finish.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

MANIFEST = "_manifest.json"
FORMAT_VERSION = 2
"""The layout this omnicx writes. 2: people files carry `person_key`."""
READABLE_FORMATS = (1, 2)
"""Layouts this omnicx reads. A format-1 lake's people files have no `person_key`: readers
compute one per connection, and the writer rewrites them with keys when it next writes
people (`writer.upgrade_people`)."""
GRACE_SECONDS = 300.0
"""How long a file dropped from the manifest stays on disk for queries still reading it."""

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.int64(), nullable=False),
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("anchor", pa.int64()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("event", pa.string()),
        pa.field("ts", pa.timestamp("us"), nullable=False),
        pa.field("received_at", pa.timestamp("us"), nullable=False),
        pa.field("active", pa.bool_(), nullable=False),
        pa.field("revenue", pa.float64()),
        pa.field("currency", pa.string()),
        pa.field("properties", pa.string()),
        pa.field("traits", pa.string()),
    ]
)
"""One processed event. `ts` and `received_at` are UTC. `anchor` is the identifier the event
is attributed through (its person: see PEOPLE_SCHEMA); `active` is false for what happened
to the customer rather than what they did (an e-mail delivered); `revenue` is an order's
value; `properties` and `traits` are the message's, as JSON text."""

PEOPLE_SCHEMA = pa.schema(
    [
        pa.field("anchor", pa.int64(), nullable=False),
        pa.field("profile_id", pa.string()),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("person_key", pa.int64()),
    ]
)
"""Which profile each anchor identifier belongs to; the row with the highest `seq` holds.
A null profile: the identifier belongs to nobody now (shared, erased). `person_key` is
`person_key(profile_id)` (null with the profile), stored so that no report hashes 36-character
ids again: reports partition, sort and group people by it."""


def person_key(profile_id: str) -> int:
    """A profile's 64-bit person key: the first 8 bytes of its BLAKE2b digest, as a signed
    integer. Stable across versions of Python and DuckDB (unlike DuckDB's `hash`), so files
    written years apart agree; two profiles sharing one is recorded in the manifest
    (`Manifest.person_keys_clash`)."""
    digest = hashlib.blake2b(profile_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass(frozen=True, slots=True)
class EventFile:
    """One Parquet file of events."""

    path: str
    """Relative to the lake directory."""
    day: date
    rows: int
    first_id: int
    last_id: int
    compacted: bool = False


@dataclass(frozen=True, slots=True)
class Manifest:
    """The lake as readers see it."""

    events_through: int = 0
    """Every event with a smaller or equal id is in the lake (or was erased)."""
    changes_through: int = 0
    """The last identity change the people files reflect."""
    people_seq: int = 0
    """The sequence number the newest people rows carry."""
    event_files: tuple[EventFile, ...] = ()
    people_files: tuple[str, ...] = ()
    garbage: tuple[tuple[str, float], ...] = ()
    """Files dropped from the lake, with when: deleted after GRACE_SECONDS."""
    serial: int = 0
    """Numbers the files written, so no two names collide."""
    generation: int = 0
    """Counts rebuilds: a rebuild writes its files beside the lake it replaces."""
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    """The layout of the people files (READABLE_FORMATS)."""
    person_keys_clash: bool = False
    """Two profiles of the people files share a `person_key` (about one lake in 10^7 with a
    million profiles): readers then number the profiles instead of using the stored keys."""

    def days(self) -> list[date]:
        """The days the lake holds events of, oldest first."""
        return sorted({f.day for f in self.event_files})

    def files_between(self, start: date | None, end: date | None) -> list[str]:
        """The event files of the days from `start` to `end` (inclusive; None: unbounded)."""
        return [
            f.path
            for f in self.event_files
            if (start is None or f.day >= start) and (end is None or f.day <= end)
        ]

    def rows(self) -> int:
        """Events in the lake."""
        return sum(f.rows for f in self.event_files)

    def next_serial(self) -> tuple[Manifest, str]:
        """This manifest with its serial advanced, and the tag that makes a new file's name
        unique (generation and serial)."""
        return replace(self, serial=self.serial + 1), f"{self.generation}.{self.serial + 1}"

    def files(self) -> list[str]:
        """Every file the manifest names."""
        return [f.path for f in self.event_files] + list(self.people_files)


def read_manifest(lake_dir: Path) -> Manifest:
    """The current manifest (an empty lake when there is none yet)."""
    try:
        raw = (lake_dir / MANIFEST).read_bytes()
    except FileNotFoundError:
        return Manifest()
    data = orjson.loads(raw)
    if data.get("format") not in READABLE_FORMATS:
        raise ValueError(
            f"{lake_dir / MANIFEST} has format {data.get('format')!r}, this omnicx reads "
            f"formats {', '.join(map(str, READABLE_FORMATS))}: rebuild the lake with "
            "`omnicx lake rebuild`"
        )
    return Manifest(
        events_through=int(data["events_through"]),
        changes_through=int(data["changes_through"]),
        people_seq=int(data["people_seq"]),
        event_files=tuple(
            EventFile(
                f["path"],
                date.fromisoformat(f["day"]),
                int(f["rows"]),
                int(f["first_id"]),
                int(f["last_id"]),
                bool(f.get("compacted", False)),
            )
            for f in data["event_files"]
        ),
        people_files=tuple(data["people_files"]),
        garbage=tuple((g[0], float(g[1])) for g in data.get("garbage", [])),
        serial=int(data.get("serial", 0)),
        generation=int(data.get("generation", 0)),
        extra=dict(data.get("extra", {})),
        format=int(data["format"]),
        person_keys_clash=bool(data.get("person_keys_clash", False)),
    )


def write_manifest(lake_dir: Path, manifest: Manifest) -> None:
    """Replaces the manifest atomically and durably (write, fsync, rename, fsync the dir)."""
    lake_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "format": manifest.format,
        "person_keys_clash": manifest.person_keys_clash,
        "events_through": manifest.events_through,
        "changes_through": manifest.changes_through,
        "people_seq": manifest.people_seq,
        "serial": manifest.serial,
        "generation": manifest.generation,
        "event_files": [
            {
                "path": f.path,
                "day": f.day.isoformat(),
                "rows": f.rows,
                "first_id": f.first_id,
                "last_id": f.last_id,
                "compacted": f.compacted,
            }
            for f in manifest.event_files
        ],
        "people_files": list(manifest.people_files),
        "garbage": [list(g) for g in manifest.garbage],
        "extra": manifest.extra,
    }
    temporary = lake_dir / f"{MANIFEST}.tmp"
    with open(temporary, "wb") as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, lake_dir / MANIFEST)
    sync_directory(lake_dir)


def sync_directory(directory: Path) -> None:
    """Makes a rename or a new file in `directory` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def drop_files(manifest: Manifest, paths: list[str]) -> Manifest:
    """The manifest with `paths` moved to the garbage list (deleted after the grace time)."""
    now = time.time()
    return replace(manifest, garbage=manifest.garbage + tuple((p, now) for p in paths))


def collect_garbage(lake_dir: Path, manifest: Manifest, *, now: float | None = None) -> Manifest:
    """Deletes dropped files older than the grace time; returns the manifest without them."""
    now = time.time() if now is None else now
    kept: list[tuple[str, float]] = []
    for path, since in manifest.garbage:
        if now - since >= GRACE_SECONDS:
            (lake_dir / path).unlink(missing_ok=True)
        else:
            kept.append((path, since))
    return replace(manifest, garbage=tuple(kept))
