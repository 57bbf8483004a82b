"""Live segment membership: the stream consumer after the profile builder.

Each batch, inside the batch's transaction:

1. keeps hits for every event condition the segments use (a new condition is first filled in
   from the events already stored), and brings new and changed segment definitions live
   (everyone evaluated against them) before the batch's own hits, so that whoever the batch
   brings in enters them live;
2. follows the identity change feed: profiles merged away or erased lose their memberships,
   profiles a merge, split or unmerge changed are evaluated again;
3. brings live what is still pending (after a replay, every segment);
4. evaluates the profiles of the batch's events, those the identity changes named and those
   whose timer is due (a "in the last 7 days" window slid past an event), and stores who
   entered and left which segment, emitting `Segment Entered` / `Segment Exited` events.

When no events arrive, `idle` still does 2–4, so time-based exits and API changes happen on
time. After an identity rebuild sets the consumer back, the replayed events only refresh hits;
once past where it was, every segment is evaluated again for everyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, select, update

from omnicx.audiences import hits
from omnicx.audiences.definition import EventCondition, segment_references
from omnicx.audiences.membership import (
    Plan,
    conditions_of,
    due_profiles,
    evaluate_all,
    forget_profiles,
    load_facts,
    settle,
    stored_members,
)
from omnicx.audiences.recompute import prepare
from omnicx.audiences.scoring_live import conditions_of_models, prepare_models, score_people
from omnicx.audiences.scoring_store import StoredModel, all_models, forget_scores
from omnicx.audiences.segments import Segment, all_segments
from omnicx.audiences.tables import (
    audience_positions,
    audience_scoring_models,
    audience_segments,
)
from omnicx.collect.processing import StoredEvent, checkpoint
from omnicx.identity import service as identity
from omnicx.profiles.consumer import CONSUMER_NAME as PROFILES_CONSUMER
from omnicx.store.bulk import chunks
from omnicx.store.clock import utc_now

log = logging.getLogger("omnicx.audiences")

CONSUMER_NAME: Final = "audiences.membership"
CHANGES: Final = "identity_changes"
EVENTS: Final = "events"
EVALUATE_CHUNK: Final = 500


class SegmentMembership:
    """Stream consumer: keeps every profile's segment memberships live."""

    name = CONSUMER_NAME
    upstream = PROFILES_CONSUMER
    needs_payload = True

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        """Processes a batch of events (see the module's description)."""
        self._run(connection, batch)

    def idle(self, connection: Connection) -> None:
        """Runs what does not need new events: identity changes, new definitions, timers."""
        self._run(connection, ())

    def _run(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        now = self._clock()
        position = checkpoint(connection, CONSUMER_NAME)
        through = batch[-1].id if batch else position
        held = _positions(connection)
        high = held.get(EVENTS, 0)
        segments = all_segments(connection)
        models = all_models(connection)
        matcher = sync_conditions(connection, segments, models, through=position)
        if position >= high:  # live, not replaying after an identity rebuild
            # New definitions go live with the events before this batch: whoever this batch
            # brings in enters them live, with `Segment Entered` (prepare announces nothing).
            segments = _prepare_pending(connection, segments, now)
        if batch:
            hits.record(connection, matcher, batch)
            hits.advance(connection, matcher.conditions, through)
        if through < high:
            return  # replaying events evaluated before (an identity rebuild): hits only
        if position < high:
            log.info("replay finished at %d: evaluating every segment again", through)
            segments, models = _unready(connection)
        fully, rebuilt = follow_identity(connection, held.get(CHANGES, 0))
        if rebuilt:
            segments, models = _unready(connection)
        fully.update(due_profiles(connection, now))
        by_events = _names_by_profile(connection, batch)
        fully.update(_first_seen(connection, by_events, batch))
        evaluate_live(connection, segments, now, by_events=by_events, fully=fully,
                      models=models)  # fmt: skip
        if batch:
            _set_positions(connection, {EVENTS: max(high, through)})


def _prepare_pending(
    connection: Connection, segments: Sequence[Segment], now: datetime
) -> list[Segment]:
    """Brings the segments that are not ready live (with those referring to them); returns
    every segment as stored now."""
    pending = [s for s in segments if not s.ready]
    if not pending:
        return list(segments)
    prepare(connection, _with_dependents(segments, pending), now)
    return all_segments(connection)


def _names_by_profile(
    connection: Connection, batch: Sequence[StoredEvent]
) -> dict[str, frozenset[str]]:
    """Each profile of the batch's events, with the names of its events in the batch."""
    if not batch:
        return {}
    attributed = identity.profiles_of_events(connection, [e.id for e in batch])
    found: dict[str, set[str]] = {}
    for event in batch:
        profile_id = attributed.get(event.id)
        if profile_id is not None:
            names = found.setdefault(profile_id, set())
            if event.type in hits.NAMED_TYPES and event.event is not None:
                names.add(event.event)
    return {p: frozenset(n) for p, n in found.items()}


def _first_seen(
    connection: Connection, by_events: Mapping[str, frozenset[str]], batch: Sequence[StoredEvent]
) -> set[str]:
    """The profiles whose first events are in this batch: never evaluated, so they are
    evaluated against every segment (a "did not" segment watches only its event, yet holds
    for a new person who did nothing it watches)."""
    if not batch:
        return set()
    first_id = min(event.id for event in batch)
    firsts = identity.first_event_ids(connection, list(by_events))
    return {profile_id for profile_id, first in firsts.items() if first >= first_id}


def sync_conditions(
    connection: Connection,
    segments: Sequence[Segment],
    models: Sequence[StoredModel] = (),
    *,
    through: int,
) -> hits.Matcher:
    """Keeps hits for exactly the event conditions of these segments and scoring models: new
    ones are filled in from the stored events up to `through`, unused ones are dropped."""
    wanted = {**_conditions(segments), **conditions_of_models(models)}
    kept = hits.registered(connection)
    hits.register(connection, {k: c for k, c in wanted.items() if k not in kept}, through=through)
    hits.forget(connection, [k for k in kept if k not in wanted])
    return hits.Matcher(wanted)


_conditions_of: dict[tuple[tuple[object, ...], ...], dict[str, EventCondition]] = {}


def _conditions(segments: Sequence[Segment]) -> dict[str, EventCondition]:
    """The event conditions of every segment (cached while no segment changes)."""
    key = tuple((s.id, s.version, s.key, s.updated_at) for s in segments)
    found = _conditions_of.get(key)
    if found is None:
        if len(_conditions_of) > 16:
            _conditions_of.clear()
        found = _conditions_of[key] = conditions_of(s.definition for s in segments)
    return found


def follow_identity(connection: Connection, after: int) -> tuple[set[str], bool]:
    """Applies the identity changes logged since `after`: forgets profiles that are gone and
    returns the profiles to evaluate again, and whether identity was rebuilt."""
    named: set[str] = set()
    rebuilt = False
    last = after
    while page := identity.changes_since(connection, last, limit=1000):
        for change in page:
            rebuilt = rebuilt or change.kind == "rebuild"
            named.update(p for p in (change.profile_id, change.other_profile_id) if p)
        last = page[-1].id
    if last != after:
        _set_positions(connection, {CHANGES: last})
    current = {p: identity.current_profile_id(connection, p) for p in sorted(named)}
    forget_profiles(connection, [p for p, now_id in current.items() if now_id != p])
    return {c for c in current.values() if c is not None}, rebuilt


def evaluate_live(
    connection: Connection,
    segments: Sequence[Segment],
    now: datetime,
    *,
    by_events: Mapping[str, frozenset[str]] | None = None,
    fully: Collection[str] = (),
    models: Sequence[StoredModel] = (),
) -> None:
    """Prepares segments and scoring models that are not ready, then evaluates profiles
    against the live segments and stores the changes: the profiles of `fully` against every
    segment, those of `by_events` (profile -> names of its new events) against the segments
    those events can change (the others' answers and timers stand); every evaluated profile
    is scored under every live model."""
    segments = _prepare_pending(connection, segments, now)
    plan = live_plan(segments)
    unscored = [m for m in models if not m.ready]
    if unscored:
        prepare_models(connection, unscored, now,
                       memberships_of=lambda ids: _member_keys(connection, plan, ids))  # fmt: skip
    scored = [m for m in models if m.ready or m in unscored]
    if not plan.segments and not scored:
        return
    groups: dict[frozenset[str] | None, set[str]] = {}
    for profile_id in fully:
        groups.setdefault(None, set()).add(profile_id)
    for profile_id, names in (by_events or {}).items():
        if profile_id not in groups.get(None, ()):
            groups.setdefault(names, set()).add(profile_id)
    for watched, profiles in groups.items():
        part = plan if watched is None else _affected(plan, watched)
        if part.segments or scored:
            _evaluate(connection, plan, part, profiles, now, scored)


def _evaluate(
    connection: Connection,
    plan: Plan,
    part: Plan,
    profiles: Collection[str],
    now: datetime,
    models: Sequence[StoredModel],
) -> None:
    """Evaluates profiles against `part` of the live plan (the other segments' memberships
    are read as stored), then scores them under the models."""
    partial = part is not plan
    key_of = {s.id: s.key for s in plan.segments}
    evaluated = part.ids
    keys = list({**part.conditions, **conditions_of_models(models)})
    for chunk in chunks(sorted(profiles), EVALUATE_CHUNK):
        held: dict[str, list[str]] = {
            p: [key_of[s] for s in ids if s in key_of and s not in evaluated]
            for p, ids in stored_members(connection, chunk).items()
        }
        facts = load_facts(connection, chunk, keys, memberships=held if partial else None)
        outcomes = evaluate_all(part, facts, now)
        if part.segments:
            settle(connection, part, outcomes, facts, now=now, earlier_timers_only=partial)
        inside = {p: [*held.get(p, ()), *(key_of[s] for s in outcomes[p].members)] for p in facts}
        score_people(connection, models, facts, now, memberships=inside)
        gone = set(chunk) - set(facts)
        if gone:
            forget_profiles(connection, gone)
            forget_scores(connection, gone)


def _member_keys(
    connection: Connection, plan: Plan, profile_ids: Collection[str]
) -> dict[str, list[str]]:
    """Each profile's live segments, by key."""
    key_of = {s.id: s.key for s in plan.segments}
    return {
        p: [key_of[s] for s in ids if s in key_of]
        for p, ids in stored_members(connection, profile_ids).items()
    }


_plans: dict[tuple[tuple[object, ...], ...], Plan] = {}
_parts: dict[tuple[int, frozenset[str]], Plan] = {}


def live_plan(segments: Sequence[Segment]) -> Plan:
    """The ready segments whose references are all ready: the ones evaluated live (cached
    while no segment changes)."""
    # The times tell apart segments of another database that happen to share ids and versions.
    key = tuple((s.id, s.version, s.ready_version, s.key, s.updated_at) for s in segments)
    found = _plans.get(key)
    if found is None:
        waiting = {s.key for s in _with_dependents(segments, [s for s in segments if not s.ready])}
        found = Plan.of([s for s in segments if s.key not in waiting])
        if len(_plans) > 16:
            _plans.clear()
            _parts.clear()
        _plans[key] = found
    return found


def _affected(plan: Plan, names: frozenset[str]) -> Plan:
    key = (id(plan), names)
    found = _parts.get(key)
    if found is None:
        found = _parts[key] = plan.affected_by(names)
    return found


def _with_dependents(segments: Sequence[Segment], pending: Sequence[Segment]) -> list[Segment]:
    """The pending segments and every segment referring to one of them, however indirectly:
    their members depend on the pending ones' members."""
    chosen = {s.key for s in pending}
    grew = True
    while grew:
        grew = False
        for segment in segments:
            if segment.key not in chosen and chosen & set(segment_references(segment.definition)):
                chosen.add(segment.key)
                grew = True
    return [s for s in segments if s.key in chosen]


def _unready(connection: Connection) -> tuple[list[Segment], list[StoredModel]]:
    """Marks every segment and scoring model to be evaluated again for everyone."""
    connection.execute(update(audience_segments).values(ready_version=0))
    connection.execute(update(audience_scoring_models).values(ready_version=0))
    return all_segments(connection), all_models(connection)


def _positions(connection: Connection) -> dict[str, int]:
    return {
        r.name: int(r.position)
        for r in connection.execute(
            select(audience_positions.c.name, audience_positions.c.position)
        )
    }


def _set_positions(connection: Connection, values: dict[str, int]) -> None:
    for name, position in values.items():
        updated = connection.execute(
            update(audience_positions)
            .where(audience_positions.c.name == name)
            .values(position=position)
        )
        if not updated.rowcount:
            connection.execute(audience_positions.insert().values(name=name, position=position))
