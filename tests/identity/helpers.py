"""Feeding identifiers to the identity graph directly, without HTTP or the event stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete

from omnicx.identity import graph, service
from omnicx.identity.config import IdentityConfig, load_text
from omnicx.identity.settings_store import current_config, store
from omnicx.identity.tables import (
    identifiers,
    identity_changes,
    identity_conflicts,
    identity_cooccurrence,
    identity_evidence,
    identity_links,
    identity_observations,
    identity_profiles,
    identity_separations,
    identity_settings,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

Ids = tuple[tuple[str, str], ...]


def at(minutes: float) -> datetime:
    """An instant `minutes` after T0."""
    return T0 + timedelta(minutes=minutes)


def sighting(event_id: int, minutes: float, *ids: tuple[str, str]) -> graph.Sighting:
    """An event carrying these (already normalised) identifiers."""
    return graph.Sighting(event_id, at(minutes), event_id * 7919 % 100_003, tuple(ids))


def configure(engine: Engine, text: str) -> IdentityConfig:
    """Stores identity settings and returns them parsed."""
    with engine.begin() as connection:
        store(connection, text, name="test settings")
        return current_config(connection)


def feed(engine: Engine, sightings: Sequence[graph.Sighting], batch: int = 1000) -> None:
    """Runs sightings through the graph, `batch` per transaction, in the given order.

    Within a batch they keep their order too; identifiers are ordered by priority as the
    extractor would give them."""
    for start in range(0, len(sightings), batch):
        with engine.begin() as connection:
            config = current_config(connection)
            chunk = [
                graph.Sighting(
                    s.event_id,
                    s.occurred_at,
                    s.order_key,
                    tuple(sorted(s.identifiers, key=lambda i: (config.rank(i[0]), i[0], i[1]))),
                )
                for s in sightings[start : start + batch]
            ]
            graph.observe(connection, config, chunk)


def partition(engine: Engine) -> set[frozenset[tuple[str, str]]]:
    """The profiles, each as the set of its identifiers."""
    with engine.connect() as connection:
        return set(service.partition(connection))


def profile_of(engine: Engine, type_name: str, value: str) -> str:
    """The profile id holding an identifier."""
    with engine.connect() as connection:
        return service.lookup(connection, type_name, value)


def clear(engine: Engine) -> None:
    """Empties every identity table (between property-test examples)."""
    with engine.begin() as connection:
        for table in (
            identifiers,
            identity_changes,
            identity_conflicts,
            identity_cooccurrence,
            identity_evidence,
            identity_links,
            identity_observations,
            identity_profiles,
            identity_separations,
            identity_settings,
        ):
            connection.execute(delete(table))


def parse(text: str) -> IdentityConfig:
    """Settings from text, for pure tests."""
    return load_text(text)
