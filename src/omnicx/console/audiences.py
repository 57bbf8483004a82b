"""The console's audiences section: segments with their live member counts, a segment's
page (members, exports, lookalikes, delete), and the builder, scoring models and personas
(audiences_builder, audiences_scores, audiences_personas).

Pages read the audiences domain's public functions; what is slow on a large installation
(every segment's count, lookalikes) is loaded after the page by htmx.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from omnicx.access import audit
from omnicx.access.sessions import ConsoleSession
from omnicx.audiences import segments as store
from omnicx.audiences.ad_export import write_members_csv, write_platform_csv
from omnicx.audiences.behaviour import behaviour_table
from omnicx.audiences.definition import segment_references
from omnicx.audiences.exports import export_members
from omnicx.audiences.lookalikes import LookalikeError, find_lookalikes
from omnicx.audiences.membership import member_counts, members_page
from omnicx.audiences.profile_features import FeatureError
from omnicx.audiences.segment_counts import member_count
from omnicx.audiences.segments import Segment, SegmentError
from omnicx.console import audiences_builder, audiences_personas, audiences_scores, i18n
from omnicx.console.audiences_common import SECTION, actor, segment_or_404, transaction
from omnicx.console.definitions import in_words
from omnicx.console.rendering import render
from omnicx.console.security import require
from omnicx.profiles import service as profiles
from omnicx.store.clock import utc_now

router = APIRouter()
router.include_router(audiences_builder.router)
router.include_router(audiences_scores.router)
router.include_router(audiences_personas.router)

MEMBERS_PAGE: Final = 50
READ = require("audiences.read")
WRITE = require("audiences.write")
EXPORT = require("audiences.export")
Reader = Annotated[ConsoleSession, Depends(READ)]
Cursor = Annotated[str, Query(max_length=64, description="The last profile id of the page before.")]


def _rows(connection: Connection, language: str) -> list[dict[str, Any]]:
    return [
        {"segment": s, "text": in_words(s.definition, language)}
        for s in store.all_segments(connection)
    ]


@router.get("/audiences")
def segment_list(
    request: Request,
    session: Reader,
    deleted: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Every segment with its definition in words; the counts follow (`/audiences/table`)."""
    with transaction(request) as connection:
        rows = _rows(connection, request.state.language)
    return render(
        request,
        "audiences/list.html",
        {"section": SECTION, "tab": "segments", "rows": rows, "counts": None, "deleted": deleted},
    )


@router.get("/audiences/table")
def segment_table(request: Request, session: Reader) -> Response:
    """The segment table with live member counts (every segment's members counted)."""
    with transaction(request) as connection:
        rows = _rows(connection, request.state.language)
        counts = member_counts(connection)
    return render(request, "audiences/_table.html", {"rows": rows, "counts": counts})


def _members(
    connection: Connection, segment: Segment, after: str
) -> tuple[list[dict[str, Any]], str | None]:
    found = members_page(connection, segment.id, after=after, limit=MEMBERS_PAGE + 1)
    page = found[:MEMBERS_PAGE]
    documents = profiles.documents(connection, [p for p, _ in page])
    members = []
    for profile_id, entered_at in page:
        document = documents.get(profile_id)
        identities = document.identities if document is not None else {}
        members.append(
            {
                "profile_id": profile_id,
                "entered_at": entered_at,
                "name": _name_of(document.traits if document is not None else {}),
                "emails": [i.value for i in identities.get("email", [])],
                "phones": [i.value for i in identities.get("phone", [])],
            }
        )
    return members, page[-1][0] if len(found) > MEMBERS_PAGE else None


def _name_of(traits: dict[str, Any]) -> str:
    """The person's name from the usual traits (`name`, else first and last name)."""
    for key in ("name", "full_name", "fullName"):
        trait = traits.get(key)
        if trait is not None and isinstance(trait.value, str) and trait.value.strip():
            return str(trait.value).strip()
    for first_key, last_key in (("first_name", "last_name"), ("firstName", "lastName")):
        parts = [traits.get(first_key), traits.get(last_key)]
        found = [t.value.strip() for t in parts if t is not None and isinstance(t.value, str)]
        if any(found):
            return " ".join(part for part in found if part)
    return ""


