"""Signing in and out, the console's front door (`/console/`), and the language picker."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omnicx.access import sessions, users
from omnicx.access.permissions import PERMISSIONS
from omnicx.access.sessions import SESSION_LIFETIME, ConsoleSession
from omnicx.access.users import LoginRefused
from omnicx.api.forwarded import client_address
from omnicx.console import i18n
from omnicx.console.rendering import NAV, render
from omnicx.console.security import (
    COOKIE_PATH,
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRejected,
    current_session,
    engine_of,
    safe_next,
    secure_cookies,
    signed_in,
)

router = APIRouter()


@router.get("/")
async def home(request: Request) -> Response:
    """The first section the reader may open (support agents have no overview)."""
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/console/login", status_code=303)
    may = request.state.may
    for _key, path, permission in NAV:
        if permission in may:
            return RedirectResponse(path, status_code=303)
    return RedirectResponse("/console/account", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form, with a fresh CSRF token bound to a cookie (double submit)."""
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(next) or "/console/", status_code=303)
    return _login_form(request, next_path=safe_next(next))


def _login_form(
    request: Request,
    *,
    next_path: str | None,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    retry_after: float | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    request.state.csrf = token
    headers = {"Retry-After": str(int(retry_after) + 1)} if retry_after is not None else None
    response = render(
        request,
        "login.html",
        {"next_path": next_path or "", "email": email, "error": error, "retry_after": retry_after},
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


def _client(request: Request) -> str:
    return client_address(request, request.app.state.runtime.settings.trusted_proxies)


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Checks the credentials (throttled per e-mail and per client) and opens a session."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        raise CsrfRejected()
    engine = engine_of(request)

    def sign_in() -> tuple[str, ConsoleSession]:
        with engine.begin() as connection:
            user = users.verify_login(connection, email, password, client=_client(request))
        with engine.begin() as connection:
            return sessions.start_session(connection, user.id)

    try:
        token, _session = await run_in_threadpool(sign_in)
    except LoginRefused as refused:
        # The attempt is recorded by verify_login in its own transaction even when refused.
        return _login_form(
            request,
            next_path=safe_next(next),
            email=email,
            error="throttled" if refused.retry_after is not None else "refused",
            retry_after=refused.retry_after,
            status_code=429 if refused.retry_after is not None else 401,
        )
    response = RedirectResponse(safe_next(next) or "/console/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(
        LOGIN_CSRF_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.post("/logout")
async def logout(
    request: Request, session: Annotated[ConsoleSession, Depends(signed_in())]
) -> Response:
    """Ends the session (on the server, not just the cookie)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    engine = engine_of(request)

    def end() -> None:
        with engine.begin() as connection:
            sessions.end_session(connection, token)

    await run_in_threadpool(end)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.post("/language")
async def choose_language(
    request: Request,
    session: Annotated[ConsoleSession, Depends(signed_in())],
    language: Annotated[str, Form(max_length=16)],
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Switches the reader's language: remembered in a cookie and on their account."""
    chosen = i18n.supported(language)
    if chosen is None:
        return render(request, "message.html", {"problem": "language"}, status_code=422)
    engine = engine_of(request)

    def remember() -> None:
        with engine.begin() as connection:
            users.set_language(connection, session.user.id, chosen)

    await run_in_threadpool(remember)
    response = RedirectResponse(safe_next(back) or "/console/", status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 24 * 3600,
        path=COOKIE_PATH,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/account")
async def account(
    request: Request, session: Annotated[ConsoleSession, Depends(signed_in())]
) -> Response:
    """The reader's own account: who they are, their role and what it allows."""
    allowed = [
        (name, what) for name, (_roles, what) in PERMISSIONS.items() if name in request.state.may
    ]
    return render(request, "account.html", {"section": "account", "allowed": allowed})
