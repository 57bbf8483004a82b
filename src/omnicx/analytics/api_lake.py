"""`GET /api/analytics/lake`: how much the event lake holds and how far behind it is."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from omnicx.analytics import maintenance
from omnicx.analytics.api_common import READERS, LakeDep
from omnicx.api.auth import Caller

router = APIRouter()


class LakeStatusOut(BaseModel):
    """The lake's size and freshness."""

    events: int = Field(description="Events the lake holds.")
    days: int = Field(description="Days with events.")
    first_day: date | None
    last_day: date | None
    event_files: int
    bytes_on_disk: int
    events_through: int = Field(description="The newest event id the lake holds.")
    lag: int = Field(description="Events resolved by identity but not in the lake yet.")
    generation: int = Field(description="How many times the lake was rebuilt.")


@router.get("/lake", summary="The event lake's size and freshness")
def lake_status(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    lake: LakeDep,
) -> LakeStatusOut:
    """What the analytics read: how many events, over which days, how far behind."""
    del caller
    found = maintenance.status(request.app.state.runtime.engine, lake.path)
    return LakeStatusOut(
        events=found.events,
        days=found.days,
        first_day=found.first_day,
        last_day=found.last_day,
        event_files=found.event_files,
        bytes_on_disk=found.bytes_on_disk,
        events_through=found.events_through,
        lag=found.lag,
        generation=found.generation,
    )
