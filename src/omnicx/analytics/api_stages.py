"""Analytics API routes for journey stages: counts and flows over a date range, one profile's
stage history, and the stage model (read by analysts, changed by marketers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from omnicx.analytics.api_common import READERS, LakeDep, ScopeDep, invalid
from omnicx.analytics.stage_settings import StageModel, StageSettingsError
from omnicx.analytics.stage_settings_store import (
    current_document,
    current_model,
    current_version,
    store,
)
from omnicx.analytics.stages import PERIODS, stage_history, stage_report
from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody

router = APIRouter()

EDITORS = require_permission("analytics.configure")
"""Who may change the stage model (admins may do everything)."""

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No stage for this profile (`not_found`)."}
}
INVALID_SETTINGS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": "A stage model that cannot be used (`invalid_settings`), the message "
        "naming the key.",
    }
}


EXAMPLE = {
    "churn": {"after_days": 60, "from": "purchase"},
    "stages": [
        {"name": "awareness", "rules": [{}]},
        {"name": "purchase", "rules": [{"events": ["Order Completed"]}]},
        {"name": "retention", "rules": [{"events": ["Order Completed"], "count": 2}]},
    ],
}


class StageCountOut(BaseModel):
    stage: str
    people: int = Field(description="People in the stage at the end of the range.")
    share: float = Field(description="`people` over everyone in a stage then.")
    entered: int = Field(description="People who entered the stage during the range.")


class PeriodCountOut(BaseModel):
    period: str = Field(description="First day of the period.")
    stage: str
    people: int = Field(description="People in the stage at the period's end (or the range's).")
    entered: int = Field(description="People who entered the stage during the period.")


class MoveOut(BaseModel):
    from_: str = Field(alias="from", description="`new`: in no stage before.")
    to: str
    people: int


class FlowNodeOut(BaseModel):
    id: str = Field(description="`start:STAGE` or `end:STAGE`.")
    side: Literal["start", "end"]
    stage: str
    people: int


class FlowLinkOut(BaseModel):
    source: str
    target: str
    people: int


class FlowsOut(BaseModel):
    nodes: list[FlowNodeOut]
    links: list[FlowLinkOut]


class StageReportOut(BaseModel):
    """People per stage over a date range; flows ready for a Sankey diagram."""

    start: str | None
    end: str | None
    as_of: str | None = Field(description="The instant stages are evaluated at (UTC).")
    stages: list[str]
    total: int
    counts: list[StageCountOut]
    period: str | None
    periods: list[PeriodCountOut]
    flows: FlowsOut = Field(description="From each person's stage at the range's start to the end.")
    transitions: list[MoveOut] = Field(description="People who made each move in the range.")


class StageEntryOut(BaseModel):
    stage: str
    entered_at: str
    left_at: str | None


class StageHistoryOut(BaseModel):
    """A profile's current stage and every stage it went through."""

    profile_id: str
    as_of: str
    stage: str
    since: str
    reached: dict[str, str] = Field(description="When each stage was first entered.")
    history: list[StageEntryOut]


class StageSettingsOut(BaseModel):
    """The stage model in force."""

    version: int = Field(description="0: the built-in model.")
    document: str = Field(description="The stored text (TOML or JSON), or the built-in model.")
    model: dict[str, Any] = Field(description="The model in force, as a JSON document.")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.runtime.engine
    return engine


def _model(request: Request) -> StageModel:
    with _engine(request).connect() as connection:
        try:
            return current_model(connection)
        except StageSettingsError as exc:
            raise ApiError(500, "internal_error", f"{exc}: store a valid stage model") from None


def _settings(request: Request) -> StageSettingsOut:
    from omnicx.analytics.stage_settings import DEFAULT_DOCUMENT

    with _engine(request).connect() as connection:
        document = current_document(connection)
        version = current_version(connection)
    model = _model(request)
    return StageSettingsOut(
        version=version, document=document or DEFAULT_DOCUMENT, model=model.to_dict()
    )


@router.get(
    "/stages",
    summary="People per journey stage, per period, and the flows between stages",
    operation_id="analytics_stages",
    response_model=StageReportOut,
    response_model_by_alias=True,
)
def stages(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
    scope: ScopeDep,
    period: Annotated[
        str | None,
        Query(
            description="Also count people per stage at the end of every `day`, `week` "
            "(from Monday) or `month`."
        ),
    ] = None,
) -> dict[str, Any]:
    """Stages are evaluated as of the end of the range (never after the newest event): people
    in each stage then, people entering each during the range, the flows from the range's
    start to its end, and every move made in it."""
    if period is not None and period not in PERIODS:
        raise invalid(f"period {period!r} is not one of {', '.join(PERIODS)}")
    return stage_report(lake, scope, model=_model(request), period=period).to_dict()


@router.get(
    "/stages/settings",
    summary="The journey stage model in force",
    operation_id="analytics_stage_settings",
    response_model=StageSettingsOut,
)
def get_settings(request: Request, caller: Annotated[Caller, Depends(READERS)]) -> StageSettingsOut:
    """The stored stage model (its text and its meaning), or the built-in one (version 0)."""
    return _settings(request)


@router.put(
    "/stages/settings",
    summary="Store a journey stage model",
    operation_id="analytics_stage_settings_put",
    response_model=StageSettingsOut,
    responses=INVALID_SETTINGS,
)
def put_settings(
    request: Request,
    caller: Annotated[Caller, Depends(EDITORS)],
    document: Annotated[
        dict[str, Any],
        Body(
            description='The model as JSON: `{"churn": {...}, "stages": [...]}` '
            "(docs/analytics/stages.md).",
            examples=[EXAMPLE],
        ),
    ],
) -> StageSettingsOut:
    """Checks the model (a 422 names the bad key) and makes it the new version; every report
    uses it from then on."""
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    try:
        with _engine(request).begin() as connection:
            if current_document(connection) != text:  # the same again: no new version
                store(connection, text, name="stage settings")
    except StageSettingsError as exc:
        raise ApiError(422, "invalid_settings", str(exc)) from None
    return _settings(request)


@router.get(
    "/stages/{profile_id}",
    summary="A profile's current stage and stage history",
    operation_id="analytics_stages_profile",
    response_model=StageHistoryOut,
    responses=NOT_FOUND,
)
def profile_stages(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
    scope: ScopeDep,
    profile_id: Annotated[str, Path(description="A profile id (a merged-away id is followed).")],
) -> dict[str, Any]:
    """Every stage the profile entered, in order, as of the end of the range (`end`); `where`
    filters restrict the events the stage rules see."""
    from omnicx.identity.service import current_profile_id

    model = _model(request)
    history = stage_history(lake, profile_id, model=model, scope=scope)
    if history is None:
        with _engine(request).connect() as connection:
            current = current_profile_id(connection, profile_id)
        if current is not None and current != profile_id:
            history = stage_history(lake, current, model=model, scope=scope)
    if history is None:
        raise ApiError(
            404,
            "not_found",
            f"No stage for the profile {profile_id!r}: the lake holds no event of it that a "
            "stage rule counts.",
        )
    return history.to_dict()
