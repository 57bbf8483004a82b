"""Queries of the identity domain's tables (only this domain calls them)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update

from omnicx.identity.resolve import Known, Link, Separation
from omnicx.identity.tables import (
    identifiers,
    identity_changes,
    identity_conflicts,
    identity_cooccurrence,
    identity_evidence,
    identity_links,
    identity_profiles,
    identity_separations,
)
from omnicx.store.bulk import chunks, update_by_key
from omnicx.store.clock import as_utc, utc_now


@dataclass(slots=True)
class IdentifierRow:
    """An identifier as the processing stage works with it."""

    id: int
    type: str
    value: str
    profile_id: str | None
    origin_profile_id: str | None
    shared: bool
    first_seen_at: datetime


def new_profile_id() -> str:
    """A fresh public profile id."""
    return str(uuid.uuid4())


def _row(r: object) -> IdentifierRow:
    return IdentifierRow(
        r.id,  # type: ignore[attr-defined]
        r.type,  # type: ignore[attr-defined]
        r.value,  # type: ignore[attr-defined]
        r.profile_id,  # type: ignore[attr-defined]
        r.origin_profile_id,  # type: ignore[attr-defined]
        bool(r.shared),  # type: ignore[attr-defined]
        as_utc(r.first_seen_at),  # type: ignore[attr-defined]
    )


_COLUMNS = (
    identifiers.c.id,
    identifiers.c.type,
    identifiers.c.value,
    identifiers.c.profile_id,
    identifiers.c.origin_profile_id,
    identifiers.c.shared,
    identifiers.c.first_seen_at,
)


def identifiers_by_key(
    connection: Connection, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], IdentifierRow]:
    """The stored identifiers among (type, value) pairs."""
    values_of: dict[str, list[str]] = {}
    for kind, value in keys:
        values_of.setdefault(kind, []).append(value)
    found: dict[tuple[str, str], IdentifierRow] = {}
    # One type at a time: `type = ? AND value IN (...)` is a lookup in the (type, value)
    # index, where SQLite answers `(type, value) IN (VALUES ...)` by scanning the whole index
    # for every chunk (51 µs per key on the 5,000-customer demo, growing with the table).
    for kind, values in sorted(values_of.items()):
        for chunk in chunks(values):
            rows = connection.execute(
                select(*_COLUMNS).where(identifiers.c.type == kind, identifiers.c.value.in_(chunk))
            )
            for r in rows:
                found[(r.type, r.value)] = _row(r)
    return found


def identifiers_by_id(connection: Connection, ids: Collection[int]) -> dict[int, IdentifierRow]:
    """The stored identifiers with these ids."""
    found: dict[int, IdentifierRow] = {}
    for chunk in chunks(list(ids)):
        for r in connection.execute(select(*_COLUMNS).where(identifiers.c.id.in_(chunk))):
            found[r.id] = _row(r)
    return found


def identifiers_of_profiles(
    connection: Connection, profile_ids: Collection[str]
) -> dict[int, IdentifierRow]:
    """Every identifier that belongs to one of these profiles."""
    found: dict[int, IdentifierRow] = {}
    for chunk in chunks(list(profile_ids)):
        for r in connection.execute(select(*_COLUMNS).where(identifiers.c.profile_id.in_(chunk))):
            found[r.id] = _row(r)
    return found


def evidence_events_of(connection: Connection, identifier_ids: Collection[int]) -> set[int]:
    """Events of the evidence that carried one of these identifiers."""
    events: set[int] = set()
    for chunk in chunks(list(identifier_ids)):
        events.update(
            connection.execute(
                select(identity_evidence.c.event_id).where(
                    identity_evidence.c.identifier_id.in_(chunk)
                )
            ).scalars()
        )
    return events


def evidence_rows(
    connection: Connection, event_ids: Collection[int]
) -> list[tuple[int, int, datetime, int]]:
    """(event id, identifier id, occurred at, order key) of these evidence events."""
    rows: list[tuple[int, int, datetime, int]] = []
    for chunk in chunks(list(event_ids)):
        for r in connection.execute(
            select(
                identity_evidence.c.event_id,
                identity_evidence.c.identifier_id,
                identity_evidence.c.occurred_at,
                identity_evidence.c.order_key,
            ).where(identity_evidence.c.event_id.in_(chunk))
        ):
            rows.append((r.event_id, r.identifier_id, as_utc(r.occurred_at), r.order_key))
    return rows


def links_of_profile(connection: Connection, profile_id: str) -> list[Link]:
    """The joins holding a profile together."""
    return [
        Link(r.event_id, as_utc(r.occurred_at), r.order_key, r.anchor_id, r.joined_id)
        for r in connection.execute(
            select(identity_links).where(identity_links.c.profile_id == profile_id)
        )
    ]


def linked_until(
    connection: Connection, profile_ids: Collection[str]
) -> dict[str, tuple[datetime, int] | None]:
    """Each profile's newest link position (None when it has no links)."""
    found: dict[str, tuple[datetime, int] | None] = {}
    for chunk in chunks(list(profile_ids)):
        for r in connection.execute(
            select(
                identity_profiles.c.id,
                identity_profiles.c.linked_until_at,
                identity_profiles.c.linked_until_key,
            ).where(identity_profiles.c.id.in_(chunk))
        ):
            found[r.id] = (
                (as_utc(r.linked_until_at), r.linked_until_key)
                if r.linked_until_at is not None
                else None
            )
    return found


