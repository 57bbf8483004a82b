"""Privacy requests (GDPR, KVKK): export everything held about a person, or erase it.

Semantics in docs/privacy.md. Both take the caller's connection: an erasure is one
transaction, so it happens completely or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Connection

from omnicx.collect import history
from omnicx.collect.history import SourceNames
from omnicx.collect.processing import lock_consumer
from omnicx.identity import service as identity
from omnicx.identity.config import DEFAULT_FIELDS
from omnicx.identity.consumer import CONSUMER_NAME as IDENTITY_CONSUMER
from omnicx.profiles import repository as repo
from omnicx.profiles import rfm, service
from omnicx.profiles.consumer import CONSUMER_NAME, recompute
from omnicx.profiles.schemas import ErasureOut
from omnicx.store.clock import as_utc, iso, utc_now

EXPORT_FORMAT = "omnicx.person-export/1"

_IDENTIFIER_PATHS = tuple(tuple(path.split(".")) for path, _ in DEFAULT_FIELDS)


def export_person(connection: Connection, profile_id: str) -> dict[str, Any]:
    """Everything held about the person as one JSON-ready document."""
    current = service.resolve(connection, profile_id)
    event_ids = identity.event_ids_of(current)
    names = history.source_names(connection)
    profile = service.document(connection, profile_id)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": iso(utc_now()),
        "profile": profile.model_dump(mode="json"),
        "trait_observations": [
            {
                "name": row.name,
                "value": _json(row.value),
                "source": names.get(row.source_id, f"#{row.source_id}"),
                "channel": row.channel,
                "event_id": row.event_id,
                "message_id": row.message_id,
                "observed_at": iso(as_utc(row.observed_at)),
            }
            for row in repo.trait_observations_of(connection, event_ids)
        ],
        "consent_history": service.consents(connection, current).model_dump(mode="json")["history"],
        "events": [
            {
                "id": e.id,
                "source": e.source,
                "channel": e.channel,
                "type": e.type,
                "event": e.event,
                "message_id": e.message_id,
                "timestamp": iso(e.timestamp),
                "received_at": iso(e.received_at),
                "message": e.message,
            }
            for e in history.events_of(connection, event_ids)
        ],
        "identity_changes": [
            c.model_dump(mode="json") for c in service.merges(connection, current)
        ],
        "identity_conflicts": [
            c.model_dump(mode="json") for c in service.conflicts(connection, current)
        ],
    }


def _json(text: str) -> Any:
    return orjson.loads(text)


def _written(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Identifier values as the messages wrote them (before normalisation)."""
    found: set[str] = set()
    for message in messages:
        for path in _IDENTIFIER_PATHS:
            node: object = message
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, str) and node.strip():
                found.add(node.strip())
            elif isinstance(node, int) and not isinstance(node, bool):
                found.add(str(node))
    return found


def erase_person(connection: Connection, profile_id: str, *, actor: str) -> ErasureOut:
    """Erases a person: identity graph (keyed hashes stay, so the person's identifiers are
    dropped if they come again), events, refused messages naming them, profile rows; returns
    what was deleted."""
    current = service.resolve(connection, profile_id)
    lock_consumer(connection, IDENTITY_CONSUMER)  # identity first, then profiles, as batches do
    named = identity.events_naming_profile(connection, current)
    try:
        forgotten = identity.forget(connection, current, actor=actor)
    except identity.IdentityError as error:
        raise service.ProfileError(error.code, str(error)) from None
    position = lock_consumer(connection, CONSUMER_NAME)
    erased_events = history.events_by_id(connection, forgotten.event_ids)
    values = {v for _, v in forgotten.identifiers} | _written(e.message for e in erased_events)
    deleted = repo.erase(connection, current, forgotten.event_ids)
    deleted["identifiers"] = len(forgotten.identifiers)
    deleted["events"] = history.erase_events(connection, forgotten.event_ids)
    deleted["rejected_messages"] = history.erase_rejected_mentioning(connection, sorted(values))
    # Events of other profiles that carried one of these identifiers are gone too.
    others = {p for p in named.values() if p is not None and p != current}
    if others:
        bound = min(position, repo.positions(connection).get(repo.EVENTS, 0))
        recompute(connection, others, bound=bound, sources=SourceNames())
    rfm.forget_thresholds()
    return ErasureOut(profile_id=current, deleted=deleted)
