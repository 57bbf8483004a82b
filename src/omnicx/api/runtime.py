"""What a running server holds: settings, engine, the event writer, caches, the processing stage."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from omnicx.api.wake import WakeSender
from omnicx.audiences.syncs import SyncScheduler
from omnicx.collect.group_commit import GroupCommitWriter
from omnicx.collect.processing import ProcessingStage
from omnicx.collect.sources import WriteKeyCache
from omnicx.pipeline import stream_consumers
from omnicx.settings import Settings, processing_workers_for
from omnicx.store.engine import is_in_memory, make_engine
from omnicx.store.migrate import ensure_current

log = logging.getLogger("omnicx.processing")

WAKE_CHECK_SECONDS = 0.02
"""How often the processing child looks for the writer's commits (and for its parent)."""

RESTART_CHECK_SECONDS = 1.0
"""How often a restarting `ProcessingProcess` looks whether its child is still running."""
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 60.0
"""A child that ends is started again after RESTART_FIRST_DELAY seconds, doubling while it
keeps ending within RESTART_MAX_DELAY of its start, never waiting longer than that."""

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
    `run_syncs`: the child also delivers segment syncs to webhooks (`SyncScheduler`).
    `restart`: a child that ends without being asked to (killed by the kernel for memory, a
    crash) is started again, after 1 s, doubling up to a minute while it keeps ending within
    a minute of its start; it resumes from the consumers' checkpoints.
    """

    def __init__(
        self,
        database_url: str,
        *,
        poll: float = 1.0,
        run_syncs: bool = True,
        name: str = "omnicx-processing",
        restart: bool = False,
    ) -> None:
        self.run_syncs = run_syncs
        self.name = name
        self._context = multiprocessing.get_context("spawn")
        # Lock-free shared counters, not Events: a parent killed (kill -9) while holding an
        # Event's lock would leave the child blocked on it forever, processing as an orphan.
        self._wake: Any = self._context.RawValue("Q", 0)
        self._stop: Any = self._context.RawValue("b", 0)
        self._processed: Any = self._context.RawValue("q", 0)
        self._args = (
            database_url,
            poll,
            self._wake,
            self._stop,
            self._processed,
            os.getpid(),
            run_syncs,
        )
        self._process = self._new_process()
        self._restart = restart
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._ended_children_processed = 0
        self.restarts = 0
        """How many times a child was started again after it ended."""

    def _new_process(self) -> Any:
        return self._context.Process(
            target=_processing_main, args=self._args, name=self.name, daemon=True
        )

    @property
    def processed(self) -> int:
        """Events the child (and any it replaced) has handled."""
        return self._ended_children_processed + int(self._processed.value)

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once it has ended, else None."""
        code: int | None = self._process.exitcode
        return code

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        pid: int | None = self._process.pid
        return pid

    def notify(self) -> None:
        """Wakes the child (called by the writer thread after each commit)."""
        self._wake.value += 1  # a lost increment under a race only delays a wake-up

    def start(self) -> None:
        """Starts the child process (and, with `restart`, the thread that watches it)."""
        self._process.start()
        if self._restart:
            self._watcher = threading.Thread(
                target=self._watch, name=f"{self.name}-watch", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        delay = RESTART_FIRST_DELAY
        started = time.monotonic()
        while not self._stopping.wait(RESTART_CHECK_SECONDS):
            code = self._process.exitcode
            if code is None:
                continue
            if time.monotonic() - started > RESTART_MAX_DELAY:
                delay = RESTART_FIRST_DELAY  # it had been running well: not a crash loop
            log.error(
                "the processing process %s ended (exit code %s); starting it again in %.0f s",
                self.name,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            self._ended_children_processed += int(self._processed.value)
            self._processed.value = 0
            process = self._new_process()
            process.start()
            # Counted before it is published: whoever sees the new child sees the restart.
            self.restarts += 1
            self._process = process
            started = time.monotonic()
            delay = min(delay * 2, RESTART_MAX_DELAY)

    def ask_to_stop(self) -> None:
        """Asks the child to finish its batch and stop, without waiting for it."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()  # no child is started after this
        self._stop.value = 1

    def stop(self) -> None:
        """Asks the child to finish its batch and stop; waits for it (killed after 60 s)."""
        self.ask_to_stop()
        self._process.join(60)
        if self._process.is_alive():
            log.warning("the processing process did not stop in time; terminating it")
            self._process.terminate()
            self._process.join()


class ProcessingProcesses:
    """Several processing processes sharing the consumers (PostgreSQL): each batch takes the
    consumer's checkpoint row, and a process skips the consumers another one holds, so one
    resolves identities while another builds profiles. One of them delivers segment syncs."""

    def __init__(
        self, database_url: str, count: int, *, poll: float = 1.0, restart: bool = False
    ) -> None:
        self.children = [
            ProcessingProcess(
                database_url,
                poll=poll,
                run_syncs=n == 0,
                name=f"omnicx-processing-{n + 1}",
                restart=restart,
            )
            for n in range(count)
        ]

    @property
    def processed(self) -> int:
        """Events the children have handled (each consumer's share counts)."""
        return sum(child.processed for child in self.children)

    def notify(self) -> None:
        """Wakes every child."""
        for child in self.children:
            child.notify()

    def start(self) -> None:
        """Starts the children."""
        for child in self.children:
            child.start()

    def stop(self) -> None:
        """Asks every child to finish its batch, then waits for each."""
        for child in self.children:
            child.ask_to_stop()
        for child in self.children:
            child.stop()


def processing_processes(database_url: str, count: int, *, poll: float = 1.0) -> Processing:
    """`count` processing processes on the database (one is a `ProcessingProcess` alone), as
    `omnicx serve` runs them: a child that ends is started again (`omnicx worker` stops
    instead, for its service manager to decide)."""
    if count == 1:
        return ProcessingProcess(database_url, poll=poll, restart=True)
    return ProcessingProcesses(database_url, count, poll=poll, restart=True)


def processing_worker_count(
    requested: int | None, dialect: str, *, option: str = "OMNICX_PROCESSING_WORKERS"
) -> int:
    """How many processing processes to run (`processing_workers_for`); warns when SQLite
    turns down the number asked for (with `option`)."""
    count = processing_workers_for(requested, dialect)
    if requested is not None and count < requested:
        log.warning(
            "%s asks for %d processing processes; running 1: SQLite has one writer at a "
            "time, so a second process would only wait for the first",
            option,
            requested,
        )
    return count


def _processing_main(
    database_url: str,
    poll: float,
    wake: Any,
    stop: Any,
    processed: Any,
    parent: int,
    run_syncs: bool = True,
) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM sent to every process (a service manager stopping the group, or to this one):
    # finish the batch in flight and stop, as when the parent asks.
    terminated = False

    def _terminate(_signum: int, _frame: object) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, _terminate)
    from omnicx.logs import configure

    settings = Settings(database_url=database_url)
    configure(fmt=settings.log_format, level=settings.log_level)
    engine = make_engine(database_url, keep_connections=True)
    stage = ProcessingStage(engine, stream_consumers(), poll=poll)
    stage.start()
    # Segment deliveries to webhooks run beside processing: `omnicx serve` has no other
    # background process for them. In one child only (they claim each sync, so more would be
    # safe, but each would look every 30 s for nothing).
    syncs = SyncScheduler(engine) if run_syncs else None
    if syncs:
        syncs.start()
    # The parent's pid comes from the parent: one killed before this line ran is noticed too.
    seen = wake.value
    try:
        while not stop.value and not terminated and os.getppid() == parent:  # orphans stop
            time.sleep(WAKE_CHECK_SECONDS)
            if wake.value != seen:
                seen = wake.value
                stage.notify()
            processed.value = stage.processed  # for /healthz
    finally:
        if syncs:
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
    wake: WakeSender | None = None
    """Wakes a processing stage run by another process (`omnicx serve --workers N`)."""

    @classmethod
    def open(cls, settings: Settings, *, serving: bool = False) -> Runtime:
        """Migrates the database if needed and starts the writer and the processing stage.

        `serving`: this process is one of `omnicx serve`'s server processes. The processing
        stage then runs in child processes rather than a thread of this one (not for an
        in-memory database, which no other process can see): `processing_workers` of them,
        by default 2 on PostgreSQL and 1 on SQLite. And the interpreter is tuned for the
        intake (`tune_server_process`).
        """
        engine = make_engine(settings.database_url)
        ensure_current(engine)
        processing: Processing | None = None
        if settings.run_processing:
            if serving and not is_in_memory(engine):
                count = processing_worker_count(settings.processing_workers, engine.dialect.name)
                processing = processing_processes(settings.database_url, count)
            else:
                processing = ProcessingStage(engine, stream_consumers())
        wake = (
            WakeSender(settings.processing_wake)
            if processing is None and settings.processing_wake
            else None
        )
        on_commit = processing.notify if processing else wake.send if wake else None
        writer = GroupCommitWriter(
            engine, max_pending=settings.max_pending_events, on_commit=on_commit
        )
        runtime = cls(
            settings,
            engine,
            writer,
            WriteKeyCache(engine, ttl=settings.write_key_cache_seconds),
            processing,
            wake,
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
        if self.wake:
            self.wake.close()
        if self.processing:
            self.processing.stop()
        self.keys.close()
        self.engine.dispose()
