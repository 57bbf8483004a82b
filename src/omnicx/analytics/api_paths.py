"""Analytics API routes for paths and attribution: `GET /api/analytics/paths` and
`GET /api/analytics/attribution`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from omnicx.analytics.api_common import READERS, LakeDep, ScopeDep, invalid
from omnicx.analytics.attribution import (
    MAX_LOOKBACK,
    MODELS,
    ORDER_COMPLETED,
    AttributionError,
    attribution,
)
from omnicx.analytics.markov import MAX_ORDER
from omnicx.analytics.paths import BY, MAX_DEPTH, MAX_TOP, PathsError, paths
from omnicx.api.auth import Caller

router = APIRouter()

_MAX_DAYS = MAX_LOOKBACK.days


class PathOut(BaseModel):
    path: list[str] = Field(description="The steps' names, in order.")
    people: int


class NodeOut(BaseModel):
    id: str = Field(description='Position and name, "2: email" (counting back to 0 with to_step).')
    name: str
    step: int
    people: int = Field(description="People through this node in the top paths.")


class LinkOut(BaseModel):
    source: str
    target: str
    value: int = Field(description="People (in the top paths).")


class TransitionOut(BaseModel):
    source: str
    target: str
    transitions: int = Field(description="Times a touchpoint on source was followed by target.")
    people: int = Field(description="People who made this transition at least once.")
    share: float = Field(description="Of all transitions out of source.")


class MatrixOut(BaseModel):
    names: list[str]
    counts: list[list[int]] = Field(description="counts[from][to], in the order of names.")


class PathsDocument(BaseModel):
    """Top paths as a Sankey diagram's nodes and links, and the transition matrix."""

    by: str
    from_step: str | None
    to_step: str | None
    depth: int
    top: int
    collapse_repeats: bool
    people: int = Field(description="People with a path.")
    paths: list[PathOut]
    nodes: list[NodeOut]
    links: list[LinkOut]
    transitions: list[TransitionOut]
    matrix: MatrixOut


class CreditOut(BaseModel):
    conversions: float
    revenue: float


class ChannelCreditOut(BaseModel):
    channel: str
    credit: dict[str, CreditOut] = Field(description="Model name → the channel's credit.")
    removal_effect: float | None = Field(description="Markov removal effect (null without it).")


class AttributionDocument(BaseModel):
    """Credit per channel for a conversion event under each attribution model."""

    conversion: str
    models: list[str]
    lookback_days: float
    half_life_days: float
    markov_order: int
    conversions: int
    revenue: float
    journeys_without_conversion: int
    conversion_probability: float | None
    channels: list[ChannelCreditOut]


@router.get(
    "/paths",
    summary="Paths between channels or events: top paths, Sankey nodes and links, transitions",
    operation_id="analytics_paths",
    response_model=PathsDocument,
)
def get_paths(
    lake: LakeDep,
    scope: ScopeDep,
    caller: Annotated[Caller, Depends(READERS)],
    by: Annotated[
        str, Query(description="Nodes are channels or events: channel | event.")
    ] = "channel",
    from_step: Annotated[
        str | None,
        Query(description="Paths from each person's first such step (a channel or an event)."),
    ] = None,
    to_step: Annotated[
        str | None, Query(description="Paths leading to each person's first such step.")
    ] = None,
    depth: Annotated[int, Query(description=f"Steps per path, 1 to {MAX_DEPTH}.")] = 5,
    top: Annotated[
        int, Query(description=f"How many of the most common paths, 1 to {MAX_TOP}.")
    ] = 20,
    collapse_repeats: Annotated[
        bool, Query(description="Merge consecutive repeats of a node (web, web → web).")
    ] = True,
) -> PathsDocument:
    """How people move between channels (or events) through their touchpoints (active
    events), counted in people; see docs/analytics/paths.md."""
    if by not in BY:
        raise invalid(f"by must be one of {', '.join(BY)}, not {by!r}")
    if from_step is not None and to_step is not None:
        raise invalid("give from_step or to_step, not both")
    try:
        result = paths(
            lake,
            by=by,
            start_at=from_step,
            end_at=to_step,
            depth=depth,
            top=top,
            collapse_repeats=collapse_repeats,
            scope=scope,
        )
    except PathsError as exc:
        raise invalid(str(exc)) from None
    return PathsDocument.model_validate(result.to_dict())


@router.get(
    "/attribution",
    summary="Multi-touch attribution: credit per channel under each model",
    operation_id="analytics_attribution",
    response_model=AttributionDocument,
)
def get_attribution(
    lake: LakeDep,
    scope: ScopeDep,
    caller: Annotated[Caller, Depends(READERS)],
    conversion: Annotated[str, Query(description="The conversion event's name.")] = ORDER_COMPLETED,
    model: Annotated[
        list[str] | None,
        Query(description=f"Models to compute (repeatable; default all): {', '.join(MODELS)}."),
    ] = None,
    lookback_days: Annotated[
        float, Query(description="How far before a conversion touchpoints count, in days.")
    ] = 30,
    half_life_days: Annotated[
        float, Query(description="The time-decay model's half-life, in days.")
    ] = 7,
    markov_order: Annotated[
        int, Query(description=f"Channels a Markov state remembers, 1 to {MAX_ORDER}.")
    ] = 1,
) -> AttributionDocument:
    """Which channels get the credit for a conversion event's conversions and revenue; see
    docs/analytics/attribution.md."""
    for name, days in (("lookback_days", lookback_days), ("half_life_days", half_life_days)):
        if not 0 < days <= _MAX_DAYS:
            raise invalid(f"{name} must be more than 0 and at most {_MAX_DAYS}, not {days:g}")
    unknown = [m for m in model or [] if m not in MODELS]
    if unknown:
        raise invalid(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    try:
        result = attribution(
            lake,
            conversion=conversion,
            models=model or MODELS,
            lookback=timedelta(days=lookback_days),
            half_life=timedelta(days=half_life_days),
            markov_order=markov_order,
            scope=scope,
        )
    except AttributionError as exc:
        raise invalid(str(exc)) from None
    return AttributionDocument.model_validate(result.to_dict())
