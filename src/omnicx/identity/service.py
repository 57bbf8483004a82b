"""The identity domain's public functions: lookups, a profile's identities, merges and
conflicts, unmerge, settings, rebuild and the identity half of erasure.

Every function takes the caller's connection (one transaction per request, command or batch)
and never commits on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Select, delete, func, insert, or_, select, update

from omnicx.collect.processing import lock_consumer, reset
from omnicx.identity import graph
from omnicx.identity import repository as repo
from omnicx.identity.config import IdentityConfig
from omnicx.identity.consumer import CONSUMER_NAME
from omnicx.identity.normalise import ValueFilter, normalise
from omnicx.identity.secrets import digest, erasure_key
from omnicx.identity.settings_store import current_config, store
from omnicx.identity.tables import (
    identifiers,
    identity_changes,
    identity_conflicts,
    identity_cooccurrence,
    identity_erased,
    identity_evidence,
    identity_links,
    identity_manual_links,
    identity_observations,
    identity_profiles,
    identity_separations,
)
from omnicx.store.bulk import chunks, insert_ignoring_duplicates, positions_among
from omnicx.store.clock import as_utc, utc_now


class IdentityError(ValueError):
    """A request about identities that cannot be met; `code` says which kind."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Identity:
    """One identifier of a profile."""

    id: int
    type: str
    value: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """An entry of the identity log."""

    id: int
    kind: str
    profile_id: str | None
    other_profile_id: str | None
    identifier: tuple[str, str] | None
    event_id: int | None
    rule: str
    actor: str | None
    created_at: datetime
    undone_by: int | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A join a rule refused."""

    id: int
    identifier: tuple[str, str]
    anchor: tuple[str, str]
    profile_id: str | None
    other_profile_id: str | None
    reason: str
    detail: str
    first_event_id: int
    first_occurred_at: datetime
    events: int


def normalise_identifier(config: IdentityConfig, type_name: str, value: str) -> tuple[str, str]:
    """Normalises an identifier given by a user, as events' identifiers are."""
    kind = config.types.get(type_name)
    if kind is None:
        known = ", ".join(sorted(config.types))
        raise IdentityError(
            "unknown_type", f"Unknown identifier type {type_name!r}; known: {known}."
        )
    normalised = normalise(kind.normaliser, value, config.phone_region)
    if normalised is None:
        raise IdentityError(
            "invalid_value", f"{value!r} is not a usable {type_name} ({kind.normaliser} form)."
        )
    if ValueFilter(config).blocked(normalised):
        raise IdentityError(
            "blocked_value", f"{value!r} is a blocked {type_name}: it links nobody."
        )
    return type_name, normalised


def current_profile_id(connection: Connection, profile_id: str) -> str | None:
    """The profile an id stands for now (following merges), or None when it is unknown."""
    seen: set[str] = set()
    current = profile_id
    while current not in seen:
        seen.add(current)
        row = connection.execute(
            select(identity_profiles.c.id, identity_profiles.c.merged_into).where(
                identity_profiles.c.id == current
            )
        ).first()
        if row is None:
            return None
        if row.merged_into is None:
            active = connection.execute(
                select(identifiers.c.id).where(identifiers.c.profile_id == current).limit(1)
            ).first()
            return current if active else None
        current = row.merged_into
    return None


def lookup(connection: Connection, type_name: str, value: str) -> str:
    """The profile id of an identifier; IdentityError when none holds it."""
    config = current_config(connection)
    key = normalise_identifier(config, type_name, value)
    row = repo.identifiers_by_key(connection, [key]).get(key)
    if row is None:
        raise IdentityError("not_found", f"No profile has the {type_name} {key[1]!r}.")
    if row.shared:
        raise IdentityError(
            "shared",
            f"The {type_name} {key[1]!r} is shared by more than {config.max_people} people; "
            "it identifies nobody.",
        )
    if row.profile_id is None:
        raise IdentityError("not_found", f"No profile has the {type_name} {key[1]!r} yet.")
    return row.profile_id


def identities_of(connection: Connection, profile_id: str) -> list[Identity]:
    """A profile's identifiers, by type priority then first seen."""
    config = current_config(connection)
    rows = connection.execute(
        select(
            identifiers.c.id,
            identifiers.c.type,
            identifiers.c.value,
            identifiers.c.first_seen_at,
            identifiers.c.last_seen_at,
        ).where(identifiers.c.profile_id == profile_id)
    ).all()
    found = [
        Identity(r.id, r.type, r.value, as_utc(r.first_seen_at), as_utc(r.last_seen_at))
        for r in rows
    ]
    found.sort(key=lambda i: (config.rank(i.type), i.type, i.first_seen_at, i.value))
    return found


