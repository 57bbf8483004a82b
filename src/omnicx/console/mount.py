"""Serves the console under `/console`: its sections, static files and error pages."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnicx.api.errors import answer_errors_as_pages
from omnicx.console import admin, audiences, customers, journeys, login, overview, sources
from omnicx.console.rendering import render
from omnicx.console.request_errors import request_problems
from omnicx.console.security import (
    CsrfRejected,
    Forbidden,
    NotSignedIn,
    current_session,
    login_url,
    set_language,
)

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
SECTION_ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    overview.router,
    customers.router,
    journeys.router,
    audiences.router,
    sources.router,
    admin.router,
)
"""Each section's routes, relative to /console."""

log = logging.getLogger("omnicx.console")


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    if _is_htmx(request):
        current = request.headers.get("hx-current-url", "")
        path = current.split("://", 1)[-1].partition("/")[2]
        return Response(status_code=401, headers={"HX-Redirect": login_url("/" + path)})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(login_url(target if request.method == "GET" else None), status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    return render(
        request,
        "message.html",
        {"problem": "forbidden", "permission": exc.permission, "role": exc.role},
        status_code=403,
    )


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    return render(request, "message.html", {"problem": "csrf"}, status_code=403)


async def _page_error(request: Request, exc: Exception) -> Response:
    """HTTP, validation and unexpected errors of console paths, as pages."""
    if not hasattr(request.state, "language"):
        set_language(request)
    if isinstance(exc, StarletteHTTPException | RequestValidationError):
        # A path no route matched never looked the reader up: do, so that a signed-in
        # reader's error page keeps its menu (and the language of their account).
        try:
            await current_session(request)
        except Exception:  # the page must be answered even when the database is not
            log.warning("console error page %s: no session lookup", request.url.path)
    if isinstance(exc, RequestValidationError):
        # In the reader's words, not pydantic's (the API keeps those).
        errors = request_problems(exc.errors(), request.state.language)
        return render(
            request, "message.html", {"problem": "invalid", "errors": errors}, status_code=422
        )
    if isinstance(exc, StarletteHTTPException):
        # The page says what the status means in the reader's language; the detail is
        # Starlette's English ("Method Not Allowed", "Invalid multipart data.").
        problem = "not_found" if exc.status_code == 404 else "http"
        return render(
            request,
            "message.html",
            {"problem": problem, "status": exc.status_code, "method": request.method},
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )
    log.error("console page %s failed", request.url.path, exc_info=exc)
    return render(request, "message.html", {"problem": "server"}, status_code=500)


class ServerTiming:
    """Adds `Server-Timing: app;dur=MS` to every console answer: the time from the request
    reaching the console to its answer's headers (what the browser's developer tools and
    bench/console.py show as the server's own time)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message).append("Server-Timing", f"app;dur={elapsed:.1f}")
            await send(message)

        await self._app(scope, receive, timed)


def mount_console(app: FastAPI) -> None:
    """Adds the console to the application; `/` leads to it."""
    console = APIRouter(
        prefix=PREFIX, include_in_schema=False, dependencies=[Depends(set_language)]
    )
    for router in SECTION_ROUTERS:
        console.include_router(router)
    app.include_router(console)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    answer_errors_as_pages(PREFIX, _page_error)
    app.add_middleware(ServerTiming)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)