def _segment_page(
    request: Request,
    connection: Connection,
    segment: Segment,
    *,
    after: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    members, next_after = _members(connection, segment, after)
    used_by = sorted(
        s.key
        for s in store.all_segments(connection)
        if s.id != segment.id and segment.key in segment_references(s.definition)
    )
    return render(
        request,
        "audiences/segment.html",
        {
            "section": SECTION,
            "tab": "segments",
            "segment": segment,
            "text": in_words(segment.definition, request.state.language),
            "count": member_count(connection, segment.id),
            "members": members,
            "after": after,
            "next_after": next_after,
            "used_by": used_by,
            "error": error,
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status_code,
    )


@router.get("/audiences/{segment_id:int}")
def segment_page(
    request: Request, session: Reader, segment_id: int, after: Cursor = ""
) -> Response:
    """A segment: count, definition, members (a page at a time), exports, lookalikes."""
    with transaction(request) as connection:
        segment = segment_or_404(connection, segment_id)
        return _segment_page(request, connection, segment, after=after)


@router.post("/audiences/{segment_id:int}/delete")
def delete_segment(
    request: Request, session: Annotated[ConsoleSession, Depends(WRITE)], segment_id: int
) -> Response:
    """Deletes the segment and its members; refused while another segment refers to it."""
    with transaction(request) as connection:
        segment = segment_or_404(connection, segment_id)
        try:
            store.remove(connection, segment.id)
        except SegmentError as refused:
            if refused.code != "in_use":
                raise
            return _segment_page(request, connection, segment, error="in_use", status_code=409)
        audit.record(
            connection,
            actor=actor(session),
            action="audiences.delete",
            target=f"segment:{segment.key}",
            detail={"id": segment.id, "name": segment.name},
        )
    return RedirectResponse(f"/console/audiences?deleted={segment.key}", status_code=303)


@router.get("/audiences/{segment_id:int}/export")
def export_segment(
    request: Request,
    session: Annotated[ConsoleSession, Depends(EXPORT)],
    segment_id: int,
    format: Literal["members", "google", "meta"] = "members",
) -> Response:
    """The members as CSV (`members`), or hashed for Google or Meta: only those who consented
    to advertising (docs/ad-export.md). Recorded in the audit log."""
    out = io.StringIO()
    with transaction(request) as connection:
        segment = segment_or_404(connection, segment_id)
        members = export_members(connection, segment.id)
        if format == "members":
            summary = write_members_csv(members, out)
        else:
            summary = write_platform_csv(members, out, platform=format)
        audit.record(
            connection,
            actor=actor(session),
            action="audiences.export",
            target=f"segment:{segment.key}",
            detail={
                "format": format,
                "written": summary.written,
                "skipped_consent": summary.skipped_consent,
                "skipped_invalid": summary.skipped_invalid,
            },
        )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{segment.key}-{format}.csv"',
            "X-Omnicx-Written": str(summary.written),
            "X-Omnicx-Skipped-Consent": str(summary.skipped_consent),
            "X-Omnicx-Skipped-Invalid": str(summary.skipped_invalid),
            "Cache-Control": "no-store",
        },
    )


@router.get("/audiences/{segment_id:int}/lookalikes")
def lookalikes(
    request: Request,
    session: Reader,
    segment_id: int,
    n: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Response:
    """The `n` profiles outside the segment most like its members (docs/personas.md)."""
    now = utc_now()
    with transaction(request) as connection:
        segment = segment_or_404(connection, segment_id)
        seed = [p for p, _ in members_page(connection, segment.id, limit=1_000_000)]
        table = behaviour_table(connection, now) if seed else None
    rows: list[dict[str, Any]] = []
    problem: str | None = "empty" if not seed else None
    if table is not None:
        try:
            rows = find_lookalikes(table, seed, n=n).to_pylist()
        except (LookalikeError, FeatureError) as error:
            problem = i18n.say(error, request.state.language)
    return render(
        request,
        "audiences/lookalikes.html",
        {"section": SECTION, "segment": segment, "rows": rows, "problem": problem, "n": n},
    )
