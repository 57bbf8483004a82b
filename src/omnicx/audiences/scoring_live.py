"""Lead scores kept live by the membership consumer, with the same facts it evaluates
segments from: each evaluated profile is scored under every model, its score and stage are
stored (with a history row when they changed), and a stage change is emitted as a
`Lead Stage Changed` event. Decay and sliding windows move stages without events: the
instant of the next stage change (or of a look at it, `RECHECK` ahead) joins the profile's
timer."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection

from omnicx.audiences.definition import EventCondition
from omnicx.audiences.facts import PersonFacts
from omnicx.audiences.membership import load_facts, profile_event, set_timers
from omnicx.audiences.scoring import (
    STAGE_CHANGED_EVENT,
    model_event_conditions,
    next_stage_check_at,
    score,
)
from omnicx.audiences.scoring_store import (
    StoredModel,
    mark_model_ready,
    save_scores,
    stored_scores,
)
from omnicx.collect.emit import emit
from omnicx.identity import service as identity

CHANGED: Final = 1e-9
"""A score closer than this to the stored one is the same score."""
NOTEWORTHY: Final = 0.5
"""A change of at least this many points (or of stage) goes into the score history; decay
alone moves scores a little at every evaluation."""
PAGE: Final = 500
RECHECK: Final = timedelta(days=7)
"""How far ahead a profile's next stage change is located exactly; one further away gets a
timer at this distance that looks again (finding it to the microsecond months ahead was most
of the live cost, and a new event usually moves the score before)."""


def conditions_of_models(models: Sequence[StoredModel]) -> dict[str, EventCondition]:
    """The event conditions every model's rules on events need, by key."""
    found: dict[str, EventCondition] = {}
    for stored in models:
        found.update(model_event_conditions(stored.model))
    return found


def score_people(
    connection: Connection,
    models: Sequence[StoredModel],
    facts: Mapping[str, PersonFacts],
    now: datetime,
    *,
    memberships: Mapping[str, Collection[str]] | None = None,
    announce: bool = True,
) -> None:
    """Scores these people under the models at `now` and stores what changed; `memberships`
    (profile -> segment keys) replaces the facts' memberships (the segments just evaluated)."""
    if not models or not facts:
        return
    stored = stored_scores(connection, facts)
    rows: list[tuple[int, str, float, str]] = []
    noteworthy: set[tuple[int, str]] = set()
    messages: list[dict[str, Any]] = []
    due: dict[str, datetime | None] = {}
    for profile_id, person in sorted(facts.items()):
        if memberships is not None:
            person = replace(person, memberships=frozenset(memberships.get(profile_id, ())))
        for found in models:
            now_score = score(found.model, person, now)
            before = stored.get((found.id, profile_id))
            moved = abs(before.score - now_score.total) if before is not None else None
            restaged = before is None or before.stage != now_score.stage
            if restaged or (moved is not None and moved > CHANGED):
                rows.append((found.id, profile_id, now_score.total, now_score.stage))
            if restaged or (moved is not None and moved >= NOTEWORTHY):
                noteworthy.add((found.id, profile_id))
            previous = before.stage if before is not None else found.model.base_stage
            if announce and previous != now_score.stage:
                message = _stage_event(found, profile_id, person, previous, now_score.stage,
                                       now_score.total, now)  # fmt: skip
                if message is not None:
                    messages.append(message)
            at = next_stage_check_at(found.model, person, now, RECHECK)
            if at is not None:
                current = due.get(profile_id)
                due[profile_id] = at if current is None else min(current, at)
    save_scores(connection, rows, now, history=noteworthy)
    emit(connection, messages)
    set_timers(connection, due, earlier_only=True)


def _stage_event(
    found: StoredModel,
    profile_id: str,
    person: PersonFacts,
    previous: str,
    stage: str,
    total: float,
    now: datetime,
) -> dict[str, Any] | None:
    names = found.model.stage_names
    return profile_event(
        STAGE_CHANGED_EVENT,
        {
            "model": found.key,
            "from_stage": previous,
            "to_stage": stage,
            "direction": "up" if names.index(stage) > names.index(previous) else "down",
            "score": round(total, 6),
            "profile_id": profile_id,
        },
        person,
        now,
        f"score-{found.id}-{profile_id}-{stage}-{round(now.timestamp() * 1e6)}",
    )


def prepare_models(
    connection: Connection,
    models: Sequence[StoredModel],
    now: datetime,
    *,
    memberships_of: Callable[[Collection[str]], Mapping[str, Collection[str]]],
) -> None:
    """Scores everyone under new or changed models (no stage events: they are where they
    are, not moving), then marks the models ready."""
    if not models:
        return
    keys = list(conditions_of_models(models))
    after = ""
    while page := identity.profile_ids(connection, after=after, page=PAGE):
        after = page[-1]
        facts = load_facts(connection, page, keys)
        score_people(connection, models, facts, now, memberships=memberships_of(page),
                     announce=False)  # fmt: skip
    for found in models:
        mark_model_ready(connection, found.id, found.version)
