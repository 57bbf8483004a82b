"""A test store whose processing stage runs the membership consumer on a clock the test sets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from omnicx.analytics.consumer import LakeWriter
from omnicx.audiences import segments
from omnicx.audiences.consumer import SegmentMembership
from omnicx.audiences.membership import memberships_of
from omnicx.collect.processing import lag, process_available
from omnicx.pipeline import stream_consumers
from omnicx.profiles import rfm, service
from tests.profiles.helpers import T0, Shop


class LiveShop(Shop):
    """`Shop` with segments: processing runs until the stream is quiet (the membership
    consumer's own events included) at `self.now`."""

    def __init__(self, engine: Engine, *, lake: bool = True) -> None:
        super().__init__(engine)
        self.now: datetime = T0
        consumers = [
            c
            for c in stream_consumers()
            if not isinstance(c, SegmentMembership) and (lake or not isinstance(c, LakeWriter))
        ]
        self.consumers = [*consumers, SegmentMembership(lambda: self.now)]

    def process(self, batch_size: int = 5000) -> None:
        # Events the membership consumer emits (Segment Entered...) reach the consumers
        # before it in the next round.
        for _ in range(10):
            process_available(self.engine, self.consumers, batch_size=batch_size)
            rfm.forget_thresholds()
            if not any(lag(self.engine, self.consumers).values()):
                return
        raise AssertionError("processing did not settle")

    def advance(self, **delta: float) -> None:
        """Moves the clock on and lets the consumer run (timers fire)."""
        self.now += timedelta(**delta)
        self.process()

    def define(self, key: str, definition: dict[str, Any], **options: Any) -> None:
        """Stores a segment and processes (it goes live)."""
        with self.engine.begin() as connection:
            segments.create(
                connection,
                key=key,
                name=options.pop("name", key.title()),
                definition=definition,
                actor="test",
                allow_new_traits=options.pop("allow_new_traits", True),
                **options,
            )
        self.process()

    def segments_of(self, type_name: str, value: str) -> set[str]:
        """The keys of the segments of an identifier's profile."""
        with self.engine.connect() as connection:
            profile = service.lookup(connection, type_name, value)
            return {key for key, _, _ in memberships_of(connection, profile)}

    def timeline(self, type_name: str, value: str) -> list[tuple[str | None, dict[str, Any]]]:
        """The profile's timeline, oldest first: (event name, properties)."""
        with self.engine.connect() as connection:
            profile = service.lookup(connection, type_name, value)
            page = service.timeline(connection, profile, limit=200)
        return [(e.event, e.message.get("properties") or {}) for e in reversed(page.events)]
