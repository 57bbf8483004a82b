"""Keeping the identity graph up to date, one batch of events at a time.

Most events change nothing: their identifiers are already known and already in one profile
(a logged-in customer browsing). Those are only recorded as observations. An event that brings
a new identifier, links two profiles, or arrives late with a link the graph did not have at its
time marks its *component* (everything connected to it through evidence) for recomputation:
the resolution rule (identity/resolve.py) is replayed over the component's evidence and the
difference is written back as merges and splits, logged in `identity_changes`. The result is
the same whatever order the events arrived in.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import Connection, update

from omnicx.identity import repository as repo
from omnicx.identity.config import IdentityConfig
from omnicx.identity.extract import Identifier
from omnicx.identity.resolve import Conflict, Evidence, Link, Resolution, connected_before, resolve
from omnicx.identity.tables import (
    identifiers,
    identity_cooccurrence,
    identity_evidence,
    identity_observations,
)
from omnicx.store.bulk import chunks, insert_ignoring_duplicates, update_by_key
from omnicx.store.clock import utc_now


def order_key(source_id: int, message_id: str) -> int:
    """A tie-breaker for events at the same instant that depends only on the event itself."""
    digest = hashlib.blake2b(f"{source_id}:{message_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True)
class Sighting:
    """One event's identifiers, ready for the graph."""

    event_id: int
    occurred_at: datetime
    order_key: int
    identifiers: tuple[Identifier, ...]
    """Normalised, in priority order (the first is the one the event is attributed to)."""


@dataclass(slots=True)
class BatchReport:
    """What one batch did to the graph."""

    events: int = 0
    new_identifiers: int = 0
    recomputed_components: int = 0
    merges: int = 0
    splits: int = 0
    newly_shared: int = 0
    profiles_changed: set[str] = field(default_factory=set)


def observe(
    connection: Connection,
    config: IdentityConfig,
    sightings: Sequence[Sighting],
    *,
    actor: str = "processing",
) -> BatchReport:
    """Records a batch's identifiers and brings the profiles up to date with them."""
    report = BatchReport(events=len(sightings))
    keys = {i for s in sightings for i in s.identifiers}
    if not keys:
        return report
    stored = repo.identifiers_by_key(connection, keys)
    first_seen: dict[Identifier, datetime] = {}
    last_seen: dict[Identifier, datetime] = {}
    for sighting in sightings:
        for key in sighting.identifiers:
            if key not in first_seen or sighting.occurred_at < first_seen[key]:
                first_seen[key] = sighting.occurred_at
            if key not in last_seen or sighting.occurred_at > last_seen[key]:
                last_seen[key] = sighting.occurred_at
    new_keys = [k for k in keys if k not in stored]
    if new_keys:
        insert_ignoring_duplicates(
            connection,
            identifiers,
            [
                {
                    "type": t,
                    "value": v,
                    "shared": False,
                    "first_seen_at": first_seen[(t, v)],
                    "last_seen_at": last_seen[(t, v)],
                }
                for t, v in new_keys
            ],
        )
        stored.update(repo.identifiers_by_key(connection, new_keys))
        report.new_identifiers = len(new_keys)
    seeds = _update_seen(connection, config, stored, first_seen, last_seen, set(new_keys))

    ids_of = [tuple(stored[k].id for k in s.identifiers) for s in sightings]
    _record_observations(connection, config, sightings, ids_of, stored)
    newly_shared = _update_sharing(connection, config, sightings, ids_of, stored)
    report.newly_shared = len(newly_shared)
    seeds |= newly_shared

    by_id = {row.id: row for row in stored.values()}
    # New identifiers, and known ones a rebuild has detached, need a profile.
    unassigned = {r.id for r in stored.values() if r.profile_id is None and not r.shared}
    seeds |= _events_needing_replay(connection, sightings, ids_of, by_id, unassigned)
    # Known identifiers a rebuild detached may hold evidence already (a person's link).
    detached = unassigned - {stored[k].id for k in new_keys}
    if detached:
        linked = repo.evidence_rows(connection, repo.evidence_events_of(connection, detached))
        seeds |= {identifier for _, identifier, _, _ in linked} & detached
    singletons = sorted(i for i in unassigned if i not in seeds)
    if singletons:
        _give_own_profiles(connection, [by_id[i] for i in singletons], report)
    if seeds:
        recompute(connection, config, seeds, report=report, actor=actor)
    return report


