"""The console's customers section: search by any identifier or by name, the customer 360
page and its cross-channel timeline (infinite scroll). Actions on a customer (undo a merge,
consent, privacy export and erasure) are in customers_actions.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import URL

from omnicx.access.sessions import ConsoleSession
from omnicx.collect.sources import CHANNELS, SYSTEM_CHANNEL
from omnicx.console import customers_actions
from omnicx.console.customers_view import (
    TIMELINE_PAGE,
    channels_of,
    customer_360,
    find_customers,
    identifier_types,
    timeline_views,
)
from omnicx.console.rendering import render
from omnicx.console.security import engine_of, require
from omnicx.profiles import service
from omnicx.profiles.consent import CONSENT_CHANNELS, PURPOSES
from omnicx.profiles.schemas import TimelinePage
from omnicx.profiles.service import ProfileError

router = APIRouter()
router.include_router(customers_actions.router)

READ = require("profiles.read")
PERSONAL_DATA = "profiles.personal_data"
TIMELINE_CHANNELS = frozenset((*CHANNELS, SYSTEM_CHANNEL))

ProfileIdPath = Annotated[str, Path(max_length=64)]
SearchText = Annotated[str, Query(max_length=200)]
ChannelFilter = Annotated[str, Query(max_length=16)]
TypeFilter = Annotated[str, Query(alias="type", max_length=200)]


def _invalid(request: Request, errors: list[dict[str, Any]], back: str) -> Response:
    return render(
        request,
        "customers/invalid.html",
        {"section": "customers", "errors": errors, "back": back},
        status_code=422,
    )


@router.get("/customers")
def search_page(
    request: Request,
    session: Annotated[ConsoleSession, Depends(READ)],
    q: SearchText = "",
    by: Annotated[str, Query(max_length=40)] = "any",
) -> Response:
    """The search form; one exact identifier match opens that customer, else the list."""
    with engine_of(request).begin() as connection:
        types = identifier_types(connection)
        errors: list[dict[str, Any]] = []
        outcome = None
        if by not in ("any", "name", *types):
            errors.append({"field": "by", "code": "unknown_kind"})
        elif q.strip():
            try:
                outcome = find_customers(connection, q, by)
            except ProfileError as error:
                errors.append({"field": "q", "code": error.code, "type": by})
    if outcome is not None and outcome.open_profile is not None:
        return RedirectResponse(f"/console/customers/{outcome.open_profile}", status_code=303)
    return render(
        request,
        "customers/search.html",
        {
            "section": "customers",
            "q": q,
            "by": by,
            "types": types,
            "outcome": outcome,
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


def _filters(channel: str, event_type: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    channels = [channel] if channel else []
    if channel and channel not in TIMELINE_CHANNELS:
        errors.append({"field": "channel", "code": "unknown_channel"})
    types = [event_type.strip()] if event_type.strip() else []
    return channels, types, errors


def _timeline_url(profile_id: str, cursor: str | None, channel: str, event_type: str) -> str:
    params = {"cursor": cursor, "channel": channel, "type": event_type}
    url = URL(f"/console/customers/{profile_id}/timeline")
    return str(url.include_query_params(**{k: v for k, v in params.items() if v}))


def _moved(request: Request, profile_id: str, current: str, tail: str = "") -> Response | None:
    """A redirect to the surviving profile when `profile_id` was merged into it."""
    if current == profile_id:
        return None
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/console/customers/{current}{tail}{query}", status_code=303)


def _resolve(connection: Any, profile_id: str) -> str:
    try:
        return service.resolve(connection, profile_id)
    except ProfileError:
        raise HTTPException(status_code=404) from None


@router.get("/customers/{profile_id}")
def customer_page(
    request: Request,
    session: Annotated[ConsoleSession, Depends(READ)],
    profile_id: ProfileIdPath,
    channel: ChannelFilter = "",
    event_type: TypeFilter = "",
    done: Literal["unmerged", "consent"] | None = None,
    restored: Annotated[str | None, Query(pattern=r"^[0-9a-f-]{36}$")] = None,
) -> Response:
    """The customer 360: identities, traits, consents, segments, scores, computed traits,
    merges and the first page of the timeline."""
    channels, types, errors = _filters(channel, event_type)
    if errors:
        return _invalid(request, errors, f"/console/customers/{profile_id}")
    with engine_of(request).begin() as connection:
        current = _resolve(connection, profile_id)
        if (moved := _moved(request, profile_id, current)) is not None:
            return moved
        customer = customer_360(connection, current)
        page = service.timeline(
            connection, current, limit=TIMELINE_PAGE, channels=channels, types=types
        )
    personal = PERSONAL_DATA in request.state.may
    return render(
        request,
        "customers/profile.html",
        {
            "section": "customers",
            "customer": customer,
            "events": timeline_views(page, personal=personal),
            "next_url": _next(page, channel, event_type),
            "channel": channel,
            "event_type": event_type,
            "filter_channels": channels_of(customer.document, channels),
            "event_names": sorted({e.event for e in page.events if e.event}),
            "consent_channels": CONSENT_CHANNELS,
            "purposes": list(PURPOSES),
            "done": done,
            "restored": restored,
        },
    )


def _next(page: TimelinePage, channel: str, event_type: str) -> str | None:
    if page.next_cursor is None:
        return None
    return _timeline_url(page.profile_id, page.next_cursor, channel, event_type)


@router.get("/customers/{profile_id}/timeline")
def timeline_page(
    request: Request,
    session: Annotated[ConsoleSession, Depends(READ)],
    profile_id: ProfileIdPath,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    channel: ChannelFilter = "",
    event_type: TypeFilter = "",
) -> Response:
    """The next page of the timeline: list items for htmx (infinite scroll), or a page of
    its own when followed as a link."""
    channels, types, errors = _filters(channel, event_type)
    if errors:
        return _invalid(request, errors, f"/console/customers/{profile_id}")
    with engine_of(request).begin() as connection:
        current = _resolve(connection, profile_id)
        try:
            page = service.timeline(
                connection,
                current,
                limit=TIMELINE_PAGE,
                cursor=cursor,
                channels=channels,
                types=types,
            )
        except ProfileError as error:
            return _invalid(
                request,
                [{"field": "cursor", "code": error.code}],
                f"/console/customers/{current}",
            )
    personal = PERSONAL_DATA in request.state.may
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "customers/_timeline_fragment.html" if fragment else "customers/timeline.html",
        {
            "section": "customers",
            "profile_id": current,
            "events": timeline_views(page, personal=personal),
            "next_url": _next(page, channel, event_type),
        },
    )
