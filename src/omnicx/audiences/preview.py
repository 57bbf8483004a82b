"""How many people an unsaved definition holds for right now: the segment builder's preview.

    found = count_matches(connection, definition, now, budget_seconds=0.8)
    while not found.done:                     # the next request goes on where this one stopped
        found = count_matches(connection, definition, now, start=found)
    found.matched, found.checked

Exact, and the same answer the membership consumer would give the definition as a segment:
every profile there is, in id order, page by page, with the facts the live path reads
(`membership.load_facts`: the profile document, the stored memberships of other segments,
the hits of event conditions) and the same evaluator. An event condition no stored segment
or scoring model uses has no hits yet: its times come from the profile's stored events, the
way `segments recompute --from-events` reads them (the same events, so the same answer).
Documents and memberships are read only when the definition has conditions on them.

On a large installation, counting everyone takes longer than one request should: with
`budget_seconds`, it stops after the page that used the budget up and says where it got to
(`after`); `count_matches(..., start=found)` continues. Profile ids are random (UUID 4), so
the people checked so far are a random sample of everyone and `progress` (the share of the
id space covered) says how far the count has got.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from omnicx.audiences import hits
from omnicx.audiences.definition import (
    ComputedCondition,
    ConsentCondition,
    Definition,
    EventCondition,
    IdentityCondition,
    TraitCondition,
    event_conditions,
    segment_references,
    walk,
)
from omnicx.audiences.evaluate import evaluate, event_times
from omnicx.audiences.facts import EventFact, PersonFacts
from omnicx.audiences.membership import load_facts, stored_members
from omnicx.audiences.segments import all_segments
from omnicx.collect.named_history import named_messages_of
from omnicx.identity import service as identity
from omnicx.store.clock import as_utc

PAGE: Final = 500
"""Profiles evaluated per round of queries."""
_ID_SPACE: Final = float(1 << 128)


@dataclass(frozen=True, slots=True)
class MatchCount:
    """How many of the profiles checked so far the definition holds for."""

    matched: int
    checked: int
    after: str
    """The last profile id checked ("" before the first): where a continuation starts."""
    done: bool
    """Whether every profile has been checked."""

    @property
    def progress(self) -> float | None:
        """The share of everyone checked, judged from the id space covered (profile ids are
        random UUIDs); 1.0 when done; None when the ids are not UUIDs."""
        if self.done:
            return 1.0
        if not self.after:
            return 0.0
        try:
            return min(1.0, uuid.UUID(self.after).int / _ID_SPACE)
        except ValueError:
            return None

    @property
    def share(self) -> float | None:
        """The share of the profiles checked that match; None before any was checked."""
        return self.matched / self.checked if self.checked else None


START: Final = MatchCount(matched=0, checked=0, after="", done=False)


def _needs_documents(definition: Definition) -> bool:
    return any(
        isinstance(c, TraitCondition | ComputedCondition | IdentityCondition | ConsentCondition)
        for _, c in walk(definition)
    )


def count_matches(
    connection: Connection,
    definition: Definition,
    now: datetime,
    *,
    start: MatchCount = START,
    budget_seconds: float | None = None,
    page: int = PAGE,
    clock: Callable[[], float] = time.monotonic,
) -> MatchCount:
    """Counts the profiles `definition` (checked: `segments.check`) holds for at `now`,
    going on from `start`; with `budget_seconds`, stops after the first page that ends
    past the budget (at least one page is always done)."""
    began = clock()
    conditions = event_conditions(definition)
    kept = hits.registered(connection)
    from_hits = [key for key in conditions if key in kept]
    from_events = {k: c for k, c in conditions.items() if k not in kept}
    documents = _needs_documents(definition)
    references = segment_references(definition)
    key_of = {s.id: s.key for s in all_segments(connection)} if references else {}
    matched, checked, after = start.matched, start.checked, start.after
    while True:
        ids = identity.profile_ids(connection, after=after, page=page)
        if not ids:
            return MatchCount(matched, checked, after, done=True)
        facts = _facts(connection, ids, from_hits, documents, key_of)
        if from_events:
            facts = _with_stored_event_times(connection, facts, from_events)
        matched += sum(1 for person in facts.values() if evaluate(definition, person, now))
        checked += len(ids)
        after = ids[-1]
        if len(ids) < page:
            return MatchCount(matched, checked, after, done=True)
        if budget_seconds is not None and clock() - began >= budget_seconds:
            return MatchCount(matched, checked, after, done=False)


def _facts(
    connection: Connection,
    ids: Sequence[str],
    keys: Collection[str],
    documents: bool,
    key_of: Mapping[int, str],
) -> dict[str, PersonFacts]:
    """The page's facts: as the live path loads them, leaving out what the definition does
    not read."""
    held: dict[str, list[str]] = {}
    if key_of:
        held = {
            p: [key_of[s] for s in segments if s in key_of]
            for p, segments in stored_members(connection, ids).items()
        }
    if documents:
        return load_facts(connection, ids, keys, memberships=held)
    times = hits.times_of(connection, ids, keys)
    return {
        p: PersonFacts(
            memberships=frozenset(held.get(p, ())),
            events=hits.event_times_of(times, p, keys),
        )
        for p in ids
    }


def _with_stored_event_times(
    connection: Connection,
    facts: Mapping[str, PersonFacts],
    conditions: Mapping[str, EventCondition],
) -> dict[str, PersonFacts]:
    """The facts with the times of these conditions taken from the profiles' stored events
    (the events `hits` would record for them: named events with their properties)."""
    names = {c.event for c in conditions.values()}
    events: dict[str, list[EventFact]] = {p: [] for p in facts}
    keyed = identity.event_ids_of_profiles(list(facts))
    for summary, message in named_messages_of(connection, keyed, names):
        if summary.type not in hits.NAMED_TYPES or summary.event is None:
            continue
        properties = message.get("properties")
        if summary.key in events:
            events[summary.key].append(
                EventFact(
                    summary.event,
                    as_utc(summary.timestamp),
                    summary.channel,
                    properties if isinstance(properties, dict) else {},
                )
            )
    found: dict[str, PersonFacts] = {}
    for profile_id, person in facts.items():
        times = _times_of(conditions, events[profile_id])
        found[profile_id] = replace(person, events={**person.events, **times})
    return found


def _times_of(
    conditions: Mapping[str, EventCondition], events: Sequence[EventFact]
) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = {}
    for condition in conditions.values():
        found.update(event_times(condition, events))
    return found