def _give_own_profiles(
    connection: Connection, rows: Sequence[repo.IdentifierRow], report: BatchReport
) -> None:
    """A profile of its own for each identifier (seen alone so far); a rebuilt identifier
    gets its old id back."""
    origins = [r.origin_profile_id for r in rows if r.origin_profile_id]
    taken = repo.active_profile_ids(connection, origins) if origins else set()
    known = repo.known_profile_ids(connection, origins) if origins else set()
    chosen: list[tuple[int, str]] = []
    for row in rows:
        origin = row.origin_profile_id
        if origin and origin not in taken:
            taken.add(origin)
            chosen.append((row.id, origin))
        else:
            chosen.append((row.id, repo.new_profile_id()))
    repo.insert_profiles(connection, [p for _, p in chosen if p not in known])
    repo.assign(connection, chosen)
    repo.set_linked_until(connection, {p: None for _, p in chosen})
    report.profiles_changed.update(p for _, p in chosen)


def _update_seen(
    connection: Connection,
    config: IdentityConfig,
    stored: Mapping[Identifier, repo.IdentifierRow],
    first_seen: Mapping[Identifier, datetime],
    last_seen: Mapping[Identifier, datetime],
    new_keys: Collection[Identifier],
) -> set[int]:
    """Widens known identifiers' first/last seen; returns those whose earlier first sighting
    matters to a windowed limit (their component must be replayed)."""
    earlier: list[dict[str, object]] = []
    replay: set[int] = set()
    for key, row in stored.items():
        if key in new_keys:
            continue
        if first_seen[key] < row.first_seen_at:
            earlier.append({"id": row.id, "first_seen_at": first_seen[key]})
            row.first_seen_at = first_seen[key]
            if config.types[row.type].window_days:
                replay.add(row.id)
    update_by_key(connection, identifiers, "id", earlier)
    # last_seen only moves forward; written once per identifier per batch.
    update_by_key(
        connection,
        identifiers,
        "id",
        [
            {"id": stored[k].id, "last_seen_at": at}
            for k, at in last_seen.items()
            if k not in new_keys
        ],
        keep_greatest=["last_seen_at"],
    )
    return replay


def set_key(identifier_ids: Iterable[int]) -> int:
    """A number naming a set of identifiers (the same whatever their order)."""
    text = ",".join(str(i) for i in sorted(identifier_ids))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def _record_observations(
    connection: Connection,
    config: IdentityConfig,
    sightings: Sequence[Sighting],
    ids_of: Sequence[tuple[int, ...]],
    stored: Mapping[Identifier, repo.IdentifierRow],
) -> None:
    observations: list[dict[str, object]] = []
    earliest: dict[int, tuple[tuple[datetime, int], Sighting, tuple[int, ...]]] = {}
    every: list[tuple[int, Sighting, tuple[int, ...]]] = []
    for sighting, ids in zip(sightings, ids_of, strict=True):
        anchor = next((stored[k].id for k in sighting.identifiers if not stored[k].shared), None)
        if anchor is None and ids:
            anchor = ids[0]
        for identifier in ids:
            observations.append(
                {
                    "identifier_id": identifier,
                    "event_id": sighting.event_id,
                    "anchor": identifier == anchor,
                }
            )
        if len(ids) > 1:
            key = set_key(ids)
            position = (sighting.occurred_at, sighting.order_key)
            every.append((key, sighting, ids))
            if key not in earliest or position < earliest[key][0]:
                earliest[key] = (position, sighting, ids)
    # Ignoring duplicates makes replaying a batch after a crash harmless.
    insert_ignoring_duplicates(connection, identity_observations, observations)
    # A windowed limit may refuse a set once and accept it later: then keep every event.
    chosen = every if config.has_windows else _earliest_new_sets(connection, earliest)
    insert_ignoring_duplicates(
        connection,
        identity_evidence,
        [
            {
                "event_id": sighting.event_id,
                "identifier_id": identifier,
                "set_key": key,
                "occurred_at": sighting.occurred_at,
                "order_key": sighting.order_key,
            }
            for key, sighting, ids in chosen
            for identifier in ids
        ],
    )


