"""The console's sources section: sources and their write keys, the live event debugger,
rejected events with their reasons, and copy-paste snippets for the SDKs and bulk import.

Everyone with `sources.read` sees sources, events and rejections; adding a source, rotating
a write key, disabling and enabling need `sources.manage`, and each is audited. Write keys
are shown in full only to `sources.manage` holders (others see a hint): a key lets whoever
has it send events as the source, identify people and merge profiles.
"""

from __future__ import annotations

import shlex
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.access import audit
from omnicx.access.sessions import ConsoleSession
from omnicx.collect import inspection
from omnicx.collect import sources as source_service
from omnicx.collect.browser import public_host
from omnicx.collect.processing import lags
from omnicx.console.rendering import render
from omnicx.console.security import engine_of, require
from omnicx.console.sources_view import event_view, rejection_view
from omnicx.pipeline import consumer_names
from omnicx.store.clock import utc_now

router = APIRouter()

READ = "sources.read"
MANAGE = "sources.manage"
PAGE_SIZE = 50
"""Events the debugger shows at first, and at most per poll."""
REJECTED_PAGE_SIZE = 50

GRACE_PERIODS: dict[str, timedelta] = {
    "0": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
"""How long a rotated-away key keeps working: the choices the rotate form offers."""

NOTICES = frozenset({"disabled", "enabled"})

Reader = Annotated[ConsoleSession, Depends(require(READ))]
Manager = Annotated[ConsoleSession, Depends(require(MANAGE))]
Cursor = Annotated[int, Query(ge=0, le=2**63 - 1)]


def _actor(session: ConsoleSession) -> str:
    return f"console:{session.user.email}"


def _forget_keys(request: Request) -> None:
    """A disabled source or a rotated key takes effect at once in this server process (the
    others follow within OMNICX_WRITE_KEY_CACHE_SECONDS)."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        runtime.keys.forget()


def _may_manage(request: Request) -> bool:
    return MANAGE in request.state.may


def _source_or_404(request: Request, source_id: int) -> source_service.Source:
    with engine_of(request).connect() as connection:
        source = inspection.get_source(connection, source_id)
    if source is None:
        raise _NotFound()
    return source


class _NotFound(Exception):
    pass


def _not_found(request: Request) -> Response:
    return render(request, "sources/missing.html", {"section": "sources"}, status_code=404)


def _list_page(
    request: Request,
    *,
    problems: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    notice: str | None = None,
    notice_source: int | None = None,
    status_code: int = 200,
) -> Response:
    now = utc_now()
    with engine_of(request).connect() as connection:
        listed = source_service.list_all(connection)
        keys = inspection.valid_keys(connection, [s.id for s in listed])
        today = inspection.events_on_day(connection, now.date().isoformat())
        rejected = inspection.rejections_since(connection, now - timedelta(hours=24))
        behind = lags(connection, consumer_names())
    rows: list[dict[str, Any]] = [
        {
            "source": source,
            "system": source.name == source_service.SYSTEM_SOURCE,
            "keys": keys.get(source.id, []),
            "today": today.get(source.id, 0),
            "rejected": rejected.get(source.id, 0),
        }
        for source in listed
    ]
    named = next((s.name for s in listed if s.id == notice_source), None)
    return render(
        request,
        "sources/list.html",
        {
            "section": "sources",
            "rows": rows,
            "now": now,
            "channels": source_service.CHANNELS,
            "may_manage": _may_manage(request),
            "problems": problems or {},
            "form": form or {"name": "", "channel": "web"},
            "notice": notice if named else None,
            "notice_name": named,
            # The step most behind; between equals the earliest, which holds the others up.
            "furthest": max(behind.items(), key=lambda item: item[1], default=None),
        },
        status_code=status_code,
    )


@router.get("/sources")
def list_sources(
    request: Request,
    session: Reader,
    done: Annotated[str | None, Query(max_length=20)] = None,
    source: Annotated[int | None, Query(ge=0, le=2**31)] = None,
) -> Response:
    """Every source: channel, state, traffic, write key (hint), links to its pages."""
    return _list_page(request, notice=done if done in NOTICES else None, notice_source=source)


@router.post("/sources")
def add_source(
    request: Request,
    session: Manager,
    name: Annotated[str, Form(max_length=200)] = "",
    channel: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Adds a source and shows its write key."""
    problems: dict[str, str] = {}
    engine = engine_of(request)
    if channel not in source_service.CHANNELS:
        problems["channel"] = "unknown"
    with engine.begin() as connection:
        problem = source_service.name_problem(connection, name)
        if problem is not None:
            problems["name"] = problem
        if not problems:
            source = source_service.add(connection, name=name, channel=channel)
            audit.record(
                connection,
                actor=_actor(session),
                action="sources.add",
                target=source.name,
                detail={"source_id": source.id, "channel": source.channel},
            )
    if problems:
        return _list_page(
            request,
            problems=problems,
            form={"name": name, "channel": channel},
            status_code=422,
        )
    return render(
        request,
        "sources/key.html",
        {"section": "sources", "source": source, "key": source.write_keys[0], "added": True},
        status_code=201,
    )


@router.get("/sources/debugger")
def debugger_all(request: Request, session: Reader) -> Response:
    """The live debugger over every source."""
    return _debugger(request, None)


@router.get("/sources/debugger/events")
def debugger_all_events(request: Request, session: Reader, after: Cursor = 0) -> Response:
    """New events of every source after the cursor (polled by the debugger)."""
    return _debugger_events(request, None, after)


@router.get("/sources/{source_id}")
def source_home(request: Request, session: Reader, source_id: int) -> Response:
    """A source's page: its live debugger."""
    return RedirectResponse(f"/console/sources/{source_id}/debugger", status_code=303)


@router.get("/sources/{source_id}/debugger")
def debugger_of(request: Request, session: Reader, source_id: int) -> Response:
    """The live debugger of one source."""
    try:
        source = _source_or_404(request, source_id)
    except _NotFound:
        return _not_found(request)
    return _debugger(request, source)


@router.get("/sources/{source_id}/debugger/events")
def debugger_events_of(
    request: Request, session: Reader, source_id: int, after: Cursor = 0
) -> Response:
    """New events of one source after the cursor (polled by the debugger every 2 s: one
    indexed query, nothing else; an unknown source simply has no new events)."""
    return _debugger_events(request, source_id, after)


def _debugger(request: Request, source: source_service.Source | None) -> Response:
    with engine_of(request).connect() as connection:
        latest = inspection.latest_events(
            connection, source_id=source.id if source else None, limit=PAGE_SIZE
        )
    personal = "profiles.personal_data" in request.state.may
    return render(
        request,
        "sources/debugger.html",
        {
            "section": "sources",
            "source": source,
            "all_sources": source is None,
            "tab": "debugger",
            "events": [event_view(e, personal=personal) for e in latest.events],
            "cursor": latest.cursor,
            "poll_url": _poll_url(source.id if source else None),
        },
    )


def _poll_url(source_id: int | None) -> str:
    if source_id is None:
        return "/console/sources/debugger/events"
    return f"/console/sources/{source_id}/debugger/events"


def _debugger_events(request: Request, source_id: int | None, after: int) -> Response:
    with engine_of(request).connect() as connection:
        latest = inspection.latest_events(
            connection, source_id=source_id, after=after, limit=PAGE_SIZE
        )
    if not latest.events:
        return Response(status_code=204)  # nothing new: htmx swaps nothing, keeps polling
    personal = "profiles.personal_data" in request.state.may
    return render(
        request,
        "sources/_events.html",
        {
            "all_sources": source_id is None,
            "events": [event_view(e, personal=personal) for e in latest.events],
            "cursor": latest.cursor,
            "skipped": latest.more and after > 0,
            "poll_url": _poll_url(source_id),
            "oob": True,
        },
    )


@router.get("/sources/{source_id}/rejected")
def rejected_of(
    request: Request,
    session: Reader,
    source_id: int,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """A source's rejected messages, newest first, with the reason and the offending field."""
    try:
        source = _source_or_404(request, source_id)
    except _NotFound:
        return _not_found(request)
    with engine_of(request).connect() as connection:
        found = inspection.rejected_messages(
            connection, source_id=source.id, before=before, limit=REJECTED_PAGE_SIZE + 1
        )
    personal = "profiles.personal_data" in request.state.may
    page = found[:REJECTED_PAGE_SIZE]
    return render(
        request,
        "sources/rejected.html",
        {
            "section": "sources",
            "source": source,
            "tab": "rejected",
            "rejections": [rejection_view(r, personal=personal) for r in page],
            "next_before": page[-1].id if len(found) > REJECTED_PAGE_SIZE else None,
            "first_page": before is None,
            "kept": inspection.REJECTIONS_KEPT,
        },
    )


@router.get("/sources/{source_id}/snippets")
def snippets_of(request: Request, session: Reader, source_id: int) -> Response:
    """Copy-paste code sending to this source: analytics.js, the Python SDKs, bulk import."""
    try:
        source = _source_or_404(request, source_id)
    except _NotFound:
        return _not_found(request)
    settings = request.app.state.runtime.settings
    host, protocol = public_host(request, settings.public_url)
    manage = _may_manage(request)
    key = source.write_keys[0] if source.write_keys else None
    return render(
        request,
        "sources/snippets.html",
        {
            "section": "sources",
            "source": source,
            "tab": "snippets",
            "base_url": f"{protocol}://{host}",
            "key": key if manage else None,
            "has_key": key is not None,
            "key_hint": inspection.key_hint(key) if key else None,
            "may_manage": manage,
            "quoted_name": shlex.quote(source.name),
            "max_body_mb": round(settings.max_body_bytes / 2**20, 1),
        },
    )


def _manageable(request: Request, source_id: int) -> source_service.Source | Response:
    """The source, or the page refusing to manage it (missing, or the built-in source)."""
    try:
        source = _source_or_404(request, source_id)
    except _NotFound:
        return _not_found(request)
    if source.name == source_service.SYSTEM_SOURCE:
        return render(
            request,
            "sources/builtin.html",
            {"section": "sources", "source": source},
            status_code=422,
        )
    return source


@router.get("/sources/{source_id}/rotate")
def confirm_rotate(request: Request, session: Manager, source_id: int) -> Response:
    """Asks before rotating: what happens to the systems using the current key."""
    source = _manageable(request, source_id)
    if isinstance(source, Response):
        return source
    return render(
        request,
        "sources/confirm.html",
        {"section": "sources", "source": source, "action": "rotate", "problems": {}},
    )


@router.post("/sources/{source_id}/rotate")
def rotate(
    request: Request,
    session: Manager,
    source_id: int,
    grace: Annotated[str, Form(max_length=10)] = "0",
) -> Response:
    """Issues a new write key; the old ones stop working after the chosen grace period."""
    source = _manageable(request, source_id)
    if isinstance(source, Response):
        return source
    if grace not in GRACE_PERIODS:
        return render(
            request,
            "sources/confirm.html",
            {
                "section": "sources",
                "source": source,
                "action": "rotate",
                "problems": {"grace": "unknown"},
            },
            status_code=422,
        )
    period = GRACE_PERIODS[grace]
    with engine_of(request).begin() as connection:
        key = source_service.rotate_key(connection, name=source.name, grace=period)
        audit.record(
            connection,
            actor=_actor(session),
            action="sources.rotate",
            target=source.name,
            detail={"source_id": source.id, "grace_seconds": int(period.total_seconds())},
        )
    _forget_keys(request)
    return render(
        request,
        "sources/key.html",
        {"section": "sources", "source": source, "key": key, "added": False, "grace": grace},
    )


@router.get("/sources/{source_id}/disable")
def confirm_disable(request: Request, session: Manager, source_id: int) -> Response:
    """Asks before disabling: the source's events will be refused."""
    source = _manageable(request, source_id)
    if isinstance(source, Response):
        return source
    return render(
        request,
        "sources/confirm.html",
        {"section": "sources", "source": source, "action": "disable", "problems": {}},
    )


@router.post("/sources/{source_id}/disable")
def disable(request: Request, session: Manager, source_id: int) -> Response:
    """Disables a source: its events are refused (403) until it is enabled again."""
    return _set_enabled(request, session, source_id, enabled=False)


@router.post("/sources/{source_id}/enable")
def enable(request: Request, session: Manager, source_id: int) -> Response:
    """Enables a disabled source."""
    return _set_enabled(request, session, source_id, enabled=True)


def _set_enabled(
    request: Request, session: ConsoleSession, source_id: int, *, enabled: bool
) -> Response:
    source = _manageable(request, source_id)
    if isinstance(source, Response):
        return source
    with engine_of(request).begin() as connection:
        source_service.set_enabled(connection, name=source.name, enabled=enabled)
        audit.record(
            connection,
            actor=_actor(session),
            action="sources.enable" if enabled else "sources.disable",
            target=source.name,
            detail={"source_id": source.id},
        )
    _forget_keys(request)
    done = "enabled" if enabled else "disabled"
    return RedirectResponse(f"/console/sources?done={done}&source={source.id}", status_code=303)
