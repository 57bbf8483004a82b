"""Admin API routes of the profiles domain: the customer 360, timeline, merges, consents,
privacy requests. Served under `/api` (api/routers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection, Engine

from omnicx.access import audit
from omnicx.api.auth import Caller, require_permission
from omnicx.api.errors import ApiError, ErrorBody
from omnicx.profiles import privacy, service
from omnicx.profiles.schemas import (
    ChangeOut,
    ConflictOut,
    ConsentChange,
    ConsentsOut,
    ErasureOut,
    ProfileDocument,
    TimelinePage,
    UnmergeOut,
)
from omnicx.profiles.service import ProfileError

router = APIRouter(tags=["profiles"])

READERS = require_permission("profiles.read")
REPAIRERS = require_permission("profiles.repair")
CONSENT_WRITERS = require_permission("profiles.consent")
PRIVACY = require_permission("profiles.privacy")

STATUS: dict[str, int] = {
    "not_found": 404,
    "shared": 409,
    "unknown_type": 422,
    "invalid_value": 422,
    "blocked_value": 422,
    "invalid_cursor": 400,
    "invalid_consent": 422,
    "not_a_merge": 409,
    "already_undone": 409,
    "confirmation_required": 400,
}


Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


NOT_FOUND: Responses = {404: _error("No such profile, or it was erased (`not_found`).")}
LOOKUP_ERRORS: Responses = {
    404: _error("No profile holds the identifier (`not_found`)."),
    409: _error("The identifier is shared by too many people to identify one (`shared`)."),
    422: _error(
        "Unknown identifier type (`unknown_type`), a value that cannot be normalised "
        "(`invalid_value`) or a blocked value such as `null` (`blocked_value`)."
    ),
}

ProfileIdPath = Annotated[
    str,
    Path(description="A profile id; an id merged into another profile answers with that one."),
]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.runtime.engine
    return engine


@contextmanager
def _transaction(request: Request) -> Iterator[Connection]:
    """One transaction for the request; domain errors become API errors."""
    try:
        with _engine(request).begin() as connection:
            yield connection
    except ProfileError as error:
        raise ApiError(STATUS.get(error.code, 400), error.code, error.message) from None


def _actor(caller: Caller) -> str:
    return f"api:{caller.role}:{caller.name}"


@router.get(
    "/profiles/lookup",
    summary="Find the profile holding an identifier",
    operation_id="profiles_lookup",
    response_model=ProfileDocument,
    responses=LOOKUP_ERRORS,
)
def lookup(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    type: Annotated[str, Query(description="Identifier type: email, phone, user_id, …")],
    value: Annotated[str, Query(description="The value, as written anywhere (it is normalised).")],
) -> ProfileDocument:
    """The profile document of whoever holds the identifier: identities, traits with
    provenance, computed traits and consents."""
    with _transaction(request) as connection:
        return service.document(connection, service.lookup(connection, type, value))


@router.get(
    "/profiles/{profile_id}",
    summary="A profile: identities, traits, computed traits, consents",
    operation_id="profiles_get",
    response_model=ProfileDocument,
    responses=NOT_FOUND,
)
def get_profile(
    request: Request, caller: Annotated[Caller, Depends(READERS)], profile_id: ProfileIdPath
) -> ProfileDocument:
    """The profile document; an old id that was merged away answers with the profile it is
    part of now, and says so in `merged_from`."""
    with _transaction(request) as connection:
        return service.document(connection, profile_id)


@router.get(
    "/profiles/{profile_id}/events",
    summary="The profile's cross-channel timeline, newest first",
    operation_id="profiles_events",
    response_model=TimelinePage,
    responses={**NOT_FOUND, 400: _error("A cursor this API did not give (`invalid_cursor`).")},
)
def events(
    request: Request,
    caller: Annotated[Caller, Depends(READERS)],
    profile_id: ProfileIdPath,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="Events per page.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    channel: Annotated[
        list[str] | None,
        Query(description="Only these channels (repeat, or comma-separated)."),
    ] = None,
    type: Annotated[
        list[str] | None,
        Query(
            description="Only these message types (`track`, `page`, …) or track event names "
            "(repeat, or comma-separated)."
        ),
    ] = None,
) -> TimelinePage:
    """Events of every channel attributed to the profile, newest first, a page at a time."""
    with _transaction(request) as connection:
        return service.timeline(
            connection,
            profile_id,
            limit=limit,
            cursor=cursor,
            channels=_split(channel),
            types=_split(type),
        )


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@router.get(
    "/profiles/{profile_id}/merges",
    summary="Merges, splits and unmerges that involved the profile",
    operation_id="profiles_merges",
    response_model=list[ChangeOut],
    responses=NOT_FOUND,
)
def merges(
    request: Request, caller: Annotated[Caller, Depends(READERS)], profile_id: ProfileIdPath
) -> list[ChangeOut]:
    """The identity log entries naming the profile, newest first; a merge's id is what
    `POST /api/identity/changes/{change_id}/unmerge` takes."""
    with _transaction(request) as connection:
        return service.merges(connection, profile_id)


@router.get(
    "/profiles/{profile_id}/conflicts",
    summary="Joins a rule refused for the profile",
    operation_id="profiles_conflicts",
    response_model=list[ConflictOut],
    responses=NOT_FOUND,
)
def conflicts(
    request: Request, caller: Annotated[Caller, Depends(READERS)], profile_id: ProfileIdPath
) -> list[ConflictOut]:
    """Identifiers that would have joined this profile with another but broke a rule (two
    userIds, too many e-mail addresses, …)."""
    with _transaction(request) as connection:
        return service.conflicts(connection, profile_id)


@router.post(
    "/identity/changes/{change_id}/unmerge",
    summary="Undo a merge",
    operation_id="identity_unmerge",
    response_model=UnmergeOut,
    responses={
        404: _error("No such change (`not_found`)."),
        409: _error("The change is not a merge (`not_a_merge`) or was undone (`already_undone`)."),
    },
)
def unmerge(
    request: Request,
    caller: Annotated[Caller, Depends(REPAIRERS)],
    change_id: Annotated[int, Path(description="The id of a `merged` change.")],
) -> UnmergeOut:
    """Splits a merged profile back in two and keeps the two sides apart from now on; both
    profiles' traits and computed traits are rebuilt at once."""
    with _transaction(request) as connection:
        result = service.unmerge(connection, change_id, actor=_actor(caller))
        audit.record(
            connection, actor=_actor(caller), action="identity.unmerge", target=str(change_id)
        )
        return result


