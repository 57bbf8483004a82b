"""Admin API routes for what is derived from segments: personas, lookalikes, exports for ad
platforms. Served under `/api` beside the segments routes (audiences/api.py)."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody
from omnicx.audiences import segments as store
from omnicx.audiences.ad_export import write_members_csv, write_platform_csv
from omnicx.audiences.api import NOT_FOUND, READERS, Responses, SegmentKey, transaction
from omnicx.audiences.behaviour import behaviour_table
from omnicx.audiences.exports import export_members
from omnicx.audiences.lookalikes import LookalikeError, find_lookalikes
from omnicx.audiences.membership import members_page
from omnicx.audiences.personas import find_personas
from omnicx.audiences.profile_features import FeatureError
from omnicx.store.clock import utc_now

router = APIRouter(tags=["audiences"])

EXPORTERS = require_permission("audiences.export")
FORMATS = (
    "members: profile_id, email, phone; google / meta: SHA-256 hashed e-mails and phones in "
    "the platform's upload format."
)
UNUSABLE: Responses = {
    409: {
        "model": ErrorBody,
        "description": "Too few profiles, or nothing that varies between them, to compute it "
        "(`not_enough_data`).",
    }
}


class DistinctionOut(BaseModel):
    """How a persona differs from everyone on one behaviour."""

    feature: str
    value: float = Field(description="The persona's mean, in the feature's own units.")
    population: float = Field(description="Everyone's mean.")
    difference: float = Field(description="Standardised difference from everyone.")


class PersonaOut(BaseModel):
    """A group of customers who behave alike, described."""

    id: int
    name: str
    description: str
    size: int
    share: float
    distinctive: list[DistinctionOut]


class PersonasOut(BaseModel):
    """Personas of every profile that has been seen."""

    profiles: int
    personas: list[PersonaOut]


class LookalikeOut(BaseModel):
    """A profile like the segment's members, who is not one."""

    rank: int
    profile_id: str
    similarity: float
    nearest_seed_id: str = Field(description="The member it is most like.")


class LookalikesOut(BaseModel):
    """The profiles most like a segment's members."""

    segment: str
    lookalikes: list[LookalikeOut]


@router.get(
    "/personas",
    summary="Personas: customers clustered by behaviour, described",
    operation_id="personas",
    response_model=PersonasOut,
    responses=UNUSABLE,
)
def personas(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    k: Annotated[int | None, Query(ge=2, le=12, description="How many (default: chosen).")] = None,
) -> PersonasOut:
    """Clusters every profile that has been seen on recency, orders, lifetime value, events,
    recent events and channels used (k-means), and describes each group (docs/personas.md)."""
    with transaction(request) as connection:
        table = behaviour_table(connection, utc_now())
    try:
        result = find_personas(table, k=k)
    except (FeatureError, ValueError) as error:
        raise ApiError(409, "not_enough_data", str(error)) from None
    return PersonasOut(
        profiles=table.num_rows,
        personas=[
            PersonaOut(
                id=p.id,
                name=p.name,
                description=p.description,
                size=p.size,
                share=p.share,
                distinctive=[
                    DistinctionOut(
                        feature=d.feature,
                        value=d.value,
                        population=d.population,
                        difference=d.difference,
                    )
                    for d in p.distinctive
                ],
            )
            for p in result.personas
        ],
    )


@router.get(
    "/segments/{key}/lookalikes",
    summary="Profiles most like a segment's members",
    operation_id="segments_lookalikes",
    response_model=LookalikesOut,
    responses={**NOT_FOUND, **UNUSABLE},
)
def lookalikes(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    key: SegmentKey,
    n: Annotated[int, Query(ge=1, le=10_000, description="How many.")] = 100,
) -> LookalikesOut:
    """The `n` profiles outside the segment whose behaviour is closest to its members'
    (docs/personas.md#lookalikes), most similar first."""
    with transaction(request) as connection:
        segment = store.get(connection, key)
        seed = [p for p, _ in members_page(connection, segment.id, limit=1_000_000)]
        table = behaviour_table(connection, utc_now())
    try:
        found = find_lookalikes(table, seed, n=n)
    except (LookalikeError, FeatureError) as error:
        raise ApiError(409, "not_enough_data", str(error)) from None
    return LookalikesOut(
        segment=segment.key,
        lookalikes=[LookalikeOut(**row) for row in found.to_pylist()],
    )


@router.get(
    "/segments/{key}/export",
    summary="A segment's members as CSV, or hashed for ad platforms",
    operation_id="segments_export",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The CSV file."},
        **NOT_FOUND,
    },
)
def export(
    request: Request,
    caller: Annotated[Caller, Depends(EXPORTERS)],
    key: SegmentKey,
    format: Annotated[
        Literal["members", "google", "meta"],
        Query(description=FORMATS),
    ] = "members",
) -> Response:
    """Only members who consented to advertising are written (docs/ad-export.md); the
    `X-Omnicx-Skipped-Consent` and `X-Omnicx-Skipped-Invalid` headers say how many were left
    out."""
    out = io.StringIO()
    with transaction(request) as connection:
        segment = store.get(connection, key)
        members = export_members(connection, segment.id)
        if format == "members":
            summary = write_members_csv(members, out)
        else:
            summary = write_platform_csv(members, out, platform=format)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{segment.key}-{format}.csv"',
            "X-Omnicx-Written": str(summary.written),
            "X-Omnicx-Skipped-Consent": str(summary.skipped_consent),
            "X-Omnicx-Skipped-Invalid": str(summary.skipped_invalid),
        },
    )
