"""What a running server holds: settings, engine, the event writer, caches, the processing stage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from omnicx.collect.group_commit import GroupCommitWriter
from omnicx.collect.processing import ProcessingStage
from omnicx.collect.sources import WriteKeyCache
from omnicx.pipeline import stream_consumers
from omnicx.settings import Settings
from omnicx.store.engine import make_engine
from omnicx.store.migrate import ensure_current


@dataclass
class Runtime:
    """The long-lived parts of a server process."""

    settings: Settings
    engine: Engine
    writer: GroupCommitWriter
    keys: WriteKeyCache
    processing: ProcessingStage | None

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Migrates the database if needed and starts the writer and the processing stage."""
        engine = make_engine(settings.database_url)
        ensure_current(engine)
        processing = (
            ProcessingStage(engine, stream_consumers()) if settings.run_processing else None
        )
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
        writer.start()
        if processing:
            processing.start()
        return runtime

    def close(self) -> None:
        """Commits what is queued, stops the background threads, closes connections."""
        self.writer.stop()
        if self.processing:
            self.processing.stop()
        self.engine.dispose()
