"""What the lake holds, by name: the event names and channels it has events of, with how
many, for pickers (a funnel's steps, a path's start) and for checking a name before a
report runs.

Event files never change once written (a compaction or a rebuild writes new ones), so each
file is counted once per process and remembered by its path: a live lake appending a small
file every few seconds costs the count of that file only. Counting a whole lake the first
time takes a while (about a second per 10 million events); a caller that must not wait
gives `wait_rows` and gets the names counted so far while the rest are counted in the
background.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scratch import scratch

CACHED_FILES = 50_000
"""Event files whose counts are remembered (the least recently used are forgotten first)."""

_FileCounts = tuple[tuple[str | None, str, int], ...]
"""(event name, channel, events) rows of one file."""

_cache: OrderedDict[tuple[str, int], _FileCounts] = OrderedDict()
_counting: set[tuple[str, int]] = set()
"""Files being counted in the background."""
_lock = threading.Lock()
log = logging.getLogger("omnicx.analytics")


@dataclass(frozen=True, slots=True)
class NameCount:
    """A name (an event's or a channel's) and how many events of the lake carry it."""

    name: str
    events: int


@dataclass(frozen=True, slots=True)
class LakeCatalog:
    """The event names and the channels of the lake's events, most events first (ties by
    name). An event name is a track event's name or a page's or screen's name."""

    events: tuple[NameCount, ...]
    channels: tuple[NameCount, ...]
    complete: bool = True
    """False while some of the lake's files are still being counted (in the background)."""

    def has_event(self, name: str) -> bool:
        """Tells whether some event of the lake has this name."""
        return any(item.name == name for item in self.events)

    def has_channel(self, name: str) -> bool:
        """Tells whether some event of the lake came through this channel."""
        return any(item.name == name for item in self.channels)

    @property
    def event_names(self) -> list[str]:
        """The event names, most events first."""
        return [item.name for item in self.events]


def lake_catalog(lake: LakeSnapshot, *, wait_rows: int | None = None) -> LakeCatalog:
    """The event names and channels of every event file of the lake, with their counts.

    Files not counted yet are counted now; with `wait_rows`, only when they hold that many
    events or fewer together: larger ones (a lake the process has not read yet, or just
    rebuilt) are counted in the background, and the catalog answered is of the files
    counted so far (`complete` False), so that a page need not wait."""
    files = [(str(lake.path / f.path), f.rows) for f in lake.manifest.event_files]
    with _lock:
        missing = [key for key in files if key not in _cache]
    counted: dict[tuple[str, int], _FileCounts] = {}
    if missing and (wait_rows is None or sum(rows for _, rows in missing) <= wait_rows):
        counted = _count(missing)
        _remember(counted)
    elif missing:
        _count_in_background(missing)
    complete = True
    events: dict[str, int] = {}
    channels: dict[str, int] = {}
    with _lock:
        for key in files:
            rows = counted.get(key)
            if rows is None:
                rows = _cache.get(key)
            if rows is None:  # counted in the background, or forgotten meanwhile
                complete = False
                continue
            if key in _cache:
                _cache.move_to_end(key)
            for event, channel, count in rows:
                if event is not None:
                    events[event] = events.get(event, 0) + count
                channels[channel] = channels.get(channel, 0) + count
    return LakeCatalog(_ranked(events.items()), _ranked(channels.items()), complete)


def _remember(counted: dict[tuple[str, int], _FileCounts]) -> None:
    with _lock:
        _cache.update(counted)
        while len(_cache) > CACHED_FILES:
            _cache.popitem(last=False)


def _count_in_background(files: list[tuple[str, int]]) -> None:
    """Counts `files` in a thread of its own (once, however many readers ask meanwhile)."""
    with _lock:
        todo = [key for key in files if key not in _counting]
        _counting.update(todo)
    if not todo:
        return

    def run() -> None:
        try:
            _remember(_count(todo))
        except (duckdb.Error, OSError):  # a file collected meanwhile: counted when asked again
            log.warning("counting the lake's event names failed", exc_info=True)
        finally:
            with _lock:
                _counting.difference_update(todo)

    threading.Thread(target=run, name="omnicx-event-catalog", daemon=True).start()


def _count(files: list[tuple[str, int]]) -> dict[tuple[str, int], _FileCounts]:
    """Counts events per (name, channel) in each file, in one DuckDB pass."""
    paths = dict(files)
    listed = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
    found: dict[tuple[str, int], list[tuple[str | None, str, int]]] = {key: [] for key in files}
    with scratch() as db:
        rows = db.execute(
            "SELECT filename, event, channel, count(*) "
            f"FROM read_parquet({listed}, filename = true) GROUP BY ALL"
        ).fetchall()
    for path, event, channel, count in rows:
        found[(path, paths[path])].append((event, channel, int(count)))
    return {key: tuple(value) for key, value in found.items()}


def _ranked(items: Iterable[tuple[str, int]]) -> tuple[NameCount, ...]:
    return tuple(NameCount(n, c) for n, c in sorted(items, key=lambda item: (-item[1], item[0])))


def forget() -> None:
    """Forgets every counted file (tests; a process that rebuilt its lake need not)."""
    with _lock:
        _cache.clear()