def shared_among(connection: Connection, identifier_ids: Collection[int], limit: int) -> set[int]:
    """Those identifiers seen with more than `limit` values of one person-key type (more than
    `limit` userIds, say: so many people cannot all be one)."""
    from sqlalchemy import func

    key = identifiers.alias("person_key")
    found: set[int] = set()
    for chunk in chunks(list(identifier_ids)):
        found.update(
            connection.execute(
                select(identity_cooccurrence.c.identifier_id)
                .join(key, key.c.id == identity_cooccurrence.c.person_key_id)
                .where(identity_cooccurrence.c.identifier_id.in_(chunk))
                .group_by(identity_cooccurrence.c.identifier_id, key.c.type)
                .having(func.count() > limit)
            ).scalars()
        )
    return found


def separations_touching(
    connection: Connection, identifier_ids: Collection[int]
) -> list[Separation]:
    """Unmerge separations with a member among these identifiers."""
    wanted = set(identifier_ids)
    found = []
    for r in connection.execute(select(identity_separations)):
        left = frozenset(orjson.loads(r.left_ids))
        right = frozenset(orjson.loads(r.right_ids))
        if wanted & (left | right):
            found.append(Separation(r.id, left, right))
    return found


def as_known(rows: Iterable[IdentifierRow]) -> dict[int, Known]:
    """The facts the resolution rule needs about identifiers."""
    return {r.id: Known(r.type, r.value, r.first_seen_at) for r in rows}


def insert_profiles(connection: Connection, profile_ids: Sequence[str]) -> None:
    """Registers new profile ids."""
    if not profile_ids:
        return
    now = utc_now()
    connection.execute(
        insert(identity_profiles),
        [{"id": p, "created_at": now, "updated_at": now} for p in profile_ids],
    )


def assign(connection: Connection, assignments: Sequence[tuple[int, str | None]]) -> None:
    """Moves identifiers to profiles (and records a first profile where none was)."""
    if not assignments:
        return
    update_by_key(
        connection, identifiers, "id", [{"id": i, "profile_id": p} for i, p in assignments]
    )
    first = [{"identifier": i, "profile": p} for i, p in assignments if p is not None]
    if first:
        # Only where none was recorded: a rare write (new identifiers), kept simple.
        connection.execute(
            update(identifiers)
            .where(identifiers.c.id == bindparam("identifier"))
            .where(identifiers.c.origin_profile_id.is_(None))
            .values(origin_profile_id=bindparam("profile")),
            first,
        )


def replace_links(
    connection: Connection, identifier_ids: Collection[int], links: Sequence[tuple[str, Link]]
) -> None:
    """Replaces the joins of a component by the ones just computed."""
    for chunk in chunks(list(identifier_ids)):
        connection.execute(
            delete(identity_links).where(
                or_(identity_links.c.anchor_id.in_(chunk), identity_links.c.joined_id.in_(chunk))
            )
        )
    if links:
        connection.execute(
            insert(identity_links),
            [
                {
                    "profile_id": profile,
                    "anchor_id": link.anchor,
                    "joined_id": link.joined,
                    "event_id": link.event_id,
                    "occurred_at": link.occurred_at,
                    "order_key": link.order_key,
                }
                for profile, link in links
            ],
        )


