"""Who is in which segment: evaluating profiles and keeping the answer.

The live consumer and the batch recompute share everything here: they load the same facts
(`load_facts`), evaluate them the same way (`Plan.evaluate`) and store the difference with the
stored members the same way (`settle`), so both give the same members by construction; the
test suite checks it on random event streams anyway.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, select, update

from omnicx.audiences import hits
from omnicx.audiences.definition import (
    AllOf,
    AnyOf,
    Definition,
    EventCondition,
    NotOf,
    SegmentCondition,
    event_conditions,
    walk,
)
from omnicx.audiences.evaluate import evaluate, next_change_at
from omnicx.audiences.facts import PersonFacts, facts_of_profile
from omnicx.audiences.segments import Segment
from omnicx.audiences.tables import audience_members, audience_segments, audience_timers
from omnicx.audiences.validation import check_cycles
from omnicx.collect.emit import IDENTIFIER_FIELDS, emit, with_identifier
from omnicx.identity.config import DEFAULT_PRIORITY
from omnicx.profiles import service as profiles
from omnicx.store.bulk import chunks
from omnicx.store.clock import as_utc, iso

log = logging.getLogger("omnicx.audiences")

ENTERED: Final = "Segment Entered"
EXITED: Final = "Segment Exited"
"""The events a membership change adds to the profile's timeline (and to the stream)."""


ANY_EVENT: Final = None
"""What a segment watches when any event may change its answer (traits, computed traits,
identities, consent can change with any event)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Segments in the order to evaluate them (each after the segments it refers to), with
    the event conditions they need and the event names each one's answer depends on."""

    segments: tuple[Segment, ...]
    conditions: Mapping[str, EventCondition]
    watches: Mapping[int, frozenset[str] | None] = field(default_factory=dict)
    """Segment id -> the event names that can change its answer (through the segments it
    refers to too); ANY_EVENT when any event can."""

    @classmethod
    def of(cls, segments: Sequence[Segment]) -> Plan:
        """The plan of these segments (a segment they refer to that is not among them is read
        from the stored memberships)."""
        by_key = {s.key: s for s in segments}
        order = check_cycles({s.key: s.definition for s in segments})
        ordered = tuple(by_key[k] for k in order)
        watches: dict[int, frozenset[str] | None] = {}
        for segment in ordered:
            watches[segment.id] = _watched(segment.definition, by_key, watches)
        return cls(ordered, conditions_of(s.definition for s in ordered), watches)

    @property
    def ids(self) -> frozenset[int]:
        """The ids of its segments."""
        return frozenset(s.id for s in self.segments)

    def affected_by(self, names: frozenset[str]) -> Plan:
        """The segments whose answer events with these names can change (in order)."""
        chosen = tuple(
            s
            for s in self.segments
            if (watched := self.watches.get(s.id, ANY_EVENT)) is ANY_EVENT or watched & names
        )
        watches = {s.id: self.watches.get(s.id) for s in chosen}
        return Plan(chosen, conditions_of(s.definition for s in chosen), watches)

    def evaluate(self, facts: PersonFacts, now: datetime) -> Outcome:
        """The segments the person is in at `now`, and when that changes by itself."""
        inside: set[str] = set(facts.memberships)
        # Segments referring to others read the memberships decided just before them.
        facts = replace(facts, memberships=inside)
        members: set[int] = set()
        changes: list[datetime] = []
        for segment in self.segments:
            if evaluate(segment.definition, facts, now):
                inside.add(segment.key)
                members.add(segment.id)
            else:
                inside.discard(segment.key)
            at = next_change_at(segment.definition, facts, now)
            if at is not None:
                changes.append(at)
        return Outcome(frozenset(members), min(changes, default=None))


def _watched(
    definition: Definition,
    by_key: Mapping[str, Segment],
    known: Mapping[int, frozenset[str] | None],
) -> frozenset[str] | None:
    names: set[str] = set()
    for _, condition in walk(definition):
        if isinstance(condition, EventCondition):
            names.add(condition.event)
        elif isinstance(condition, SegmentCondition):
            referred = by_key.get(condition.segment)
            watched = known.get(referred.id, ANY_EVENT) if referred is not None else ANY_EVENT
            if watched is ANY_EVENT:
                return ANY_EVENT
            names.update(watched)
        elif not isinstance(condition, AllOf | AnyOf | NotOf):
            return ANY_EVENT  # a trait, computed trait, identity or consent
    return frozenset(names)


def conditions_of(definitions: Any) -> dict[str, EventCondition]:
    """The event conditions of several definitions, by key."""
    found: dict[str, EventCondition] = {}
    for definition in definitions:
        found.update(event_conditions(definition))
    return found


@dataclass(frozen=True, slots=True)
class Outcome:
    """A profile's evaluation."""

    members: frozenset[int]
    next_change_at: datetime | None