def _earliest_new_sets(
    connection: Connection,
    earliest: Mapping[int, tuple[tuple[datetime, int], Sighting, tuple[int, ...]]],
) -> list[tuple[int, Sighting, tuple[int, ...]]]:
    """The batch's sets of identifiers that are new, or seen earlier than the evidence says
    (the later event they replace is dropped from the evidence)."""
    stored = repo.evidence_positions(connection, list(earliest))
    chosen: list[tuple[int, Sighting, tuple[int, ...]]] = []
    replaced: list[int] = []
    for key, (position, sighting, ids) in earliest.items():
        known = stored.get(key)
        if known is None:
            chosen.append((key, sighting, ids))
        elif position < known[1]:
            replaced.append(key)
            chosen.append((key, sighting, ids))
    if replaced:
        repo.drop_evidence_sets(connection, replaced)
    return chosen


def _update_sharing(
    connection: Connection,
    config: IdentityConfig,
    sightings: Sequence[Sighting],
    ids_of: Sequence[tuple[int, ...]],
    stored: Mapping[Identifier, repo.IdentifierRow],
) -> set[int]:
    """Counts person keys seen with each identifier; returns the identifiers that just became
    shared (their component must be replayed without them)."""
    person_keys = {r.id for r in stored.values() if config.types[r.type].is_person_key}
    pairs: set[tuple[int, int]] = set()
    for ids in ids_of:
        keys_here = [i for i in ids if i in person_keys]
        for key in keys_here:
            pairs.update((other, key) for other in ids if other != key)
    if not pairs:
        return set()
    insert_ignoring_duplicates(
        connection,
        identity_cooccurrence,
        [{"identifier_id": i, "person_key_id": k} for i, k in pairs],
    )
    candidates = {i for i, _ in pairs}
    by_id = {r.id: r for r in stored.values()}
    crossed = repo.shared_among(connection, candidates, config.max_people)
    newly = {i for i in crossed if not by_id[i].shared}
    if not newly:
        return set()
    for identifier in newly:
        by_id[identifier].shared = True
    connection.execute(update(identifiers).where(identifiers.c.id.in_(newly)).values(shared=True))
    return newly


def _events_needing_replay(
    connection: Connection,
    sightings: Sequence[Sighting],
    ids_of: Sequence[tuple[int, ...]],
    by_id: Mapping[int, repo.IdentifierRow],
    new_ids: Collection[int],
) -> set[int]:
    """Identifiers whose component the batch may change (the rest of the batch is a no-op)."""
    seeds: set[int] = set()
    late: dict[str, list[tuple[Sighting, tuple[int, ...]]]] = {}
    for sighting, all_ids in zip(sightings, ids_of, strict=True):
        ids = tuple(i for i in all_ids if not by_id[i].shared)
        if len(ids) < 2:
            continue
        profiles = {by_id[i].profile_id for i in ids}
        if any(i in new_ids for i in ids) or len(profiles) != 1 or None in profiles:
            seeds.update(ids)
            continue
        (profile,) = profiles
        assert profile is not None
        late.setdefault(profile, []).append((sighting, ids))
    if not late:
        return seeds
    until = repo.linked_until(connection, list(late))
    for profile, items in late.items():
        newest = until.get(profile)
        pending = [
            (s, ids) for s, ids in items if newest is None or (s.occurred_at, s.order_key) < newest
        ]
        if not pending:
            continue
        links = repo.links_of_profile(connection, profile)
        for sighting, ids in pending:
            if not connected_before(links, ids, (sighting.occurred_at, sighting.order_key)):
                seeds.update(ids)
    return seeds