def replace_conflicts(
    connection: Connection, identifier_ids: Collection[int], rows: Sequence[dict[str, object]]
) -> None:
    """Replaces the conflicts of a component by the ones just computed."""
    for chunk in chunks(list(identifier_ids)):
        connection.execute(
            delete(identity_conflicts).where(
                or_(
                    identity_conflicts.c.identifier_id.in_(chunk),
                    identity_conflicts.c.anchor_id.in_(chunk),
                )
            )
        )
    if rows:
        connection.execute(insert(identity_conflicts), list(rows))


def set_linked_until(
    connection: Connection, positions: dict[str, tuple[datetime, int] | None]
) -> None:
    """Records each profile's newest link position."""
    if not positions:
        return
    now = utc_now()
    update_by_key(
        connection,
        identity_profiles,
        "id",
        [
            {
                "id": profile,
                "linked_until_at": position[0] if position else None,
                "linked_until_key": position[1] if position else None,
                "updated_at": now,
                "merged_into": None,
            }
            for profile, position in positions.items()
        ],
    )


def retire(connection: Connection, retired: dict[str, str | None]) -> None:
    """Marks profile ids as merged into another (or gone, when None)."""
    if not retired:
        return
    now = utc_now()
    update_by_key(
        connection,
        identity_profiles,
        "id",
        [{"id": p, "merged_into": into, "updated_at": now} for p, into in retired.items()],
    )


def log_changes(connection: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Appends entries to the identity change log."""
    if rows:
        connection.execute(insert(identity_changes), list(rows))


def active_profile_ids(connection: Connection, candidates: Collection[str]) -> set[str]:
    """Those ids that some identifier currently belongs to."""
    found: set[str] = set()
    for chunk in chunks(list(candidates)):
        found.update(
            connection.execute(
                select(identifiers.c.profile_id)
                .where(identifiers.c.profile_id.in_(chunk))
                .distinct()
            ).scalars()
        )
    return found


def known_profile_ids(connection: Connection, candidates: Collection[str]) -> set[str]:
    """Those ids that exist as profiles (current or merged away)."""
    found: set[str] = set()
    for chunk in chunks(list(candidates)):
        found.update(
            connection.execute(
                select(identity_profiles.c.id).where(identity_profiles.c.id.in_(chunk))
            ).scalars()
        )
    return found


def created_at(connection: Connection, profile_ids: Collection[str]) -> dict[str, datetime]:
    """When each of these profiles was created."""
    found: dict[str, datetime] = {}
    for chunk in chunks(list(profile_ids)):
        for r in connection.execute(
            select(identity_profiles.c.id, identity_profiles.c.created_at).where(
                identity_profiles.c.id.in_(chunk)
            )
        ):
            found[r.id] = as_utc(r.created_at)
    return found


def evidence_positions(
    connection: Connection, set_keys: Collection[int]
) -> dict[int, tuple[int, tuple[datetime, int]]]:
    """For each stored set of identifiers: its event and position in the replay order."""
    found: dict[int, tuple[int, tuple[datetime, int]]] = {}
    for chunk in chunks(list(set_keys)):
        for r in connection.execute(
            select(
                identity_evidence.c.set_key,
                identity_evidence.c.event_id,
                identity_evidence.c.occurred_at,
                identity_evidence.c.order_key,
            )
            .where(identity_evidence.c.set_key.in_(chunk))
            .distinct()
        ):
            position = (as_utc(r.occurred_at), r.order_key)
            if r.set_key not in found or position < found[r.set_key][1]:
                found[r.set_key] = (r.event_id, position)
    return found


def drop_evidence_sets(connection: Connection, set_keys: Collection[int]) -> None:
    """Forgets the stored events of these sets of identifiers (an earlier one replaces them)."""
    for chunk in chunks(list(set_keys)):
        connection.execute(delete(identity_evidence).where(identity_evidence.c.set_key.in_(chunk)))