@router.get(
    "/profiles/{profile_id}/consents",
    summary="The profile's consents and their history",
    operation_id="profiles_consents",
    response_model=ConsentsOut,
    responses=NOT_FOUND,
)
def get_consents(
    request: Request, caller: Annotated[Caller, Depends(READERS)], profile_id: ProfileIdPath
) -> ConsentsOut:
    """The consent in force per channel and purpose, and every signal that set one."""
    with _transaction(request) as connection:
        return service.consents(connection, profile_id)


@router.put(
    "/profiles/{profile_id}/consents",
    summary="Record a consent given or withdrawn",
    operation_id="profiles_set_consent",
    response_model=ConsentsOut,
    responses={
        **NOT_FOUND,
        422: _error("Unknown channel or purpose (`invalid_consent`), or a malformed body."),
    },
)
def put_consent(
    request: Request,
    caller: Annotated[Caller, Depends(CONSENT_WRITERS)],
    profile_id: ProfileIdPath,
    change: ConsentChange,
) -> ConsentsOut:
    """Records the consent now, with the caller's token as who set it; it is in force until a
    later signal (an event or another call) says otherwise."""
    with _transaction(request) as connection:
        return service.set_consent(
            connection,
            profile_id,
            channel=change.channel,
            purpose=change.purpose,
            granted=change.granted,
            note=change.note,
            actor=_actor(caller),
        )


@router.get(
    "/profiles/{profile_id}/export",
    summary="Export everything held about the person (GDPR/KVKK access request)",
    operation_id="profiles_export",
    responses=NOT_FOUND,
)
def export(
    request: Request, caller: Annotated[Caller, Depends(PRIVACY)], profile_id: ProfileIdPath
) -> dict[str, Any]:
    """One JSON document: the profile, every trait observation, the consent history, every
    event in full, identity changes and conflicts (docs/privacy.md)."""
    with _transaction(request) as connection:
        document = privacy.export_person(connection, profile_id)
        audit.record(connection, actor=_actor(caller), action="profiles.export", target=profile_id)
        return document


@router.delete(
    "/profiles/{profile_id}",
    summary="Erase the person (GDPR/KVKK erasure request)",
    operation_id="profiles_erase",
    response_model=ErasureOut,
    responses={
        **NOT_FOUND,
        400: _error("`confirm` is missing or is not the profile id (`confirmation_required`)."),
    },
)
def erase(
    request: Request,
    caller: Annotated[Caller, Depends(PRIVACY)],
    profile_id: ProfileIdPath,
    confirm: Annotated[
        str | None, Query(description="The profile id again: erasure cannot be undone.")
    ] = None,
) -> ErasureOut:
    """Deletes the person's identities, events, traits, consents and computed traits for
    good, keeping only keyed hashes of their identifiers so their data is dropped if it is
    sent again (docs/privacy.md)."""
    if confirm != profile_id:
        raise ApiError(
            400,
            "confirmation_required",
            f"Erasure cannot be undone: repeat the profile id as ?confirm={profile_id}.",
        )
    with _transaction(request) as connection:
        erased = privacy.erase_person(connection, profile_id, actor=_actor(caller))
        audit.record(connection, actor=_actor(caller), action="profiles.erase", target=profile_id)
        return erased