def component_of(connection: Connection, seeds: Collection[int]) -> dict[int, repo.IdentifierRow]:
    """Everything connected to the seeds through evidence or a shared profile (shared
    identifiers included as members, but never followed)."""
    members = repo.identifiers_by_id(connection, seeds)
    # A seed that just turned shared still names the profile it held together.
    held = {r.profile_id for r in members.values() if r.shared and r.profile_id}
    if held:
        members.update(repo.identifiers_of_profiles(connection, held))
    frontier = {i for i, r in members.items() if not r.shared}
    seen_events: set[int] = set()
    while frontier:
        profiles = {p for i in frontier if (p := members[i].profile_id)}
        additions = repo.identifiers_of_profiles(connection, profiles) if profiles else {}
        events = repo.evidence_events_of(connection, frontier) - seen_events
        seen_events |= events
        linked_ids = {row[1] for row in repo.evidence_rows(connection, events)} if events else set()
        unknown = (linked_ids | set(additions)) - set(members)
        additions.update(repo.identifiers_by_id(connection, unknown - set(additions)))
        frontier = set()
        for identifier, row in additions.items():
            if identifier not in members:
                members[identifier] = row
                if not row.shared:
                    frontier.add(identifier)
    return members


def recompute(
    connection: Connection,
    config: IdentityConfig,
    seeds: Collection[int],
    *,
    report: BatchReport | None = None,
    actor: str = "processing",
    rule: str | None = None,
    restore: Mapping[str, Collection[int]] | None = None,
) -> Resolution:
    """Replays the resolution rule over the seeds' component and writes the difference."""
    report = report if report is not None else BatchReport()
    members = component_of(connection, seeds)
    linkable = {i: r for i, r in members.items() if not r.shared}
    events = repo.evidence_events_of(connection, linkable)
    grouped: dict[int, list[int]] = {}
    positions: dict[int, tuple[datetime, int]] = {}
    for event_id, identifier, occurred_at, key in repo.evidence_rows(connection, events):
        grouped.setdefault(event_id, []).append(identifier)
        positions[event_id] = (occurred_at, key)
    evidence = [
        Evidence(positions[e][0], positions[e][1], e, tuple(ids)) for e, ids in grouped.items()
    ]
    separations = repo.separations_touching(connection, linkable)
    resolution = resolve(config, repo.as_known(linkable.values()), evidence, separations)
    report.recomputed_components += 1
    _write(connection, members, resolution, report, actor, rule, restore or {})
    return resolution


def _choose_ids(
    connection: Connection,
    members: Mapping[int, repo.IdentifierRow],
    profiles: Sequence[frozenset[int]],
    restore: Mapping[str, Collection[int]],
) -> list[str]:
    """A profile id per new profile: the one most of its identifiers had, else the first id
    most of them were given (an unmerge gets its old id back), else a new one."""
    order = sorted(range(len(profiles)), key=lambda n: (-len(profiles[n]), min(profiles[n])))
    created = repo.created_at(connection, {p for r in members.values() if (p := r.profile_id)})
    all_origins = {p for r in members.values() if (p := r.origin_profile_id)}
    taken = repo.active_profile_ids(connection, all_origins) if all_origins else set()
    chosen: dict[int, str] = {}
    used: set[str] = set()
    for n in order:
        group = profiles[n]
        wanted = [p for p, ids in restore.items() if len(group & set(ids)) * 2 > len(ids)]
        current: Counter[str] = Counter(p for i in group if (p := members[i].profile_id))
        # The id most of the identifiers have; between equals, the oldest profile's.
        candidates = [p for p in wanted if p not in used] or [
            p
            for p, _ in sorted(current.items(), key=lambda kv: (-kv[1], created[kv[0]], kv[0]))
            if p not in used
        ]
        if candidates:
            chosen[n] = candidates[0]
        else:
            origins: Counter[str] = Counter(p for i in group if (p := members[i].origin_profile_id))
            free = [
                p
                for p, _ in sorted(origins.items(), key=lambda kv: (-kv[1], kv[0]))
                if p not in used and (p not in taken or p in current)
            ]
            chosen[n] = free[0] if free else repo.new_profile_id()
        used.add(chosen[n])
    return [chosen[n] for n in range(len(profiles))]


