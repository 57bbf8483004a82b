"""Joining profiles on a person's word or a probabilistic match, and the review queue.

A link is evidence that is not an event: it joins the two profiles' highest-priority
identifiers at the moment it is made, through the same rules as events (limits, unmerge
separations), and is logged as a merge with its reason. Matches below the automatic-merge
threshold wait in a review queue until someone accepts (a link) or rejects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from omnicx.collect.processing import lock_consumer
from omnicx.identity import graph
from omnicx.identity import repository as repo
from omnicx.identity.consumer import CONSUMER_NAME
from omnicx.identity.settings_store import current_config
from omnicx.identity.tables import (
    identity_evidence,
    identity_manual_links,
    identity_match_reviews,
)
from omnicx.store.bulk import insert_ignoring_duplicates
from omnicx.store.clock import as_utc, utc_now


class LinkError(ValueError):
    """A link or review decision that cannot be made; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Linked:
    """The outcome of a link: one profile, or two when a rule refused the join."""

    link_id: int
    profile_ids: tuple[str, ...]
    joined: bool


def _anchor(connection: Connection, profile_id: str) -> int:
    config = current_config(connection)
    rows = repo.identifiers_of_profiles(connection, [profile_id])
    if not rows:
        raise LinkError("not_found", f"No profile {profile_id}.")
    best = min(rows.values(), key=lambda r: (config.rank(r.type), r.type, r.value))
    return best.id


def _write_evidence(
    connection: Connection, link_id: int, ids: tuple[int, int], at: datetime
) -> None:
    key = graph.set_key(ids)
    insert_ignoring_duplicates(
        connection,
        identity_evidence,
        [
            {
                "event_id": -link_id,  # no event: the link's own, negative, number
                "identifier_id": identifier,
                "set_key": key,
                "occurred_at": at,
                "order_key": 0,
            }
            for identifier in ids
        ],
    )


def link_profiles(
    connection: Connection,
    left_profile: str,
    right_profile: str,
    *,
    reason: str,
    actor: str,
    probability: float | None = None,
) -> Linked:
    """Joins two profiles as if an event had carried both of their best identifiers now."""
    lock_consumer(connection, CONSUMER_NAME)
    if left_profile == right_profile:
        raise LinkError("same_profile", "Both ids name the same profile.")
    left, right = _anchor(connection, left_profile), _anchor(connection, right_profile)
    now = utc_now()
    link_id = connection.execute(
        insert(identity_manual_links)
        .values(
            left_id=left,
            right_id=right,
            probability=probability,
            reason=reason,
            actor=actor,
            created_at=now,
        )
        .returning(identity_manual_links.c.id)
    ).scalar_one()
    _write_evidence(connection, link_id, (left, right), now)
    graph.recompute(connection, current_config(connection), [left, right], actor=actor, rule=reason)
    after = repo.identifiers_by_id(connection, [left, right])
    profiles = tuple(dict.fromkeys(p for i in (left, right) if (p := after[i].profile_id)))
    return Linked(link_id, profiles, len(profiles) == 1)


def restore_link_evidence(connection: Connection) -> int:
    """Writes the evidence of every stored link again (after a rebuild cleared it)."""
    rows = connection.execute(select(identity_manual_links)).all()
    for row in rows:
        _write_evidence(connection, row.id, (row.left_id, row.right_id), as_utc(row.created_at))
    return len(rows)


@dataclass(frozen=True, slots=True)
class Review:
    """A probable match waiting for (or having had) a decision."""

    id: int
    left_profile_id: str
    right_profile_id: str
    probability: float
    detail: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


def _review(row: Any) -> Review:
    return Review(
        row.id,
        row.left_profile_id,
        row.right_profile_id,
        float(row.probability),
        orjson.loads(row.detail),
        row.status,
        as_utc(row.created_at),
        as_utc(row.decided_at) if row.decided_at else None,
        row.decided_by,
    )


def queue_for_review(
    connection: Connection, pairs: Sequence[tuple[str, str, float, dict[str, Any]]]
) -> int:
    """Adds probable matches (left, right, probability, compared fields) to the queue; a pair
    already queued or decided is not queued again. Returns how many were added."""
    known = {
        (r.left_profile_id, r.right_profile_id)
        for r in connection.execute(
            select(
                identity_match_reviews.c.left_profile_id, identity_match_reviews.c.right_profile_id
            )
        )
    }
    now = utc_now()
    rows = []
    for left, right, probability, detail in pairs:
        a, b = sorted((left, right))
        if (a, b) in known or a == b:
            continue
        known.add((a, b))
        rows.append(
            {
                "left_profile_id": a,
                "right_profile_id": b,
                "probability": probability,
                "detail": orjson.dumps(detail).decode(),
                "status": "pending",
                "created_at": now,
            }
        )
    if rows:
        connection.execute(insert(identity_match_reviews), rows)
    return len(rows)


def reviews(connection: Connection, *, status: str = "pending", limit: int = 100) -> list[Review]:
    """The queue, most probable first."""
    statement = select(identity_match_reviews)
    if status != "all":
        statement = statement.where(identity_match_reviews.c.status == status)
    statement = statement.order_by(
        identity_match_reviews.c.probability.desc(), identity_match_reviews.c.id
    ).limit(limit)
    return [_review(r) for r in connection.execute(statement)]


def decide(connection: Connection, review_id: int, *, accept: bool, actor: str) -> Review:
    """Accepts (links the two profiles, following merges since) or rejects a queued match."""
    row = connection.execute(
        select(identity_match_reviews).where(identity_match_reviews.c.id == review_id)
    ).first()
    if row is None:
        raise LinkError("not_found", f"No review #{review_id}.")
    if row.status != "pending":
        raise LinkError("already_decided", f"Review #{review_id} was already {row.status}.")
    if accept:
        from omnicx.identity.service import current_profile_id

        left = current_profile_id(connection, row.left_profile_id)
        right = current_profile_id(connection, row.right_profile_id)
        if left is None or right is None:
            raise LinkError("not_found", "One of the two profiles no longer exists.")
        if left != right:
            link_profiles(
                connection,
                left,
                right,
                reason=f"match review #{review_id} accepted (p={row.probability:.3f})",
                actor=actor,
                probability=float(row.probability),
            )
    connection.execute(
        update(identity_match_reviews)
        .where(identity_match_reviews.c.id == review_id)
        .values(status="accepted" if accept else "rejected", decided_at=utc_now(), decided_by=actor)
    )
    return _review(
        connection.execute(
            select(identity_match_reviews).where(identity_match_reviews.c.id == review_id)
        ).one()
    )


def reviewed_pairs(connection: Connection) -> set[tuple[str, str]]:
    """Pairs already queued or decided (so a matching job does not offer them again)."""
    return {
        (r.left_profile_id, r.right_profile_id)
        for r in connection.execute(
            select(
                identity_match_reviews.c.left_profile_id, identity_match_reviews.c.right_profile_id
            )
        )
    }
