"""Analytics API routes for funnels: `/api/analytics/funnel` (people per step, conversion,
drop-off, time to convert) and `/api/analytics/funnel/dropped` (who dropped at a step, as
JSON or CSV). GET takes the funnel as query parameters, POST as a JSON body; the scope
(`start`, `end`, `where`) is given as query parameters either way."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from omnicx.analytics.api_common import READERS, LakeDep, ScopeDep, invalid
from omnicx.analytics.funnel_spec import FunnelError, FunnelSpec, funnel_spec
from omnicx.analytics.funnels import run_dropped, run_funnel
from omnicx.api.auth import Caller
from omnicx.cli.durations import parse_duration

router = APIRouter()

STEP_HELP = (
    "A step: an event name, optionally with filters in brackets, e.g. "
    "`Order Completed[channel=store_pos, properties.total>100]`. Two to twenty, in order."
)
WINDOW_HELP = "How long after the first step the last may come: 30m, 24h, 7d, 2w."
ORDERING_HELP = (
    "`ordered` (other events may come between steps), `strict` (no other touchpoint between "
    "two steps) or `unordered` (the steps in any order within the window)."
)
EXCLUDE_HELP = (
    "An exclusion: people who did this event between the first and last step (or between "
    "steps FROM and TO with the suffix `@FROM-TO`) are left out."
)
BREAKDOWN_HELP = "Split by `channel`, `source`, `property:NAME` or `trait:NAME`."
ATTRIBUTION_HELP = "Which step gives the breakdown value: `first`, `last` or `step:N`."
LIMIT_HELP = "Breakdown values listed (the most people first); the rest together as `other`."
DROPPED_HELP = "The step N (2 or more) people dropped at: they reached step N-1, not step N."
FORMAT_HELP = "`csv` for a CSV file (also when the Accept header asks for text/csv)."


class FunnelBody(BaseModel):
    """A funnel, as a POST body."""

    steps: list[str] = Field(default_factory=list, description=STEP_HELP)
    window: str = Field(default="30d", description=WINDOW_HELP)
    ordering: str = Field(default="ordered", description=ORDERING_HELP)
    exclusions: list[str] = Field(default_factory=list, description=EXCLUDE_HELP)
    breakdown: str | None = Field(default=None, description=BREAKDOWN_HELP)
    attribution: str = Field(default="first", description=ATTRIBUTION_HELP)
    breakdown_limit: int = Field(default=25, description=LIMIT_HELP)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "steps": [
                        "Product Viewed",
                        "Product Added",
                        "Order Completed[channel=store_pos]",
                    ],
                    "window": "7d",
                    "breakdown": "channel",
                    "attribution": "first",
                }
            ]
        }
    }


class DroppedBody(FunnelBody):
    """A funnel and the step to list the people who dropped at, as a POST body."""

    dropped: int = Field(..., description=DROPPED_HELP)


FUNNEL_SUMMARY = "A funnel: people per step, conversion, drop-off, time to convert"
FUNNEL_DESCRIPTION = (
    "Each person counts once, with their best attempt (the furthest step reached). Answers "
    '`{"steps": [{"step": NAME, "count": PEOPLE, "conversion_from_start": ..., ...}], '
    '"time_to_convert": {...}, "breakdown": {"by": ..., "groups": [...]}}`. '
    "See docs/analytics/funnels.md for the definitions."
)
DROPPED_SUMMARY = "The people who dropped at a step of a funnel"
DROPPED_DESCRIPTION = (
    "Profile ids of the people whose best attempt reached step N-1 and not step N, with when "
    "they reached step N-1: JSON, or CSV (`profile_id,reached_at`) with `format=csv` or "
    "`Accept: text/csv`."
)


@router.get("/funnel", summary=FUNNEL_SUMMARY, description=FUNNEL_DESCRIPTION)
def get_funnel(
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
    scope: ScopeDep,
    step: Annotated[list[str] | None, Query(description=STEP_HELP)] = None,
    window: Annotated[str, Query(description=WINDOW_HELP)] = "30d",
    ordering: Annotated[str, Query(description=ORDERING_HELP)] = "ordered",
    exclude: Annotated[list[str] | None, Query(description=EXCLUDE_HELP)] = None,
    breakdown: Annotated[str | None, Query(description=BREAKDOWN_HELP)] = None,
    attribution: Annotated[str, Query(description=ATTRIBUTION_HELP)] = "first",
    breakdown_limit: Annotated[int, Query(description=LIMIT_HELP)] = 25,
) -> dict[str, Any]:
    """The funnel of the query parameters."""
    body = FunnelBody(
        steps=step or [],
        window=window,
        ordering=ordering,
        exclusions=exclude or [],
        breakdown=breakdown,
        attribution=attribution,
        breakdown_limit=breakdown_limit,
    )
    return run_funnel(lake, _spec(body), scope=scope).to_dict()


@router.post("/funnel", summary=FUNNEL_SUMMARY, description=FUNNEL_DESCRIPTION)
def post_funnel(
    caller: Annotated[Caller, Depends(READERS)], lake: LakeDep, scope: ScopeDep, body: FunnelBody
) -> dict[str, Any]:
    """The funnel of the body."""
    return run_funnel(lake, _spec(body), scope=scope).to_dict()


@router.get(
    "/funnel/dropped",
    summary=DROPPED_SUMMARY,
    description=DROPPED_DESCRIPTION,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_dropped(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
    scope: ScopeDep,
    dropped: Annotated[int, Query(description=DROPPED_HELP)],
    step: Annotated[list[str] | None, Query(description=STEP_HELP)] = None,
    window: Annotated[str, Query(description=WINDOW_HELP)] = "30d",
    ordering: Annotated[str, Query(description=ORDERING_HELP)] = "ordered",
    exclude: Annotated[list[str] | None, Query(description=EXCLUDE_HELP)] = None,
    format: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    """The people who dropped, for the query parameters."""
    body = DroppedBody(
        steps=step or [],
        window=window,
        ordering=ordering,
        exclusions=exclude or [],
        dropped=dropped,
    )
    return _dropped(request, lake, scope, body, format)


@router.post(
    "/funnel/dropped",
    summary=DROPPED_SUMMARY,
    description=DROPPED_DESCRIPTION,
    responses={200: {"content": {"text/csv": {}}}},
)
def post_dropped(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
    scope: ScopeDep,
    body: DroppedBody,
    format: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    """The people who dropped, for the body."""
    return _dropped(request, lake, scope, body, format)


def _spec(body: FunnelBody) -> FunnelSpec:
    try:
        window = parse_duration(body.window)
    except ValueError as exc:
        raise invalid(f"window: {exc}") from None
    try:
        return funnel_spec(
            body.steps,
            window=window,
            ordering=body.ordering,
            exclusions=body.exclusions,
            breakdown=body.breakdown,
            breakdown_attribution=body.attribution,
            breakdown_limit=body.breakdown_limit,
        )
    except FunnelError as exc:
        raise invalid(str(exc)) from None


def _dropped(
    request: Request, lake: LakeDep, scope: ScopeDep, body: DroppedBody, format: str | None
) -> Any:
    if format not in (None, "json", "csv"):
        raise invalid(f"format: {format!r} is not a format here: use json or csv")
    spec = _spec(body)
    try:
        people = run_dropped(lake, spec, step=body.dropped, scope=scope)
    except FunnelError as exc:
        raise invalid(str(exc)) from None
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if not wants_csv:
        return people.to_dict()
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["profile_id", "reached_at"])
    for row in people.rows():
        out.writerow([row["profile_id"], row["reached_at"]])
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="funnel-dropped-step-{body.dropped}.csv"'
        },
    )