def _write(
    connection: Connection,
    members: Mapping[int, repo.IdentifierRow],
    resolution: Resolution,
    report: BatchReport,
    actor: str,
    rule: str | None,
    restore: Mapping[str, Collection[int]],
) -> None:
    profiles = resolution.profiles
    chosen = _choose_ids(connection, members, profiles, restore)
    profile_of: dict[int, str | None] = {}
    for group, profile in zip(profiles, chosen, strict=True):
        for identifier in group:
            profile_of[identifier] = profile
    for identifier, row in members.items():
        if row.shared:
            profile_of[identifier] = None

    old_profiles = {r.profile_id for r in members.values() if r.profile_id}
    new_profiles = set(chosen)
    known = repo.known_profile_ids(connection, new_profiles)
    repo.insert_profiles(connection, sorted(new_profiles - known))
    moved = [(i, p) for i, p in profile_of.items() if members[i].profile_id != p]
    repo.assign(connection, moved)

    changes = _describe(members, resolution, profile_of, old_profiles, new_profiles, actor, rule)
    for change in changes:
        if change["kind"] == "merged":
            report.merges += 1
        elif change["kind"] == "split":
            report.splits += 1
    repo.log_changes(connection, changes)

    moved_to: dict[str, Counter[str | None]] = {}
    for identifier, row in members.items():
        if row.profile_id is not None and row.profile_id not in new_profiles:
            moved_to.setdefault(row.profile_id, Counter())[profile_of[identifier]] += 1
    retired: dict[str, str | None] = {}
    for old in old_profiles - new_profiles:
        into = moved_to.get(old, Counter())
        retired[old] = max(into, key=lambda p: (into[p], p or "")) if into else None
    repo.retire(connection, retired)

    links_by_profile: dict[str, list[Link]] = {}
    for link in resolution.links:
        owner = profile_of[link.anchor]
        assert owner is not None
        links_by_profile.setdefault(owner, []).append(link)
    repo.replace_links(
        connection,
        list(members),
        [(p, link) for p, links in links_by_profile.items() for link in links],
    )
    repo.set_linked_until(
        connection,
        {
            p: max(
                ((lk.occurred_at, lk.order_key) for lk in links_by_profile.get(p, [])), default=None
            )
            for p in new_profiles
        },
    )
    repo.replace_conflicts(
        connection, list(members), _conflict_rows(resolution.conflicts, profile_of)
    )
    report.profiles_changed.update(p for _, p in moved if p)
    report.profiles_changed.update(p for i, _ in moved if (p := members[i].profile_id))


def _describe(
    members: Mapping[int, repo.IdentifierRow],
    resolution: Resolution,
    profile_of: Mapping[int, str | None],
    old_profiles: set[str],
    new_profiles: set[str],
    actor: str,
    rule: str | None,
) -> list[dict[str, object]]:
    """The log entries for the difference between the old and new partition."""
    now = utc_now()
    old_of = {i: r.profile_id for i, r in members.items()}
    old_members: dict[str, list[int]] = {}
    for identifier, profile in old_of.items():
        if profile:
            old_members.setdefault(profile, []).append(identifier)
    changes: list[dict[str, object]] = []
    # Each identifier's joins, in the order the rule made them (to name the one that merged).
    links_of: dict[int, list[int]] = {}
    for n, link in enumerate(resolution.links):
        links_of.setdefault(link.anchor, []).append(n)
        links_of.setdefault(link.joined, []).append(n)
    for old, ids in sorted(old_members.items()):
        destinations = Counter(profile_of[i] for i in ids)
        for destination in sorted(d for d in destinations if d):
            if destination == old:
                continue
            if old not in new_profiles and destination in old_members:
                # `old`'s identifiers joined `destination`: a merge; find the join that did it.
                via = _joining_link(resolution.links, links_of, set(ids))
                changes.append(
                    {
                        "kind": "merged",
                        "profile_id": destination,
                        "other_profile_id": old,
                        "identifier_id": via.joined if via else None,
                        "event_id": via.event_id if via else None,
                        "rule": rule or _merge_rule(members, via),
                        "detail": orjson.dumps(
                            {"kept": sorted(old_members[destination]), "merged": sorted(ids)}
                        ).decode(),
                        "actor": actor,
                        "created_at": now,
                    }
                )
            else:
                moved = sorted(i for i in ids if profile_of[i] == destination)
                changes.append(
                    {
                        "kind": "split",
                        "profile_id": old,
                        "other_profile_id": destination,
                        "identifier_id": None,
                        "event_id": None,
                        "rule": rule or "replayed: the evidence no longer joins these identifiers",
                        "detail": orjson.dumps({"moved": moved}).decode(),
                        "actor": actor,
                        "created_at": now,
                    }
                )
    for identifier, row in members.items():
        if row.shared and row.profile_id:
            changes.append(
                {
                    "kind": "shared",
                    "profile_id": row.profile_id,
                    "other_profile_id": None,
                    "identifier_id": identifier,
                    "event_id": None,
                    "rule": f"{row.type} seen with too many people: it links nothing any more",
                    "detail": orjson.dumps({"identifier": [row.type, row.value]}).decode(),
                    "actor": actor,
                    "created_at": now,
                }
            )
    return changes


