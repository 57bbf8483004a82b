"""Stored lead scoring models and scores: create, change, list, delete models; read and write
each profile's score, stage and score history."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from omnicx.audiences.scoring_model import ScoringModel, model_to_json
from omnicx.audiences.scoring_validation import ModelError, parse_model
from omnicx.audiences.segments import SegmentError, all_segments
from omnicx.audiences.tables import audience_score_history, audience_scores, audience_scoring_models
from omnicx.profiles import service as profiles
from omnicx.store.bulk import chunks
from omnicx.store.clock import as_utc, utc_now


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A stored scoring model."""

    id: int
    model: ScoringModel
    version: int
    ready_version: int
    updated_at: datetime
    updated_by: str

    @property
    def key(self) -> str:
        """The model's key."""
        return self.model.key

    @property
    def ready(self) -> bool:
        """Whether the stored scores follow this version."""
        return self.ready_version == self.version


@dataclass(frozen=True, slots=True)
class StoredScore:
    """A profile's score under a model as of its last evaluation."""

    score: float
    stage: str
    updated_at: datetime


@lru_cache(maxsize=1024)
def _stored(text: str) -> ScoringModel:
    return parse_model(text)  # checked when stored: only the shape is read back


def _row(row: Any) -> StoredModel:
    return StoredModel(
        row.id,
        _stored(row.document),
        row.version,
        row.ready_version,
        as_utc(row.updated_at),
        row.updated_by,
    )


def all_models(connection: Connection) -> list[StoredModel]:
    """Every model, by key."""
    rows = connection.execute(
        select(audience_scoring_models).order_by(audience_scoring_models.c.key)
    )
    return [_row(r) for r in rows]


def get_model(connection: Connection, key: str) -> StoredModel:
    """A model by key; SegmentError `not_found` when there is none."""
    row = connection.execute(
        select(audience_scoring_models).where(audience_scoring_models.c.key == key)
    ).first()
    if row is None:
        raise SegmentError("not_found", f"No scoring model {key!r}.")
    return _row(row)


def check_model(
    connection: Connection, document: Mapping[str, Any] | str | bytes, *, allow_new_traits: bool
) -> ScoringModel:
    """The model, checked against this installation's traits and segments."""
    try:
        return parse_model(
            document,
            traits=None if allow_new_traits else profiles.trait_names(connection),
            segments={s.key for s in all_segments(connection)},
        )
    except ModelError as error:
        raise SegmentError("invalid_model", str(error), error.problems) from None


def save_model(
    connection: Connection,
    document: Mapping[str, Any] | str | bytes,
    *,
    actor: str,
    allow_new_traits: bool = False,
) -> StoredModel:
    """Stores a model, or a new version of the model with its key; it scores everyone before
    its scores are live."""
    model = check_model(connection, document, allow_new_traits=allow_new_traits)
    text = orjson.dumps(model_to_json(model)).decode()
    now = utc_now()
    existing = connection.execute(
        select(audience_scoring_models).where(audience_scoring_models.c.key == model.key)
    ).first()
    if existing is None:
        connection.execute(
            audience_scoring_models.insert().values(
                key=model.key, document=text, version=1, ready_version=0, created_at=now,
                updated_at=now, updated_by=actor,
            )
        )  # fmt: skip
    elif existing.document != text:
        connection.execute(
            update(audience_scoring_models)
            .where(audience_scoring_models.c.id == existing.id)
            .values(document=text, version=existing.version + 1, updated_at=now, updated_by=actor)
        )
    return get_model(connection, model.key)


def remove_model(connection: Connection, key: str) -> StoredModel:
    """Deletes a model with its scores and their history."""
    found = get_model(connection, key)
    for table in (audience_scores, audience_score_history):
        connection.execute(delete(table).where(table.c.model_id == found.id))
    connection.execute(
        delete(audience_scoring_models).where(audience_scoring_models.c.id == found.id)
    )
    return found


def mark_model_ready(connection: Connection, model_id: int, version: int) -> None:
    """Records that the scores of `version` are computed."""
    connection.execute(
        update(audience_scoring_models)
        .where(audience_scoring_models.c.id == model_id)
        .values(ready_version=version)
    )


def stored_scores(
    connection: Connection, profile_ids: Collection[str]
) -> dict[tuple[int, str], StoredScore]:
    """(model id, profile id) -> the stored score."""
    found: dict[tuple[int, str], StoredScore] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(audience_scores).where(audience_scores.c.profile_id.in_(chunk))
        ):
            found[(row.model_id, row.profile_id)] = StoredScore(
                row.score, row.stage, as_utc(row.updated_at)
            )
    return found


def save_scores(
    connection: Connection,
    rows: Sequence[tuple[int, str, float, str]],
    at: datetime,
    *,
    history: Collection[tuple[int, str]] = (),
) -> None:
    """Stores (model id, profile id, score, stage) rows as the current scores; those whose
    (model id, profile id) is in `history` are added to the score history too."""
    by_model: dict[int, list[str]] = {}
    for model_id, profile_id, _, _ in rows:
        by_model.setdefault(model_id, []).append(profile_id)
    for model_id, profile_ids in by_model.items():
        for part in chunks(profile_ids):
            connection.execute(
                delete(audience_scores)
                .where(audience_scores.c.model_id == model_id)
                .where(audience_scores.c.profile_id.in_(part))
            )
    values = [{"model_id": m, "profile_id": p, "score": s, "stage": st, "updated_at": at}
              for m, p, s, st in rows]  # fmt: skip
    for part_values in chunks(values, 2000):
        connection.execute(audience_scores.insert(), part_values)
    kept = [{"model_id": m, "profile_id": p, "score": s, "stage": st, "at": at}
            for m, p, s, st in rows if (m, p) in history]  # fmt: skip
    for part_values in chunks(kept, 2000):
        connection.execute(audience_score_history.insert(), part_values)


def history_of(
    connection: Connection, profile_id: str, model_id: int, *, limit: int = 100
) -> list[tuple[datetime, float, str]]:
    """A profile's score history under a model, newest first: (when, score, stage)."""
    rows = connection.execute(
        select(audience_score_history)
        .where(audience_score_history.c.profile_id == profile_id)
        .where(audience_score_history.c.model_id == model_id)
        .order_by(audience_score_history.c.at.desc(), audience_score_history.c.id.desc())
        .limit(limit)
    )
    return [(as_utc(r.at), r.score, r.stage) for r in rows]


def forget_scores(connection: Connection, profile_ids: Collection[str]) -> None:
    """Drops the scores and history of profiles that no longer exist."""
    for chunk in chunks(sorted(profile_ids)):
        for table in (audience_scores, audience_score_history):
            connection.execute(delete(table).where(table.c.profile_id.in_(chunk)))
