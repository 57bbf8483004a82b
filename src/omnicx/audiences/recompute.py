"""Batch evaluation: every profile against a set of segments, from the stored facts.

`prepare` brings new and changed segments live (the membership consumer runs it); `recompute`
is the batch path users run (`omnicx segments recompute`): it evaluates everyone again and
reports, per segment, how many members the batch finds and how many differ from the live
members, and can store the batch's answer.

By default `recompute` evaluates in bulk (recompute_bulk: every profile's facts exported to
Arrow, every segment in one DuckDB query, compared with the stored members there too); a
segment the bulk path cannot compile is evaluated page by page by the Python evaluator, as
everything is with `bulk=False`. With `from_events`, event conditions are evaluated from the
raw stored events instead of the hits the live path kept: an independent check, always by the
Python evaluator. With `apply`, profiles whose answer differs are evaluated again by the Python
evaluator (which must agree) and settled as the live path does (events, timers).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from omnicx.audiences import hits
from omnicx.audiences.evaluate import event_times
from omnicx.audiences.facts import EventFact, PersonFacts
from omnicx.audiences.membership import (
    Changes,
    Outcome,
    Plan,
    evaluate_all,
    forget_members,
    load_facts,
    settle,
    stored_members,
)
from omnicx.audiences.recompute_bulk import BulkMismatch, evaluate_in_bulk, split
from omnicx.audiences.segments import Segment, all_segments, mark_ready
from omnicx.collect import history
from omnicx.identity import service as identity
from omnicx.store.bulk import chunks
from omnicx.store.clock import as_utc

PAGE: Final = 500
"""Profiles evaluated per round of queries."""


@dataclass(slots=True)
class Report:
    """What a batch evaluation found, per segment key."""

    profiles: int = 0
    members: dict[str, int] = field(default_factory=dict)
    """Members by the batch's answer."""
    live: dict[str, int] = field(default_factory=dict)
    """Members stored before (the live answer)."""
    entered: dict[str, int] = field(default_factory=dict)
    """In the batch's answer, not among the stored members."""
    exited: dict[str, int] = field(default_factory=dict)
    """Among the stored members, not in the batch's answer."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Time taken by each stage of a bulk evaluation (export, evaluate, compare)."""

    @property
    def agrees(self) -> bool:
        """Whether the batch and the stored members are the same people."""
        return not any(self.entered.values()) and not any(self.exited.values())


def plan_with_references(segments: Sequence[Segment], chosen: Collection[str]) -> Plan:
    """The plan of the chosen segments; the segments they refer to are read from stored
    memberships, not evaluated again."""
    return Plan.of([s for s in segments if s.key in chosen])


def evaluate_everyone(
    connection: Connection,
    plan: Plan,
    now: datetime,
    *,
    from_events: bool = False,
    on_page: Callable[[dict[str, PersonFacts], dict[str, Outcome]], None],
    progress: Callable[[int], None] | None = None,
    answered: Collection[str] = (),
    answers: Mapping[str, Collection[str]] | None = None,
) -> int:
    """Evaluates every profile there is against the plan, page by page, handing each page's
    facts and outcomes to `on_page`; returns how many profiles. With `answers` (profile ->
    segment keys), the segments of `answered` (evaluated before, in bulk) are read from there,
    not from the stored memberships."""
    keys = list(plan.conditions)
    planned = {s.key for s in plan.segments}
    key_of = {s.id: s.key for s in all_segments(connection)}
    answered = set(answered)
    after, total = "", 0
    while page := identity.profile_ids(connection, after=after, page=PAGE):
        after = page[-1]
        held = {
            p: [
                key_of[s]
                for s in segments
                if s in key_of and key_of[s] not in planned and key_of[s] not in answered
            ]
            for p, segments in stored_members(connection, page).items()
        }
        if answers is not None:
            for p in page:
                held[p] = [*held.get(p, ()), *answers.get(p, ())]
        facts = load_facts(connection, page, keys, memberships=held)
        if from_events:
            facts = _with_raw_event_times(connection, plan, facts)
        on_page(facts, evaluate_all(plan, facts, now))
        total += len(page)
        if progress is not None:
            progress(total)
    return total


def _with_raw_event_times(
    connection: Connection, plan: Plan, facts: Mapping[str, PersonFacts]
) -> dict[str, PersonFacts]:
    """The facts with event times taken from the profiles' stored events."""
    events: dict[str, list[EventFact]] = {p: [] for p in facts}
    for summary, message in history.messages_of(
        connection, identity.event_ids_of_profiles(list(facts))
    ):
        if summary.type not in hits.NAMED_TYPES or summary.event is None:
            continue
        properties = message.get("properties")
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
        times: dict[str, list[datetime]] = {}
        for segment in plan.segments:
            times.update(event_times(segment.definition, events[profile_id]))
        found[profile_id] = replace(person, events=times)
    return found


