"""What a running server holds: settings, engine, the event writer, caches, the processing stage."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from omnicx.audiences.syncs import SyncScheduler
from omnicx.collect.group_commit import GroupCommitWriter
from omnicx.collect.processing import ProcessingStage
from omnicx.collect.sources import WriteKeyCache
from omnicx.pipeline import stream_consumers
from omnicx.settings import Settings
from omnicx.store.engine import make_engine
from omnicx.store.migrate import ensure_current

log = logging.getLogger("omnicx.processing")

WAKE_CHECK_SECONDS = 0.02
"""How often the processing child looks for the writer's commits (and for its parent)."""

SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while another waits for it (CPython's default: 0.005)."""


def tune_server_process() -> None:
    """Tunes the interpreter of a server process for the intake (measured, performance.md).

    The garbage collector runs less often (parsed JSON is acyclic: on the intake path the
    cycle collector mostly costs time), with what startup built frozen out of it. And the
    group-commit writer gets the GIL back sooner after each wait for the database: with
    CPython's 5 ms switch interval it waits behind the event loop parsing requests while
    PostgreSQL, with nothing to do, waits for the writer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    sys.setswitchinterval(SWITCH_INTERVAL)


class Processing(Protocol):
    """The processing stage as the server drives it: in a thread or in a process of its own."""

    @property
    def processed(self) -> int:
        """Events handled since it started."""

    def notify(self) -> None:
        """Tells the stage new events were committed."""

    def start(self) -> None:
        """Starts it."""

    def stop(self) -> None:
        """Finishes the current batch and stops."""


class ProcessingProcess:
    """The processing stage in a child process: its own interpreter, so its own GIL.

    In a thread, the consumers' Python work takes the GIL from the intake's event loop and
    writer. The child runs the same `ProcessingStage` on the same database (checkpoints make
    it exactly-once whoever runs it); the writer's commits wake it through a shared event.
    """

    def __init__(self, database_url: str, *, poll: float = 1.0) -> None:
        context = multiprocessing.get_context("spawn")
        # Lock-free shared counters, not Events: a parent killed (kill -9) while holding an
        # Event's lock would leave the child blocked on it forever, processing as an orphan.
        self._wake: Any = context.RawValue("Q", 0)
        self._stop: Any = context.RawValue("b", 0)
        self._processed: Any = context.RawValue("q", 0)
        self._process = context.Process(
            target=_processing_main,
            args=(database_url, poll, self._wake, self._stop, self._processed, os.getpid()),
            name="omnicx-processing",
            daemon=True,
        )

    @property
    def processed(self) -> int:
        """Events the child has handled."""
        return int(self._processed.value)

    def notify(self) -> None:
        """Wakes the child (called by the writer thread after each commit)."""
        self._wake.value += 1  # a lost increment under a race only delays a wake-up

    def start(self) -> None:
        """Starts the child process."""
        self._process.start()

    def stop(self) -> None:
        """Asks the child to finish its batch and stop; waits for it (killed after 60 s)."""
        self._stop.value = 1
        self._process.join(60)
        if self._process.is_alive():
            log.warning("the processing process did not stop in time; terminating it")
            self._process.terminate()
            self._process.join()


def _processing_main(
    database_url: str, poll: float, wake: Any, stop: Any, processed: Any, parent: int
) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from omnicx.logs import configure

    settings = Settings(database_url=database_url)
    configure(fmt=settings.log_format, level=settings.log_level)
    engine = make_engine(database_url)
    stage = ProcessingStage(engine, stream_consumers(), poll=poll)
    stage.start()
    syncs = SyncScheduler(engine)  # segment deliveries to webhooks run beside processing
    syncs.start()
    # The parent's pid comes from the parent: one killed before this line ran is noticed too.
    seen = wake.value
    try:
        while not stop.value and os.getppid() == parent:  # an orphan stops too
            time.sleep(WAKE_CHECK_SECONDS)
            if wake.value != seen:
                seen = wake.value
                stage.notify()
            processed.value = stage.processed  # for /healthz
    finally:
        syncs.stop()
        stage.stop()
        processed.value = stage.processed
        engine.dispose()


@dataclass
class Runtime:
    """The long-lived parts of a server process."""

    settings: Settings
    engine: Engine
    writer: GroupCommitWriter
    keys: WriteKeyCache
    processing: Processing | None

    @classmethod
    def open(cls, settings: Settings, *, serving: bool = False) -> Runtime:
        """Migrates the database if needed and starts the writer and the processing stage.

        `serving`: this process is one of `omnicx serve`'s server processes. The processing
        stage then runs in a child process rather than a thread of this one (not for an
        in-memory database, which no other process can see), and the interpreter is tuned
        for the intake (`tune_server_process`).
        """
        engine = make_engine(settings.database_url)
        ensure_current(engine)
        processing: Processing | None = None
        if settings.run_processing:
            if serving and engine.url.database not in (None, "", ":memory:"):
                processing = ProcessingProcess(settings.database_url)
            else:
                processing = ProcessingStage(engine, stream_consumers())
        writer = GroupCommitWriter(
            engine,
            max_pending=settings.max_pending_events,
            on_commit=processing.notify if processing else None,
        )
        runtime = cls(
            settings,
            engine,
            writer,
            WriteKeyCache(engine, ttl=settings.write_key_cache_seconds),
            processing,
        )
        if serving:
            tune_server_process()
        writer.start()
        if processing:
            processing.start()
        return runtime

    def close(self) -> None:
        """Commits what is queued, stops the background threads, closes connections."""
        self.writer.stop()
        if self.processing:
            self.processing.stop()
        self.keys.close()
        self.engine.dispose()
