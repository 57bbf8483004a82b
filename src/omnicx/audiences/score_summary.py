"""What the console shows of a scoring model: how the stored scores are spread, how many
profiles are at each stage, the highest scores, and one profile's score explained.

Stored scores are as of each profile's last evaluation (`audience_scores`); points decay
between evaluations, so a profile's explanation (`explain`) scores it again at the moment
asked, as the API does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, and_, case, func, select, true

from omnicx.audiences.membership import load_facts, memberships_of
from omnicx.audiences.scoring import Score, model_event_conditions, score
from omnicx.audiences.scoring_store import StoredModel, history_of
from omnicx.audiences.tables import audience_scores
from omnicx.profiles import service as profiles
from omnicx.store.clock import as_utc

BUCKETS: Final = 20
"""Bars of a score histogram (at most)."""
_NICE: Final = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class ScoreDistribution:
    """How many stored scores fall in each bucket [low, low + width)."""

    lows: tuple[float, ...]
    width: float
    counts: tuple[int, ...]
    total: int

    @property
    def buckets(self) -> list[tuple[float, float, int]]:
        """(low, high, count) of every bucket, lowest first."""
        return [(low, low + self.width, n) for low, n in zip(self.lows, self.counts, strict=True)]


@dataclass(frozen=True, slots=True)
class RankedScore:
    """A profile's stored score under a model."""

    profile_id: str
    score: float
    stage: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Explanation:
    """A profile's score now, with the rules and events behind it, and its score history."""

    profile_id: str
    score: Score
    history: Sequence[tuple[datetime, float, str]]
    """Stored scores, newest first: (when, score, stage)."""


def nice_width(span: float, buckets: int = BUCKETS) -> float:
    """A round bucket width (1, 2, 2.5 or 5 times a power of ten) that covers `span` in at
    most `buckets` buckets."""
    if span <= 0:
        return 1.0
    raw = span / buckets
    power = 10.0 ** math.floor(math.log10(raw))
    return next(n * power for n in _NICE if n * power >= raw)


def score_distribution(
    connection: Connection, model_id: int, *, buckets: int = BUCKETS
) -> ScoreDistribution:
    """The model's stored scores in at most `buckets` buckets of a round width (two passes
    over the model's scores)."""
    low, high, total = connection.execute(
        select(
            func.min(audience_scores.c.score),
            func.max(audience_scores.c.score),
            func.count(),
        ).where(audience_scores.c.model_id == model_id)
    ).one()
    if not total:
        return ScoreDistribution((), 1.0, (), 0)
    width = nice_width(float(high) - float(low), buckets)
    start = math.floor(float(low) / width) * width
    count = max(1, math.floor((float(high) - start) / width) + 1)
    lows = tuple(start + i * width for i in range(count))
    score_column = audience_scores.c.score
    # Each bucket ends where the next starts (the same float), the first and the last are
    # open-ended: every score is counted once, whatever the rounding.
    columns = [
        func.sum(
            case(
                (
                    and_(
                        score_column >= lows[i] if i else true(),
                        score_column < lows[i + 1] if i + 1 < count else true(),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        for i in range(count)
    ]
    row = connection.execute(select(*columns).where(audience_scores.c.model_id == model_id)).one()
    return ScoreDistribution(lows, width, tuple(int(n or 0) for n in row), int(total))


def stage_counts(connection: Connection, model_id: int) -> dict[str, int]:
    """How many profiles are at each stage under the model, as stored (stages without
    profiles are absent)."""
    rows = connection.execute(
        select(audience_scores.c.stage, func.count())
        .where(audience_scores.c.model_id == model_id)
        .group_by(audience_scores.c.stage)
    )
    return {str(stage): int(n) for stage, n in rows}


def top_scores(connection: Connection, model_id: int, *, limit: int = 20) -> list[RankedScore]:
    """The highest stored scores under the model, highest first (ties by profile id)."""
    rows = connection.execute(
        select(audience_scores)
        .where(audience_scores.c.model_id == model_id)
        .order_by(audience_scores.c.score.desc(), audience_scores.c.profile_id)
        .limit(limit)
    )
    return [RankedScore(r.profile_id, r.score, r.stage, as_utc(r.updated_at)) for r in rows]


def explain(
    connection: Connection, stored: StoredModel, profile_id: str, now: datetime
) -> Explanation:
    """The profile's score under the model at `now` (a merged-away id follows the merge;
    profiles.ProfileError `not_found` when there is no such profile), and its history."""
    current = profiles.resolve(connection, profile_id)
    keys = list(model_event_conditions(stored.model))
    facts = load_facts(
        connection,
        [current],
        keys,
        memberships={current: [k for k, _, _ in memberships_of(connection, current)]},
    )[current]
    return Explanation(
        profile_id=current,
        score=score(stored.model, facts, now),
        history=history_of(connection, current, stored.id),
    )
