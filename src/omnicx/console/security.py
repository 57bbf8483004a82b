"""Who is reading the console, what they may do, and proof that a form came from our page.

- The session is a cookie (`omnicx_session`: HttpOnly, SameSite=Strict, Secure over HTTPS,
  path /console) holding a random token; the database keeps only its hash
  (`access.sessions`).
- Every page and action declares the permission it needs with `Depends(require("..."))`
  (the policy in `access.permissions`, the same the admin API uses): the server refuses,
  whatever the menu shows.
- Every state-changing request (POST, PUT, PATCH, DELETE) carries the session's CSRF token,
  as the form field `csrf_token` or the header `X-CSRF-Token` (htmx sends it, base.html
  sets that up); SameSite=Strict alone would leave older browsers open.
- The language: the reader's pick (cookie `omnicx_lang`), else their account's, else their
  browser's `Accept-Language`, else English.
"""

from __future__ import annotations

import hmac
import weakref
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from omnicx.access import sessions
from omnicx.access.permissions import permissions_of, roles_with, validate_permission
from omnicx.access.sessions import ConsoleSession
from omnicx.console import i18n

SESSION_COOKIE = "omnicx_session"
LANGUAGE_COOKIE = "omnicx_lang"
LOGIN_CSRF_COOKIE = "omnicx_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/console"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


_asked: weakref.WeakKeyDictionary[Callable[..., object], str] = weakref.WeakKeyDictionary()
"""The dependencies made by `require` (their permission) and `signed_in` ("")."""


def permission_required_by(dependency: object) -> str | None:
    """The permission a dependency made by `require` asks for, "" for one made by
    `signed_in` (any reader), else None (tests walk the routes with it)."""
    if not callable(dependency):
        return None
    try:
        return _asked.get(dependency)
    except TypeError:  # not weakly referable: not ours
        return None


class NotSignedIn(Exception):
    """No valid session: pages send the reader to the login page."""


class Forbidden(Exception):
    """The reader's role lacks `permission`."""

    def __init__(self, permission: str, role: str) -> None:
        super().__init__(permission)
        self.permission, self.role = permission, role


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token."""


def engine_of(request: Request) -> Engine:
    """The database engine of the running server."""
    engine: Engine = request.app.state.runtime.engine
    return engine


def secure_cookies(request: Request) -> bool:
    """Whether cookies get `Secure`: over HTTPS (directly or behind a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def set_language(request: Request) -> None:
    """Router dependency: the reader's language from their cookie or browser (their
    account's choice is applied once the session is known, in `require`)."""
    request.state.language = i18n.choose(
        [
            request.cookies.get(LANGUAGE_COOKIE),
            i18n.from_accept_language(request.headers.get("accept-language")),
        ]
    )


def _lookup(engine: Engine, token: str) -> ConsoleSession | None:
    with engine.begin() as connection:
        return sessions.session_of(connection, token)


async def current_session(request: Request) -> ConsoleSession | None:
    """The reader's session, looked up once per request; None when not signed in."""
    if hasattr(request.state, "console_session"):
        found: ConsoleSession | None = request.state.console_session
        return found
    token = request.cookies.get(SESSION_COOKIE)
    found = await run_in_threadpool(_lookup, engine_of(request), token) if token else None
    request.state.console_session = found
    if found is not None:
        request.state.may = permissions_of(found.user.role)
        if LANGUAGE_COOKIE not in request.cookies and found.user.language:
            request.state.language = i18n.choose([found.user.language])
    return found


async def check_csrf(request: Request, expected: str) -> None:
    """Raises CsrfRejected unless the request carries `expected` (header or form field)."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette caches it: the route reads it again
            value = form.get(CSRF_FIELD)
            presented = value if isinstance(value, str) else None
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRejected()


def require(permission: str) -> Callable[[Request], Awaitable[ConsoleSession]]:
    """A dependency admitting signed-in readers whose role holds `permission`; it returns
    their session and, on state-changing requests, checks the CSRF token."""
    validate_permission(permission)
    allowed = roles_with(permission)

    async def signed_in_with(request: Request) -> ConsoleSession:
        session = await current_session(request)
        if session is None:
            raise NotSignedIn()
        if session.user.role not in allowed:
            raise Forbidden(permission, session.user.role)
        if request.method in UNSAFE_METHODS:
            await check_csrf(request, session.csrf_token)
        return session

    _asked[signed_in_with] = permission
    return signed_in_with


def signed_in() -> Callable[[Request], Awaitable[ConsoleSession]]:
    """A dependency admitting any signed-in reader (their own settings, signing out)."""

    async def any_reader(request: Request) -> ConsoleSession:
        session = await current_session(request)
        if session is None:
            raise NotSignedIn()
        if request.method in UNSAFE_METHODS:
            await check_csrf(request, session.csrf_token)
        return session

    _asked[any_reader] = ""
    return any_reader


def login_url(next_path: str | None) -> str:
    """The login page, coming back to `next_path` after."""
    if next_path and safe_next(next_path):
        return f"/console/login?next={quote(next_path, safe='/')}"
    return "/console/login"


def safe_next(path: str | None) -> str | None:
    """`path` if it is a console page of this server (never another site), else None."""
    if not path or not path.startswith("/console") or path.startswith("//") or "\\" in path:
        return None
    return path
