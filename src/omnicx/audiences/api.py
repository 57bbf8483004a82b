"""Admin API routes of the audiences domain: segments and their members. Served under `/api`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection, Engine

from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody, ValidationErrorBody
from omnicx.audiences import segments as store
from omnicx.audiences.definition_text import render
from omnicx.audiences.errors import DefinitionError, Problem
from omnicx.audiences.membership import member_counts, members_page, memberships_of
from omnicx.audiences.schemas import (
    CheckedDefinition,
    DefinitionCheck,
    MemberOut,
    MembershipOut,
    MembersPage,
    ProfileSegments,
    SegmentChange,
    SegmentIn,
    SegmentList,
    SegmentOut,
)
from omnicx.audiences.segments import Segment, SegmentError
from omnicx.profiles import service as profiles
from omnicx.profiles.service import ProfileError

router = APIRouter(tags=["audiences"])

READERS = require_permission("audiences.read")
WRITERS = require_permission("audiences.write")

STATUS: dict[str, int] = {
    "not_found": 404,
    "exists": 409,
    "in_use": 409,
    "too_many": 409,
    "invalid_key": 422,
    "invalid_name": 422,
    "invalid_definition": 422,
    "invalid_model": 422,
}

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No such segment (`not_found`)."}}
INVALID: Responses = {
    422: {
        "model": ValidationErrorBody,
        "description": "A definition that cannot be used (`invalid_definition`: `errors` names "
        "each problem's JSON path, e.g. `definition.all[2].count.value`), or a bad key or name.",
    }
}
BAD_BODY: Responses = {
    400: {"model": ErrorBody, "description": "The body is not JSON (`bad_request`)."}
}
SegmentKey = Annotated[str, Path(description="The segment's key (or its numeric id).")]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.runtime.engine
    return engine


def _problems(problems: list[Problem], where: str = "definition") -> list[dict[str, str]]:
    return [{"field": f"{where}.{p.path}" if p.path else where, "message": p.message}
            for p in problems]  # fmt: skip


@contextmanager
def transaction(request: Request) -> Iterator[Connection]:
    """One transaction for the request; domain errors become API errors."""
    try:
        with _engine(request).begin() as connection:
            yield connection
    except SegmentError as error:
        status = STATUS.get(error.code, 400)
        errors = _problems(
            error.problems, "body" if error.code == "invalid_model" else "definition"
        )
        if status == 422 and not errors:  # a bad key or name: the field it is in
            errors = [
                {"field": f"body.{error.code.removeprefix('invalid_')}", "message": str(error)}
            ]
        raise ApiError(status, error.code, str(error), errors=errors or None) from None
    except DefinitionError as error:
        raise ApiError(
            422, "invalid_definition", str(error), errors=_problems(error.problems)
        ) from None
    except ProfileError as error:
        raise ApiError(
            404 if error.code == "not_found" else 400, error.code, error.message
        ) from None


def _actor(caller: Caller) -> str:
    return f"api:{caller.role}:{caller.name}"


def _out(segment: Segment, members: int) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        key=segment.key,
        name=segment.name,
        description=segment.description,
        definition=segment.document,
        text=render(segment.definition),
        version=segment.version,
        ready=segment.ready,
        members=members,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
        updated_by=segment.updated_by,
    )


def _one(connection: Connection, segment: Segment) -> SegmentOut:
    return _out(segment, member_counts(connection).get(segment.id, 0))


@router.get(
    "/segments",
    summary="Every segment, with its member count",
    operation_id="segments_list",
    response_model=SegmentList,
)
def list_segments(request: Request, caller: Annotated[Caller, Depends(READERS)]) -> SegmentList:
    """Every segment by key: definition, text form, whether it is live, member count."""
    with transaction(request) as connection:
        counts = member_counts(connection)
        return SegmentList(
            segments=[_out(s, counts.get(s.id, 0)) for s in store.all_segments(connection)]
        )


@router.post(
    "/segments",
    summary="Define a segment",
    operation_id="segments_create",
    response_model=SegmentOut,
    status_code=201,
    responses={
        **BAD_BODY,
        **INVALID,
        409: {"model": ErrorBody, "description": "The key is taken (`exists`)."},
    },
)
def create_segment(
    request: Request, caller: Annotated[Caller, Depends(WRITERS)], body: SegmentIn
) -> SegmentOut:
    """Stores a segment. It is live (`ready`) once the processing stage has evaluated it for
    every profile, usually within seconds; its first members (those matching before it) do
    not emit `Segment Entered`, whoever events after it bring in does."""
    with transaction(request) as connection:
        segment = store.create(
            connection,
            key=body.key,
            name=body.name,
            description=body.description,
            definition=body.definition,
            actor=_actor(caller),
            allow_new_traits=body.allow_new_traits,
        )
        return _one(connection, segment)


@router.post(
    "/segments/check",
    summary="Check a definition without storing it",
    operation_id="segments_check",
    response_model=CheckedDefinition,
    responses={**BAD_BODY, **INVALID},
)
def check_definition(
    request: Request, caller: Annotated[Caller, Depends(READERS)], body: DefinitionCheck
) -> CheckedDefinition:
    """Checks a definition as `POST /segments` would and answers with its text form."""
    with transaction(request) as connection:
        definition = store.check(
            connection, body.definition, key=body.key, allow_new_traits=body.allow_new_traits
        )
        return CheckedDefinition(definition=store.to_json(definition), text=render(definition))


@router.get(
    "/segments/{key}",
    summary="A segment",
    operation_id="segments_get",
    response_model=SegmentOut,
    responses=NOT_FOUND,
)
def get_segment(
    request: Request, caller: Annotated[Caller, Depends(READERS)], key: SegmentKey
) -> SegmentOut:
    """One segment, with its member count."""
    with transaction(request) as connection:
        return _one(connection, store.get(connection, key))


@router.put(
    "/segments/{key}",
    summary="Change a segment",
    operation_id="segments_change",
    response_model=SegmentOut,
    responses={**BAD_BODY, **NOT_FOUND, **INVALID},
)
def change_segment(
    request: Request,
    caller: Annotated[Caller, Depends(WRITERS)],
    key: SegmentKey,
    body: SegmentChange,
) -> SegmentOut:
    """Changes the name, description or definition. A new definition is evaluated for
    everyone again; those who enter or leave because of it get `Segment Entered` /
    `Segment Exited` events (reason `definition`)."""
    with transaction(request) as connection:
        segment = store.change(
            connection,
            key,
            name=body.name,
            description=body.description,
            definition=body.definition,
            actor=_actor(caller),
            allow_new_traits=body.allow_new_traits,
        )
        return _one(connection, segment)


@router.delete(
    "/segments/{key}",
    summary="Delete a segment",
    operation_id="segments_delete",
    status_code=204,
    response_class=Response,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "Another segment refers to it (`in_use`)."},
    },
)
def delete_segment(
    request: Request, caller: Annotated[Caller, Depends(WRITERS)], key: SegmentKey
) -> Response:
    """Deletes the segment and its members."""
    with transaction(request) as connection:
        store.remove(connection, key)
    return Response(status_code=204)


@router.get(
    "/segments/{key}/members",
    summary="A segment's members",
    operation_id="segments_members",
    response_model=MembersPage,
    responses=NOT_FOUND,
)
def segment_members(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    key: SegmentKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="From `next_cursor`.")] = None,
) -> MembersPage:
    """Members by profile id, with when they entered; page with `cursor`."""
    with transaction(request) as connection:
        segment = store.get(connection, key)
        found = members_page(connection, segment.id, after=cursor or "", limit=limit + 1)
        page = found[:limit]
        return MembersPage(
            segment=segment.key,
            members=[MemberOut(profile_id=p, entered_at=at) for p, at in page],
            next_cursor=page[-1][0] if len(found) > limit else None,
        )


@router.get(
    "/profiles/{profile_id}/segments",
    summary="The segments a profile is in",
    operation_id="profiles_segments",
    response_model=ProfileSegments,
    responses={404: {"model": ErrorBody, "description": "No such profile (`not_found`)."}},
)
def profile_segments(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    profile_id: Annotated[str, Path(description="A profile id (a merged-away id follows).")],
) -> ProfileSegments:
    """The segments the profile is a member of now, with when it entered each."""
    with transaction(request) as connection:
        current = profiles.resolve(connection, profile_id)
        return ProfileSegments(
            profile_id=current,
            segments=[
                MembershipOut(segment=k, name=n, entered_at=at)
                for k, n, at in memberships_of(connection, current)
            ],
        )
