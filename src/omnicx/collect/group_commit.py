"""Group commit: many concurrent requests share one transaction and one fsync.

Request handlers hand their validated rows to the writer and await the commit. One thread
owns a database connection; it takes everything queued, appends it in a single transaction,
commits, then answers every waiting request. Under load a transaction carries many requests,
so the cost of a durable commit is shared instead of paid per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from omnicx.collect.stream import Rejection, StampedRow, append

log = logging.getLogger("omnicx.collect.writer")


class WriterOverloaded(Exception):
    """More events wait for a commit than the writer accepts; the client should retry later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class WriterStopped(Exception):
    """The writer is shutting down or its database failed; nothing of the request was stored."""


@dataclass(slots=True)
class _Pending:
    rows: Sequence[StampedRow]
    rejections: Sequence[Rejection]
    future: asyncio.Future[None] | None
    """Settled in its event loop once the rows are committed (`write`)."""
    done: Callable[[BaseException | None], None] | None = None
    """Called from the writer thread instead (`write_blocking`)."""
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.rows) + len(self.rejections)


class GroupCommitWriter:
    """Appends rows to the event stream from one thread, committing queued requests together."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_pending: int = 200_000,
        max_transaction: int = 20_000,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max_pending = max_pending
        self._max_transaction = max_transaction
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._commit_seconds = 0.1  # running estimate of one commit's time, for Retry-After
        self._connection: Connection | None = None

    def start(self) -> None:
        """Starts the writer thread."""
        self._thread = threading.Thread(target=self._run, name="omnicx-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commits what is queued, then stops the thread."""
        self._stopping = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()

    @property
    def pending(self) -> int:
        """Rows queued and not yet committed."""
        return self._pending

    async def write(self, rows: Sequence[StampedRow], rejections: Sequence[Rejection] = ()) -> None:
        """Queues rows and returns once they are committed (duplicates skipped)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._submit(_Pending(rows, rejections, future))
        return await future

    def write_blocking(
        self, rows: Sequence[StampedRow], rejections: Sequence[Rejection] = ()
    ) -> None:
        """Like `write`, for callers outside an event loop."""
        outcome: list[BaseException | None] = []
        finished = threading.Event()

        def done(result: BaseException | None) -> None:
            outcome.append(result)
            finished.set()

        self._submit(_Pending(rows, rejections, None, done))
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]

    def _submit(self, item: _Pending) -> None:
        if self._stopping or self._thread is None:
            raise WriterStopped("the event writer is not running")
        with self._lock:
            if self._pending + item.size > self._max_pending and self._pending > 0:
                raise WriterOverloaded(self._retry_after())
            self._pending += item.size
        self._queue.put(item)

    def _retry_after(self) -> int:
        backlog_commits = self._pending / max(self._max_transaction, 1)
        return max(1, round(backlog_commits * self._commit_seconds + 0.5))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._drain_after_stop()
                self._close_connection()
                return
            group = [first]
            size = first.size
            while size < self._max_transaction:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit(group)
                    self._drain_after_stop()
                    self._close_connection()
                    return
                group.append(item)
                size += item.size
            self._commit(group)

    def _drain_after_stop(self) -> None:
        leftovers: list[_Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        if leftovers:
            self._commit(leftovers)

    def _commit(self, group: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            stored = self._append(group)
        except Exception as exc:  # nothing of this group is stored
            if len(group) > 1:
                # One request's bad row must not fail the others that shared its transaction:
                # retry each alone, so only the culprit (or all, if the database is down) fails.
                log.warning("group append failed; retrying requests one by one: %s", exc)
                for pending in group:
                    self._commit([pending])
                return
            log.exception("event append failed")
            failure = WriterStopped(f"the database refused the append: {exc.__class__.__name__}")
            self._finish(group, [failure])
            return
        self._commit_seconds = 0.8 * self._commit_seconds + 0.2 * (time.perf_counter() - started)
        if self._on_commit is not None:
            self._on_commit()
        log.debug("group committed", extra={"requests": len(group), "new_events": stored})
        self._finish(group, [None] * len(group))

    def _append(self, group: list[_Pending]) -> int:
        rows = [row for p in group for row in p.rows]
        rejections = [r for p in group for r in p.rejections]
        # The writer keeps its own connection: on SQLite (no pool) opening one per commit would
        # cost more than the commit itself. A failed transaction drops it; the next reconnects.
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                return append(self._connection, rows, rejections)
        except Exception:
            self._close_connection()
            raise

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def _finish(self, group: list[_Pending], outcomes: Sequence[BaseException | None]) -> None:
        with self._lock:
            self._pending -= sum(p.size for p in group)
        # One wake-up per event loop for the whole group, not one per request.
        settle: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Any]]] = {}
        for pending, outcome in zip(group, outcomes, strict=True):
            if pending.future is not None:
                loop = pending.future.get_loop()
                settle.setdefault(loop, []).append((pending.future, outcome))
            elif pending.done is not None:
                pending.done(outcome)
        for loop, futures in settle.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, futures)


def _settle(futures: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, outcome in futures:
        if future.cancelled():
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