@dataclass(slots=True)
class Changes:
    """What settling changed, per segment id."""

    entered: dict[int, int] = field(default_factory=dict)
    exited: dict[int, int] = field(default_factory=dict)

    def add(self, other: Changes) -> None:
        """Adds another settle's changes to these."""
        for mine, theirs in ((self.entered, other.entered), (self.exited, other.exited)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n


def load_facts(
    connection: Connection,
    profile_ids: Collection[str],
    conditions: Collection[str],
    *,
    memberships: Mapping[str, Collection[str]] | None = None,
) -> dict[str, PersonFacts]:
    """The facts of these profiles (those that still exist), with the hit times of the
    condition keys and, for segments outside the plan, their stored memberships by key."""
    documents = profiles.documents(connection, profile_ids)
    times = hits.times_of(connection, documents, conditions)
    held = memberships or {}
    return {
        p: facts_of_profile(
            document,
            memberships=frozenset(held.get(p, ())),
            events=hits.event_times_of(times, p, conditions),
        )
        for p, document in documents.items()
    }


def stored_members(
    connection: Connection, profile_ids: Collection[str]
) -> dict[str, dict[int, datetime]]:
    """Each profile's segments (id -> entered at)."""
    found: dict[str, dict[int, datetime]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(audience_members).where(audience_members.c.profile_id.in_(chunk))
        ):
            found.setdefault(row.profile_id, {})[row.segment_id] = as_utc(row.entered_at)
    return found


def settle(
    connection: Connection,
    plan: Plan,
    outcomes: Mapping[str, Outcome],
    facts: Mapping[str, PersonFacts],
    *,
    now: datetime,
    announce: Collection[int] | None = None,
    reason: str = "event",
    earlier_timers_only: bool = False,
) -> Changes:
    """Stores the outcomes: members who entered or left the plan's segments, and when each
    profile needs evaluating again (with `earlier_timers_only`, a timer only moves earlier:
    the plan is not every segment). Entering and leaving segments of `announce` (default:
    all) are emitted as events."""
    stored = stored_members(connection, outcomes)
    changes = Changes()
    entered_rows: list[dict[str, Any]] = []
    exited: list[tuple[int, str]] = []
    messages: list[dict[str, Any]] = []
    by_id = {s.id: s for s in plan.segments}
    for profile_id, outcome in sorted(outcomes.items()):
        held = {s for s in stored.get(profile_id, {}) if s in by_id}
        for segment_id in sorted(outcome.members - held):
            entered_rows.append(
                {"segment_id": segment_id, "profile_id": profile_id, "entered_at": now}
            )
            changes.entered[segment_id] = changes.entered.get(segment_id, 0) + 1
        for segment_id in sorted(held - outcome.members):
            exited.append((segment_id, profile_id))
            changes.exited[segment_id] = changes.exited.get(segment_id, 0) + 1
        moved = [(s, ENTERED) for s in sorted(outcome.members - held)] + [
            (s, EXITED) for s in sorted(held - outcome.members)
        ]
        for segment_id, event in moved:
            if announce is None or segment_id in announce:
                message = _membership_event(
                    by_id[segment_id], event, profile_id, facts, now, reason
                )
                if message is not None:
                    messages.append(message)
    for chunk in chunks(entered_rows, 2000):
        connection.execute(audience_members.insert(), chunk)
    for segment_id, profile_id in exited:
        connection.execute(
            delete(audience_members)
            .where(audience_members.c.segment_id == segment_id)
            .where(audience_members.c.profile_id == profile_id)
        )
    _count(connection, changes.entered, changes.exited)
    set_timers(
        connection,
        {p: o.next_change_at for p, o in outcomes.items()},
        earlier_only=earlier_timers_only,
    )
    emit(connection, messages)
    return changes


def set_timers(
    connection: Connection, due: Mapping[str, datetime | None], *, earlier_only: bool = False
) -> None:
    """Replaces these profiles' timers (None: none); with `earlier_only`, keeps a stored timer
    that is due sooner."""
    if earlier_only:
        stored = _timers_of(connection, due)
        due = {
            p: min((t for t in (at, stored.get(p)) if t is not None), default=None)
            for p, at in due.items()
        }
    for ids in chunks(sorted(due)):
        connection.execute(delete(audience_timers).where(audience_timers.c.profile_id.in_(ids)))
    rows = [{"profile_id": p, "due_at": at} for p, at in sorted(due.items()) if at is not None]
    for part in chunks(rows, 2000):
        connection.execute(audience_timers.insert(), part)


def _timers_of(connection: Connection, profile_ids: Collection[str]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(audience_timers).where(audience_timers.c.profile_id.in_(chunk))
        ):
            found[row.profile_id] = as_utc(row.due_at)
    return found


def due_profiles(connection: Connection, now: datetime, *, limit: int = 5000) -> list[str]:
    """Profiles whose timer is due at `now`, earliest first."""
    return list(
        connection.execute(
            select(audience_timers.c.profile_id)
            .where(audience_timers.c.due_at <= now)
            .order_by(audience_timers.c.due_at, audience_timers.c.profile_id)
            .limit(limit)
        ).scalars()
    )


def _count(connection: Connection, entered: Mapping[int, int], exited: Mapping[int, int]) -> None:
    """Keeps each segment's member_count in step with the members just stored or deleted."""
    for segment_id in sorted(entered.keys() | exited.keys()):
        delta = entered.get(segment_id, 0) - exited.get(segment_id, 0)
        if delta:
            connection.execute(
                update(audience_segments)
                .where(audience_segments.c.id == segment_id)
                .values(member_count=audience_segments.c.member_count + delta)
            )


def forget_profiles(connection: Connection, profile_ids: Collection[str]) -> None:
    """Drops everything kept about profiles that no longer exist (merged away, erased)."""
    for chunk in chunks(sorted(profile_ids)):
        left = connection.execute(
            delete(audience_members)
            .where(audience_members.c.profile_id.in_(chunk))
            .returning(audience_members.c.segment_id)
        ).scalars()
        _count(connection, {}, Counter(int(segment_id) for segment_id in left))
        connection.execute(delete(audience_timers).where(audience_timers.c.profile_id.in_(chunk)))


def forget_members(connection: Connection, segment_ids: Collection[int]) -> None:
    """Deletes every member of these segments."""
    if segment_ids:
        connection.execute(
            delete(audience_members).where(audience_members.c.segment_id.in_(sorted(segment_ids)))
        )
        connection.execute(
            update(audience_segments)
            .where(audience_segments.c.id.in_(sorted(segment_ids)))
            .values(member_count=0)
        )


def _membership_event(
    segment: Segment,
    event: str,
    profile_id: str,
    facts: Mapping[str, PersonFacts],
    now: datetime,
    reason: str,
) -> dict[str, Any] | None:
    """The message recording a membership change."""
    kind = "entered" if event == ENTERED else "exited"
    return profile_event(
        event,
        {
            "segment": segment.key,
            "segment_name": segment.name,
            "segment_id": segment.id,
            "profile_id": profile_id,
            "reason": reason,
        },
        facts.get(profile_id),
        now,
        f"segment-{segment.id}-{kind}-{profile_id}-{round(now.timestamp() * 1e6)}",
    )


def profile_event(
    event: str,
    properties: dict[str, Any],
    person: PersonFacts | None,
    now: datetime,
    message_id: str,
) -> dict[str, Any] | None:
    """A track message about a profile, carrying one of its identifiers (so identity
    attributes it to the profile and it cannot merge anything); None, with a warning, for a
    profile with no identifier such a message can carry."""
    identifier = _identifier_of(person) if person is not None else None
    if identifier is None:
        log.warning("profile %s has no identifier an event can carry: %s not emitted",
                    properties.get("profile_id"), event)  # fmt: skip
        return None
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "timestamp": iso(now),
        "properties": properties,
        "context": {"library": {"name": "omnicx"}},
    }
    return with_identifier(message, *identifier)


