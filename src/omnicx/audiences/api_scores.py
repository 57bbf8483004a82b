"""Admin API routes of lead scoring: models, and a profile's scores with their explanation
and history. Served under `/api` beside the segments routes (audiences/api.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from omnicx.api.auth import Caller
from omnicx.api.errors import ErrorBody
from omnicx.audiences import scoring_store as store
from omnicx.audiences.api import BAD_BODY, INVALID, READERS, WRITERS, Responses, transaction
from omnicx.audiences.membership import load_facts, memberships_of
from omnicx.audiences.scoring import score, score_to_json
from omnicx.audiences.scoring_live import conditions_of_models
from omnicx.audiences.scoring_model import model_to_json
from omnicx.audiences.scoring_text import render_model, render_score
from omnicx.audiences.segments import SegmentError
from omnicx.profiles import service as profiles
from omnicx.store.clock import utc_now

router = APIRouter(tags=["audiences"])

NO_MODEL: Responses = {404: {"model": ErrorBody, "description": "No such model (`not_found`)."}}
ModelKey = Annotated[str, Path(description="The scoring model's key.")]


class ModelOut(BaseModel):
    """A stored scoring model."""

    key: str
    model: dict[str, Any] = Field(description="Its JSON form (docs/lead-scoring.md).")
    text: str = Field(description="The model as people read it.")
    version: int
    ready: bool = Field(description="False while a new version scores everyone.")


class ModelList(BaseModel):
    """Every scoring model."""

    models: list[ModelOut]


class ProfileScore(BaseModel):
    """A profile's score under one model now, with why."""

    model: str
    total: float
    stage: str
    explanation: dict[str, Any] = Field(description="Rules, their points and events.")
    text: str = Field(description="The explanation as people read it.")
    history: list[dict[str, Any]] = Field(description="Stored scores, newest first.")


class ProfileScores(BaseModel):
    """A profile's scores under every model."""

    profile_id: str
    scores: list[ProfileScore]


def _out(found: store.StoredModel) -> ModelOut:
    return ModelOut(
        key=found.key,
        model=model_to_json(found.model),
        text=render_model(found.model),
        version=found.version,
        ready=found.ready,
    )


@router.get(
    "/scoring-models",
    summary="Every lead scoring model",
    operation_id="scoring_models_list",
    response_model=ModelList,
)
def list_models(request: Request, caller: Annotated[Caller, Depends(READERS)]) -> ModelList:
    """Every model by key, in JSON and in words."""
    with transaction(request) as connection:
        return ModelList(models=[_out(m) for m in store.all_models(connection)])


@router.put(
    "/scoring-models/{key}",
    summary="Store a lead scoring model",
    operation_id="scoring_models_put",
    response_model=ModelOut,
    responses={**BAD_BODY, **INVALID},
)
def put_model(
    request: Request,
    caller: Annotated[Caller, Depends(WRITERS)],
    key: ModelKey,
    body: Annotated[dict[str, Any], Body(description="The model (docs/lead-scoring.md).")],
    allow_new_traits: Annotated[bool, Query(description="Accept unknown trait names.")] = False,
) -> ModelOut:
    """Stores the model (a new version when it exists). It scores everyone before its
    scores are live (`ready`); stage changes then emit `Lead Stage Changed` events."""
    with transaction(request) as connection:
        if body.get("key", key) != key:
            raise SegmentError(
                "invalid_model", "The body's key differs from the path's.",
            )  # fmt: skip
        found = store.save_model(
            connection, {**body, "key": key}, actor=f"api:{caller.role}:{caller.name}",
            allow_new_traits=allow_new_traits,
        )  # fmt: skip
        return _out(found)


@router.get(
    "/scoring-models/{key}",
    summary="A lead scoring model",
    operation_id="scoring_models_get",
    response_model=ModelOut,
    responses=NO_MODEL,
)
def get_model(
    request: Request, caller: Annotated[Caller, Depends(READERS)], key: ModelKey
) -> ModelOut:
    """One model, in JSON and in words."""
    with transaction(request) as connection:
        return _out(store.get_model(connection, key))


@router.delete(
    "/scoring-models/{key}",
    summary="Delete a lead scoring model",
    operation_id="scoring_models_delete",
    status_code=204,
    response_class=Response,
    responses=NO_MODEL,
)
def delete_model(
    request: Request, caller: Annotated[Caller, Depends(WRITERS)], key: ModelKey
) -> Response:
    """Deletes the model with its scores and their history."""
    with transaction(request) as connection:
        store.remove_model(connection, key)
    return Response(status_code=204)


@router.get(
    "/profiles/{profile_id}/scores",
    summary="A profile's lead scores, explained",
    operation_id="profiles_scores",
    response_model=ProfileScores,
    responses={404: {"model": ErrorBody, "description": "No such profile (`not_found`)."}},
)
def profile_scores(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    profile_id: Annotated[str, Path(description="A profile id (a merged-away id follows).")],
) -> ProfileScores:
    """The profile's score under every model at this moment (points decay), which rules gave
    which points from which events, and the stored score history."""
    now = utc_now()
    with transaction(request) as connection:
        current = profiles.resolve(connection, profile_id)
        models = store.all_models(connection)
        keys = list(conditions_of_models(models))
        facts = load_facts(
            connection,
            [current],
            keys,
            memberships={current: [k for k, _, _ in memberships_of(connection, current)]},
        )[current]
        found = []
        for stored in models:
            now_score = score(stored.model, facts, now)
            found.append(
                ProfileScore(
                    model=stored.key,
                    total=round(now_score.total, 6),
                    stage=now_score.stage,
                    explanation=score_to_json(now_score),
                    text=render_score(stored.model, now_score),
                    history=[
                        {"at": at, "score": value, "stage": stage}
                        for at, value, stage in store.history_of(connection, current, stored.id)
                    ],
                )
            )
        return ProfileScores(profile_id=current, scores=found)