def recompute(
    connection: Connection,
    *,
    now: datetime,
    keys: Collection[str] | None = None,
    apply: bool = False,
    from_events: bool = False,
    bulk: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Evaluates every profile against the ready segments (or those of `keys`) and compares
    with the stored members; with `apply`, stores the batch's answer (emitting the entered and
    exited events). `bulk=False` evaluates with the Python evaluator only (as `from_events`
    always does)."""
    segments = [s for s in all_segments(connection) if s.ready]
    chosen = {s.key for s in segments} if keys is None else set(keys)
    plan = plan_with_references(segments, chosen)
    report = Report()
    for segment in plan.segments:
        for counter in (report.members, report.live, report.entered, report.exited):
            counter[segment.key] = 0
    if from_events or not bulk:
        report.profiles = _page_by_page(
            connection, plan, report, now=now, apply=apply, from_events=from_events,
            earlier_timers_only=keys is not None, progress=progress,
        )  # fmt: skip
        return report
    in_bulk, left = split(plan, now)
    planned = {s.id for s in plan.segments}
    outside = {s.id: s.key for s in all_segments(connection) if s.id not in planned}
    answer = evaluate_in_bulk(connection, in_bulk, now, held=outside, keep_answers=bool(left))
    report.profiles, report.seconds = answer.profiles, answer.seconds
    for mine, theirs in (
        (report.members, answer.members),
        (report.live, answer.live),
        (report.entered, answer.entered),
        (report.exited, answer.exited),
    ):
        mine.update(theirs)
    if progress is not None:
        progress(answer.profiles)
    if left:
        _page_by_page(
            connection, Plan.of(left), report, now=now, apply=apply, from_events=False,
            earlier_timers_only=True, answered={s.key for s in in_bulk},
            answers=answer.keys_of or {},
        )  # fmt: skip
    if apply and answer.changed:
        settle_changed(
            connection, Plan.of(in_bulk), answer.changed, now=now,
            earlier_timers_only=keys is not None or bool(left),
        )  # fmt: skip
    return report


def _page_by_page(
    connection: Connection,
    plan: Plan,
    report: Report,
    *,
    now: datetime,
    apply: bool,
    from_events: bool,
    earlier_timers_only: bool,
    progress: Callable[[int], None] | None = None,
    answered: Collection[str] = (),
    answers: Mapping[str, Collection[str]] | None = None,
) -> int:
    """The Python evaluator over every profile, page by page: counts into `report`, and with
    `apply` settles each page; returns how many profiles."""
    key_of = {s.id: s.key for s in plan.segments}

    def on_page(facts: dict[str, PersonFacts], outcomes: dict[str, Outcome]) -> None:
        stored = stored_members(connection, outcomes)
        for profile_id, outcome in outcomes.items():
            held = {s for s in stored.get(profile_id, {}) if s in key_of}
            for segment_id in outcome.members:
                report.members[key_of[segment_id]] += 1
            for segment_id in held:
                report.live[key_of[segment_id]] += 1
            for segment_id in outcome.members - held:
                report.entered[key_of[segment_id]] += 1
            for segment_id in held - outcome.members:
                report.exited[key_of[segment_id]] += 1
        if apply:
            settle(
                connection,
                plan,
                outcomes,
                facts,
                now=now,
                reason="recompute",
                earlier_timers_only=earlier_timers_only,
            )

    return evaluate_everyone(
        connection, plan, now, from_events=from_events, on_page=on_page, progress=progress,
        answered=answered, answers=answers,
    )  # fmt: skip


def settle_changed(
    connection: Connection,
    plan: Plan,
    changed: Mapping[str, frozenset[int]],
    *,
    now: datetime,
    earlier_timers_only: bool,
) -> Changes:
    """Stores the bulk answer of the profiles whose members it changes (profile -> the plan's
    segments it is in): each is evaluated again by the Python evaluator, which must give the
    same members (else BulkMismatch, nothing stored), and settled as the live path does, with
    its events and its timer. Other profiles keep their members and timers."""
    planned = {s.key for s in plan.segments}
    key_of = {s.id: s.key for s in all_segments(connection)}
    keys = list(plan.conditions)
    changes = Changes()
    for page in chunks(sorted(changed), PAGE):
        held = {
            p: [key_of[s] for s in segments if s in key_of and key_of[s] not in planned]
            for p, segments in stored_members(connection, page).items()
        }
        facts = load_facts(connection, page, keys, memberships=held)
        outcomes = evaluate_all(plan, facts, now)
        wrong = sorted(p for p in page if p not in outcomes or outcomes[p].members != changed[p])
        if wrong:
            raise BulkMismatch(
                f"the bulk and the Python evaluators disagree on {len(wrong)} profile(s) "
                f"({', '.join(wrong[:5])}): the recompute stopped (roll its transaction back). "
                "Please report it; `omnicx segments recompute --python --apply` stores the "
                "Python evaluator's answer."
            )
        changes.add(
            settle(
                connection, plan, outcomes, facts, now=now, reason="recompute",
                earlier_timers_only=earlier_timers_only,
            )
        )  # fmt: skip
    return changes


def prepare(
    connection: Connection,
    segments: Sequence[Segment],
    now: datetime,
    *,
    progress: Callable[[int], None] | None = None,
) -> Changes:
    """Brings segments whose definition changed (or that are new) live: evaluates everyone
    against them, stores the members and marks them ready. Changes to a segment that had
    members before are emitted as events; a new segment's first members are not (they did
    not just enter: they were there when it was defined)."""
    if not segments:
        return Changes()
    plan = Plan.of(list(segments))
    fresh = [s.id for s in segments if s.ready_version == 0]
    forget_members(connection, fresh)  # left over from before an identity rebuild
    announce = {s.id for s in segments if s.ready_version > 0}
    changes = Changes()

    def on_page(facts: dict[str, PersonFacts], outcomes: dict[str, Outcome]) -> None:
        changes.add(
            settle(
                connection,
                plan,
                outcomes,
                facts,
                now=now,
                announce=announce,
                reason="definition",
                earlier_timers_only=True,
            )
        )

    evaluate_everyone(connection, plan, now, on_page=on_page, progress=progress)
    for segment in segments:
        mark_ready(connection, segment.id, segment.version)
    return changes