def identities_of_profiles(
    connection: Connection, profile_ids: Collection[str]
) -> dict[str, list[Identity]]:
    """`identities_of` for many profiles at once (profiles without identifiers are absent)."""
    config = current_config(connection)
    found: dict[str, list[Identity]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for r in connection.execute(
            select(
                identifiers.c.id,
                identifiers.c.type,
                identifiers.c.value,
                identifiers.c.first_seen_at,
                identifiers.c.last_seen_at,
                identifiers.c.profile_id,
            ).where(identifiers.c.profile_id.in_(chunk))
        ):
            found.setdefault(r.profile_id, []).append(
                Identity(r.id, r.type, r.value, as_utc(r.first_seen_at), as_utc(r.last_seen_at))
            )
    for held in found.values():
        held.sort(key=lambda i: (config.rank(i.type), i.type, i.first_seen_at, i.value))
    return found


def profile_ids(connection: Connection, *, after: str = "", page: int = 10_000) -> list[str]:
    """A page of the ids of the profiles there are now (holding at least one identifier), in
    id order after `after`; an empty list at the end."""
    return list(
        connection.execute(
            select(identifiers.c.profile_id)
            .where(identifiers.c.profile_id > after)
            .group_by(identifiers.c.profile_id)
            .order_by(identifiers.c.profile_id)
            .limit(page)
        ).scalars()
    )


def event_ids_of(profile_id: str) -> Select[Any]:
    """A subquery of the ids of every event attributed to the profile (for timelines)."""
    return (
        select(identity_observations.c.event_id)
        .join(identifiers, identifiers.c.id == identity_observations.c.identifier_id)
        .where(identifiers.c.profile_id == profile_id)
        .where(identity_observations.c.anchor.is_(True))
    )


def profiles_of_events(connection: Connection, event_ids: Sequence[int]) -> dict[int, str]:
    """The profile each event is attributed to (events of nobody are left out)."""
    wanted = set(event_ids)
    found: dict[int, str] = {}
    for condition in positions_among(identity_observations.c.event_id, event_ids):
        for event_id, profile_id in connection.execute(
            select(identity_observations.c.event_id, identifiers.c.profile_id)
            .join(identifiers, identifiers.c.id == identity_observations.c.identifier_id)
            .where(condition)
            .where(identity_observations.c.anchor.is_(True))
        ):
            if profile_id is not None and event_id in wanted:
                found[event_id] = profile_id
    return found


def first_event_ids(connection: Connection, profile_ids: Sequence[str]) -> dict[str, int]:
    """Each profile's earliest event (the lowest id attributed to it); profiles without
    events are left out. Tells a consumer whether a profile's first events are in the batch
    at hand: a profile it has never seen before."""
    found: dict[str, int] = {}
    for chunk in chunks(list(profile_ids)):
        for row in connection.execute(
            select(identifiers.c.profile_id, func.min(identity_observations.c.event_id))
            .join(identity_observations, identity_observations.c.identifier_id == identifiers.c.id)
            .where(identifiers.c.profile_id.in_(chunk))
            .where(identity_observations.c.anchor.is_(True))
            .group_by(identifiers.c.profile_id)
        ):
            found[row[0]] = int(row[1])
    return found


def anchors_of_events(
    connection: Connection, event_ids: Sequence[int]
) -> dict[int, tuple[int, str | None]]:
    """Each event's anchor, the identifier it is attributed through, with the profile that
    identifier belongs to now (events without an anchor are left out). The event lake keeps
    the anchor, so a later merge moves the event with its identifier."""
    wanted = set(event_ids)
    found: dict[int, tuple[int, str | None]] = {}
    for condition in positions_among(identity_observations.c.event_id, event_ids):
        for event_id, identifier_id, profile_id in connection.execute(
            select(
                identity_observations.c.event_id,
                identity_observations.c.identifier_id,
                identifiers.c.profile_id,
            )
            .join(identifiers, identifiers.c.id == identity_observations.c.identifier_id)
            .where(condition)
            .where(identity_observations.c.anchor.is_(True))
        ):
            if event_id in wanted:
                found[event_id] = (identifier_id, profile_id)
    return found


def owners_of_identifiers(
    connection: Connection, identifier_ids: Collection[int]
) -> dict[int, str | None]:
    """The profile each identifier belongs to now: None for one that belongs to nobody (a
    shared identifier) or no longer exists (erased)."""
    found: dict[int, str | None] = dict.fromkeys(identifier_ids)
    for chunk in chunks(list(identifier_ids)):
        for row in connection.execute(
            select(identifiers.c.id, identifiers.c.profile_id).where(identifiers.c.id.in_(chunk))
        ):
            found[row.id] = row.profile_id
    return found


def identifier_ids_of_profiles(connection: Connection, profile_ids: Collection[str]) -> set[int]:
    """The ids of every identifier of these profiles."""
    return set(repo.identifiers_of_profiles(connection, profile_ids))


def all_owners(connection: Connection, *, page: int = 50_000) -> Iterator[tuple[int, str | None]]:
    """Every identifier with its profile, in id order (for rebuilding a copy of the graph)."""
    after = 0
    while True:
        rows = connection.execute(
            select(identifiers.c.id, identifiers.c.profile_id)
            .where(identifiers.c.id > after)
            .order_by(identifiers.c.id)
            .limit(page)
        ).all()
        if not rows:
            return
        for row in rows:
            yield int(row.id), row.profile_id
        after = int(rows[-1].id)


def latest_change_id(connection: Connection) -> int:
    """The id of the newest identity change (0 when none)."""
    return int(connection.execute(select(func.max(identity_changes.c.id))).scalar() or 0)


def _identifier_pairs(connection: Connection, ids: Collection[int]) -> dict[int, tuple[str, str]]:
    return {i: (r.type, r.value) for i, r in repo.identifiers_by_id(connection, ids).items()}


def _change(row: Any, names: dict[int, tuple[str, str]]) -> Change:
    return Change(
        row.id,
        row.kind,
        row.profile_id,
        row.other_profile_id,
        names.get(row.identifier_id) if row.identifier_id is not None else None,
        row.event_id,
        row.rule,
        row.actor,
        as_utc(row.created_at),
        row.undone_by,
        orjson.loads(row.detail),
    )


def changes_of(connection: Connection, profile_id: str) -> list[Change]:
    """Merges, splits and unmerges that involved the profile, newest first."""
    rows = connection.execute(
        select(identity_changes)
        .where(
            or_(
                identity_changes.c.profile_id == profile_id,
                identity_changes.c.other_profile_id == profile_id,
            )
        )
        .order_by(identity_changes.c.id.desc())
    ).all()
    names = _identifier_pairs(connection, {r.identifier_id for r in rows if r.identifier_id})
    return [_change(r, names) for r in rows]


def changes_since(connection: Connection, after: int, *, limit: int = 1000) -> list[Change]:
    """The change feed: log entries with an id greater than `after`, oldest first."""
    rows = connection.execute(
        select(identity_changes)
        .where(identity_changes.c.id > after)
        .order_by(identity_changes.c.id)
        .limit(limit)
    ).all()
    names = _identifier_pairs(connection, {r.identifier_id for r in rows if r.identifier_id})
    return [_change(r, names) for r in rows]


def _conflict_views(connection: Connection, rows: Sequence[Any]) -> list[ConflictView]:
    names = _identifier_pairs(
        connection, {r.identifier_id for r in rows} | {r.anchor_id for r in rows}
    )
    return [
        ConflictView(
            r.id,
            names.get(r.identifier_id, ("?", "?")),
            names.get(r.anchor_id, ("?", "?")),
            r.profile_id,
            r.other_profile_id,
            r.reason,
            r.detail,
            r.first_event_id,
            as_utc(r.first_occurred_at),
            r.events,
        )
        for r in rows
    ]


def conflicts_of(connection: Connection, profile_id: str) -> list[ConflictView]:
    """Joins a rule refused that involve the profile."""
    rows = connection.execute(
        select(identity_conflicts)
        .where(
            or_(
                identity_conflicts.c.profile_id == profile_id,
                identity_conflicts.c.other_profile_id == profile_id,
            )
        )
        .order_by(identity_conflicts.c.first_occurred_at)
    ).all()
    return _conflict_views(connection, rows)


def conflicts(connection: Connection, *, limit: int = 100) -> list[ConflictView]:
    """Every profile's refused joins, newest first."""
    rows = connection.execute(
        select(identity_conflicts)
        .order_by(identity_conflicts.c.first_occurred_at.desc(), identity_conflicts.c.id.desc())
        .limit(limit)
    ).all()
    return _conflict_views(connection, rows)


@dataclass(frozen=True, slots=True)
class Unmerged:
    """The two profiles an unmerge gave back."""

    change_id: int
    kept_profile_id: str
    restored_profile_id: str


def unmerge(connection: Connection, change_id: int, *, actor: str) -> Unmerged:
    """Undoes a merge: keeps its two sides apart from now on and splits the profile back,
    so events and traits are attributed to each side again. Logged as an `unmerged` change."""
    lock_consumer(connection, CONSUMER_NAME)
    row = connection.execute(
        select(identity_changes).where(identity_changes.c.id == change_id)
    ).first()
    if row is None:
        raise IdentityError("not_found", f"No identity change #{change_id}.")
    if row.kind != "merged":
        raise IdentityError("not_a_merge", f"Change #{change_id} is a {row.kind}, not a merge.")
    if row.undone_by is not None:
        raise IdentityError(
            "already_undone", f"Merge #{change_id} was already undone by change #{row.undone_by}."
        )
    detail = orjson.loads(row.detail)
    kept, merged = [int(i) for i in detail["kept"]], [int(i) for i in detail["merged"]]
    now = utc_now()
    connection.execute(
        insert(identity_separations).values(
            change_id=change_id,
            left_ids=orjson.dumps(kept).decode(),
            right_ids=orjson.dumps(merged).decode(),
            created_at=now,
        )
    )
    config = current_config(connection)
    present = repo.identifiers_by_id(connection, kept + merged)
    graph.recompute(
        connection,
        config,
        list(present),
        actor=actor,
        rule=f"unmerge of merge #{change_id}",
        restore={row.other_profile_id: [i for i in merged if i in present]},
    )
    after = repo.identifiers_by_id(connection, list(present))
    restored = next((after[i].profile_id for i in merged if i in after), None)
    kept_now = next((after[i].profile_id for i in kept if i in after), None)
    result = connection.execute(
        insert(identity_changes)
        .values(
            kind="unmerged",
            profile_id=kept_now,
            other_profile_id=restored,
            identifier_id=row.identifier_id,
            event_id=row.event_id,
            rule=f"undo of merge #{change_id}",
            detail=orjson.dumps({"merge": change_id, "kept": kept, "merged": merged}).decode(),
            actor=actor,
            created_at=now,
        )
        .returning(identity_changes.c.id)
    ).scalar_one()
    connection.execute(
        update(identity_changes).where(identity_changes.c.id == change_id).values(undone_by=result)
    )
    return Unmerged(result, kept_now or "", restored or "")


def configure(connection: Connection, text: str, *, name: str) -> int:
    """Stores new identity settings (checked first); returns their version. Existing
    profiles follow the new rules after `rebuild`."""
    return store(connection, text, name=name)


def rebuild(connection: Connection, *, downstream: Sequence[str] = (), actor: str) -> None:
    """Forgets the graph and sets identity (and the consumers after it) back to the start of
    the stream, so processing rebuilds every profile from the raw events. Identifier rows stay,
    so profiles get their old ids back where they are the same people, and unmerges hold."""
    lock_consumer(connection, CONSUMER_NAME)
    for table in (
        identity_observations,
        identity_evidence,
        identity_links,
        identity_cooccurrence,
        identity_conflicts,
    ):
        connection.execute(delete(table))
    connection.execute(update(identifiers).values(profile_id=None, shared=False))
    from omnicx.identity.links import restore_link_evidence

    restore_link_evidence(connection)  # a person's decisions outlive a rebuild
    reset(connection, [CONSUMER_NAME, *downstream])
    repo.log_changes(
        connection,
        [
            {
                "kind": "rebuild",
                "rule": "every profile is rebuilt from the raw events",
                "detail": "{}",
                "actor": actor,
                "created_at": utc_now(),
            }
        ],
    )


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What the identity graph held about an erased person."""

    identifiers: list[tuple[str, str]]
    event_ids: list[int]


def forget(connection: Connection, profile_id: str, *, actor: str) -> Forgotten:
    """Erases a person from the identity graph: every identifier of the profile (anonymous ids
    included) is deleted and only its keyed hash is kept, so events naming it are dropped when
    they come again. Returns the identifiers and the ids of the events to erase."""
    lock_consumer(connection, CONSUMER_NAME)
    rows = repo.identifiers_of_profiles(connection, [profile_id])
    if not rows:
        raise IdentityError("not_found", f"No profile {profile_id}.")
    ids = list(rows)
    event_ids: set[int] = set()
    for chunk in chunks(ids):
        event_ids.update(
            connection.execute(
                select(identity_observations.c.event_id).where(
                    identity_observations.c.identifier_id.in_(chunk)
                )
            ).scalars()
        )
    key = erasure_key(connection)
    now = utc_now()
    insert_ignoring_duplicates(
        connection,
        identity_erased,
        [{"digest": digest(key, r.type, r.value), "erased_at": now} for r in rows.values()],
    )
    # Observations of other identifiers on these events go too (the events themselves go).
    for chunk in chunks(sorted(event_ids)):
        connection.execute(
            delete(identity_observations).where(identity_observations.c.event_id.in_(chunk))
        )
        connection.execute(delete(identity_evidence).where(identity_evidence.c.event_id.in_(chunk)))
    graph.forget_identifier_rows(connection, ids)
    for chunk in chunks(ids):
        connection.execute(
            delete(identity_manual_links).where(
                or_(
                    identity_manual_links.c.left_id.in_(chunk),
                    identity_manual_links.c.right_id.in_(chunk),
                )
            )
        )
    # The log keeps that a profile was erased, not who it was.
    connection.execute(
        update(identity_changes)
        .where(
            or_(
                identity_changes.c.profile_id == profile_id,
                identity_changes.c.other_profile_id == profile_id,
            )
        )
        .values(detail="{}", identifier_id=None)
    )
    repo.retire(connection, {profile_id: None})
    repo.log_changes(
        connection,
        [
            {
                "kind": "erased",
                "profile_id": profile_id,
                "rule": "privacy erasure",
                "detail": orjson.dumps(
                    {"identifiers": len(rows), "events": len(event_ids)}
                ).decode(),
                "actor": actor,
                "created_at": now,
            }
        ],
    )
    return Forgotten(sorted((r.type, r.value) for r in rows.values()), sorted(event_ids))


def partition(connection: Connection) -> list[frozenset[tuple[str, str]]]:
    """Every profile as the set of its identifiers (for checks and tests)."""
    groups: dict[str, set[tuple[str, str]]] = {}
    for row in connection.execute(
        select(identifiers.c.type, identifiers.c.value, identifiers.c.profile_id).where(
            identifiers.c.profile_id.is_not(None)
        )
    ):
        groups.setdefault(row.profile_id, set()).add((row.type, row.value))
    return [frozenset(g) for g in groups.values()]


def summary(connection: Connection) -> dict[str, int]:
    """Counts for status displays: profiles, identifiers, shared identifiers, merges, conflicts."""
    from sqlalchemy import func

    def count(statement: Any) -> int:
        return int(connection.execute(statement).scalar() or 0)

    return {
        "profiles": count(select(func.count(func.distinct(identifiers.c.profile_id)))),
        "identifiers": count(select(func.count()).select_from(identifiers)),
        "shared_identifiers": count(
            select(func.count()).select_from(identifiers).where(identifiers.c.shared.is_(True))
        ),
        "merges": count(
            select(func.count())
            .select_from(identity_changes)
            .where(identity_changes.c.kind == "merged")
        ),
        "conflicts": count(select(func.count()).select_from(identity_conflicts)),
    }


def event_ids_of_profiles(profile_ids: Collection[str]) -> Select[Any]:
    """A subquery of (event id, profile id) for every event attributed to these profiles
    (re-attributing many profiles at once, as `event_ids_of` does for one)."""
    return (
        select(identity_observations.c.event_id, identifiers.c.profile_id)
        .join(identifiers, identifiers.c.id == identity_observations.c.identifier_id)
        .where(identifiers.c.profile_id.in_(list(profile_ids)))
        .where(identity_observations.c.anchor.is_(True))
    )


def events_naming_profile(connection: Connection, profile_id: str) -> dict[int, str | None]:
    """Every event that carried one of the profile's identifiers (as its anchor or not), with
    the profile it is attributed to now (None: nobody); what an erasure takes away."""
    ids = list(repo.identifiers_of_profiles(connection, [profile_id]))
    event_ids: set[int] = set()
    for chunk in chunks(ids):
        event_ids.update(
            connection.execute(
                select(identity_observations.c.event_id).where(
                    identity_observations.c.identifier_id.in_(chunk)
                )
            ).scalars()
        )
    attributed = profiles_of_events(connection, sorted(event_ids))
    return {event_id: attributed.get(event_id) for event_id in sorted(event_ids)}