def _joining_link(
    links: Sequence[Link], links_of: Mapping[int, list[int]], merged: set[int]
) -> Link | None:
    """The first join between one of `merged` and an identifier outside it."""
    for n in sorted({n for i in merged for n in links_of.get(i, ())}):
        link = links[n]
        if not (link.anchor in merged and link.joined in merged):
            return link
    return None


def _merge_rule(members: Mapping[int, repo.IdentifierRow], via: Link | None) -> str:
    if via is None:
        return "replayed"
    a, b = members[via.anchor], members[via.joined]
    return f"same event carried {a.type} and {b.type}"


def _conflict_rows(
    conflicts: Sequence[Conflict], profile_of: Mapping[int, str | None]
) -> list[dict[str, object]]:
    grouped: dict[tuple[int, str | None, str], list[Conflict]] = {}
    for conflict in conflicts:
        key = (conflict.identifier_id, profile_of.get(conflict.anchor), conflict.reason)
        grouped.setdefault(key, []).append(conflict)
    now = utc_now()
    rows: list[dict[str, object]] = []
    for (identifier, profile, reason), items in grouped.items():
        first = items[0]
        rows.append(
            {
                "identifier_id": identifier,
                "anchor_id": first.anchor,
                "profile_id": profile,
                "other_profile_id": profile_of.get(identifier),
                "reason": reason,
                "detail": first.detail,
                "first_event_id": first.event_id,
                "first_occurred_at": first.occurred_at,
                "events": len(items),
                "created_at": now,
            }
        )
    return rows


def forget_identifier_rows(connection: Connection, identifier_ids: Collection[int]) -> None:
    """Deletes identifiers and everything recorded about them (erasure)."""
    from sqlalchemy import delete, or_

    from omnicx.identity.tables import identity_conflicts, identity_links

    for chunk in chunks(list(identifier_ids)):
        connection.execute(
            delete(identity_observations).where(identity_observations.c.identifier_id.in_(chunk))
        )
        connection.execute(
            delete(identity_evidence).where(identity_evidence.c.identifier_id.in_(chunk))
        )
        connection.execute(
            delete(identity_cooccurrence).where(
                or_(
                    identity_cooccurrence.c.identifier_id.in_(chunk),
                    identity_cooccurrence.c.person_key_id.in_(chunk),
                )
            )
        )
        connection.execute(
            delete(identity_links).where(
                or_(identity_links.c.anchor_id.in_(chunk), identity_links.c.joined_id.in_(chunk))
            )
        )
        connection.execute(
            delete(identity_conflicts).where(
                or_(
                    identity_conflicts.c.identifier_id.in_(chunk),
                    identity_conflicts.c.anchor_id.in_(chunk),
                )
            )
        )
        connection.execute(delete(identifiers).where(identifiers.c.id.in_(chunk)))
