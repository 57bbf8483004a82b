"""The identity stage of the processing pipeline: every event's identifiers into the graph."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
from sqlalchemy import Connection, exists, select

from omnicx.collect import history
from omnicx.collect.processing import StoredEvent
from omnicx.identity import graph
from omnicx.identity.config import IdentityConfig
from omnicx.identity.extract import Extractor
from omnicx.identity.secrets import digest, erasure_key
from omnicx.identity.settings_store import current_config
from omnicx.identity.tables import identity_erased
from omnicx.store.bulk import chunks

log = logging.getLogger("omnicx.identity")

CONSUMER_NAME = "identity.resolution"


class IdentityResolution:
    """Stream consumer: links each event's identifiers to profiles, merging where they meet."""

    name = CONSUMER_NAME
    needs_payload = True

    def __init__(self) -> None:
        self._extractor: Extractor | None = None
        self._sources: dict[int, str] = {}
        self.last_report: graph.BatchReport | None = None

    def _extractor_for(self, config: IdentityConfig) -> Extractor:
        if self._extractor is None or self._extractor.config is not config:
            self._extractor = Extractor(config)
        return self._extractor

    def _source_name(self, connection: Connection, source_id: int) -> str:
        name = self._sources.get(source_id)
        if name is None:
            self._sources = history.source_names(connection)
            name = self._sources.get(source_id, f"#{source_id}")
        return name

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        config = current_config(connection)
        extractor = self._extractor_for(config)
        sightings: list[graph.Sighting] = []
        for event in batch:
            try:
                message = orjson.loads(event.payload or b"{}")
            except orjson.JSONDecodeError:
                log.warning("event %s: stored payload is not JSON; skipped", event.id)
                continue
            found = extractor.extract(message, self._source_name(connection, event.source_id))
            if found.identifiers:
                sightings.append(
                    graph.Sighting(
                        event.id,
                        event.timestamp,
                        graph.order_key(event.source_id, event.message_id),
                        found.identifiers,
                    )
                )
        sightings = drop_erased(connection, sightings)
        self.last_report = graph.observe(connection, config, sightings)


def drop_erased(connection: Connection, sightings: list[graph.Sighting]) -> list[graph.Sighting]:
    """Deletes events that name an erased person (an SDK retry, a re-import) and drops them."""
    if (
        not sightings
        or not connection.execute(select(exists().select_from(identity_erased))).scalar()
    ):
        return sightings
    key = erasure_key(connection)
    digests = {(t, v): digest(key, t, v) for s in sightings for t, v in s.identifiers}
    erased: set[str] = set()
    for chunk in chunks(list(set(digests.values()))):
        erased.update(
            connection.execute(
                select(identity_erased.c.digest).where(identity_erased.c.digest.in_(chunk))
            ).scalars()
        )
    if not erased:
        return sightings
    gone = [s for s in sightings if any(digests[i] in erased for i in s.identifiers)]
    history.erase_events(connection, [s.event_id for s in gone])
    log.info("dropped %d events naming erased people", len(gone))
    ids = {s.event_id for s in gone}
    return [s for s in sightings if s.event_id not in ids]