def _identifier_of(facts: PersonFacts) -> tuple[str, str] | None:
    for kind in DEFAULT_PRIORITY:
        if kind in IDENTIFIER_FIELDS and facts.identities.get(kind):
            return kind, min(facts.identities[kind])
    return None


def evaluate_all(plan: Plan, facts: Mapping[str, PersonFacts], now: datetime) -> dict[str, Outcome]:
    """Each profile's outcome."""
    return {p: plan.evaluate(f, now) for p, f in facts.items()}


def definitions_of(segments: Sequence[Segment]) -> dict[str, Definition]:
    """The definitions by key."""
    return {s.key: s.definition for s in segments}


def member_counts(connection: Connection) -> dict[int, int]:
    """How many members each segment has (segments without members are absent): the counts
    kept beside the members, not a count of every membership."""
    rows = connection.execute(
        select(audience_segments.c.id, audience_segments.c.member_count).where(
            audience_segments.c.member_count > 0
        )
    )
    return {int(segment_id): int(n) for segment_id, n in rows}


def members_page(
    connection: Connection, segment_id: int, *, after: str = "", limit: int = 100
) -> list[tuple[str, datetime]]:
    """A page of a segment's members (profile id, entered at), by profile id after `after`."""
    rows = connection.execute(
        select(audience_members.c.profile_id, audience_members.c.entered_at)
        .where(audience_members.c.segment_id == segment_id)
        .where(audience_members.c.profile_id > after)
        .order_by(audience_members.c.profile_id)
        .limit(limit)
    )
    return [(r.profile_id, as_utc(r.entered_at)) for r in rows]


def memberships_of(connection: Connection, profile_id: str) -> list[tuple[str, str, datetime]]:
    """The segments a profile is in: (key, name, entered at), by key."""
    rows = connection.execute(
        select(audience_segments.c.key, audience_segments.c.name, audience_members.c.entered_at)
        .join(audience_segments, audience_segments.c.id == audience_members.c.segment_id)
        .where(audience_members.c.profile_id == profile_id)
        .order_by(audience_segments.c.key)
    )
    return [(r.key, r.name, as_utc(r.entered_at)) for r in rows]
