"""Values kept in a server process and computed again in the background once stale: figures
that read a whole table or the lake (the console's overview, RFM thresholds), so that no
reader waits for a slow computation twice."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from omnicx.store.clock import utc_now

T = TypeVar("T")
log = logging.getLogger("omnicx.memo")


@dataclass(frozen=True, slots=True)
class Computed(Generic[T]):
    """A figure and when it was computed."""

    value: T
    computed_at: datetime


class Memo:
    """Results kept for a while. The first reader of a key waits for its computation (one
    thread computes, readers arriving meanwhile share its answer); once a kept answer is
    stale, readers get it at once, with when it was computed, while one background thread
    computes the next (stale while revalidating: no reader waits for a slow figure twice)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, limit: int | None = None
    ) -> None:
        self._clock = clock
        self._limit = limit
        """At most this many values are kept (None: no limit): once full, keeping one more
        forgets the value computed longest ago (keys chosen by readers, say report settings)."""
        self._entries: dict[Hashable, tuple[float, Hashable, Computed[Any]]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._refreshing: dict[Hashable, threading.Thread] = {}
        self._guard = threading.Lock()
        self._generation = 0
        """Bumped by `clear`: a computation begun before does not keep what it found."""

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        *,
        seconds: float,
        version: Hashable = None,
        first: Callable[[], T] | None = None,
    ) -> Computed[T]:
        """The value kept under `key`; computed again (in the background when one is kept)
        once it is older than `seconds` and was computed from another `version` of its
        input than `version` (None: any age over `seconds` will do). `first`, when given,
        computes a value nobody waits on yet, in the reader's thread (say, on the reader's
        own database connection); `compute` must work in any thread."""
        entry = self._entries.get(key)
        if entry is not None:
            if not self._stale(entry, seconds, version):
                return entry[2]
            self._refresh_later(key, compute, version)
            return entry[2]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None:
                return entry[2]
            return self._compute(key, first or compute, version)

    def refresh(
        self, key: Hashable, compute: Callable[[], T], *, version: Hashable = None
    ) -> Computed[T]:
        """Computes the value under `key` now, in the reader's thread, and keeps it (a reader
        asking for a value as of now rather than the kept one)."""
        return self._compute(key, compute, version)

    def settle(self, timeout: float = 30.0) -> None:
        """Waits for the background computations under way (tests)."""
        with self._guard:
            running = list(self._refreshing.values())
        for thread in running:
            thread.join(timeout)

    def clear(self) -> None:
        """Forgets everything kept."""
        with self._guard:
            self._entries.clear()
            self._generation += 1

    def _stale(
        self, entry: tuple[float, Hashable, Computed[Any]], seconds: float, version: Hashable
    ) -> bool:
        stamped, kept_version, _ = entry
        if self._clock() - stamped < seconds:
            return False
        return version is None or kept_version != version

    def _compute(self, key: Hashable, compute: Callable[[], T], version: Hashable) -> Computed[T]:
        generation = self._generation
        computed = Computed(compute(), utc_now())
        with self._guard:
            if generation == self._generation:
                self._entries[key] = (self._clock(), version, computed)
                self._forget_oldest()
        return computed

    def _forget_oldest(self) -> None:
        """Keeps at most `limit` values (called holding the guard)."""
        while self._limit is not None and len(self._entries) > self._limit:
            oldest = min(self._entries, key=lambda k: self._entries[k][0])
            del self._entries[oldest]
            self._locks.pop(oldest, None)

    def _refresh_later(self, key: Hashable, compute: Callable[[], T], version: Hashable) -> None:
        with self._guard:
            if key in self._refreshing:
                return
            thread = threading.Thread(
                target=self._refresh, args=(key, compute, version), daemon=True
            )
            self._refreshing[key] = thread
        thread.start()

    def _refresh(self, key: Hashable, compute: Callable[[], T], version: Hashable) -> None:
        try:
            self._compute(key, compute, version)
        except Exception:  # the kept answer stays; the next stale read tries again
            log.exception("the kept value %r could not be computed again", key)
        finally:
            with self._guard:
                self._refreshing.pop(key, None)
