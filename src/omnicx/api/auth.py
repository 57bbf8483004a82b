"""Authentication of the admin API: `Authorization: Bearer TOKEN`, and permissions per route.

Routes declare what a caller needs with a dependency, a permission of the policy the web
console shares (`omnicx.access.permissions`):

    caller: Caller = Depends(require_permission("profiles.read"))

`admin` holds every permission; `require_role()` with no role admits any valid token.
No or a malformed header, an unknown or a revoked token: 401 `unauthorized` (with
`WWW-Authenticate: Bearer`); a token whose role lacks the permission: 403 `forbidden`,
naming the permission and the roles that hold it.

Token lookups are cached for `TOKEN_CACHE_SECONDS` per server process, so revoking a token
takes effect within that time, and a busy client costs no database query per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from omnicx.access import service as access_service
from omnicx.access.permissions import roles_with
from omnicx.access.service import ROLES, Caller, authenticate, hash_token
from omnicx.api.errors import ApiError

__all__ = [
    "TOKEN_CACHE_SECONDS",
    "Caller",
    "TokenCache",
    "permission_required_by",
    "require_permission",
    "require_role",
]

TOKEN_CACHE_SECONDS = access_service.TOKEN_CACHE_SECONDS
"""How long a token lookup is reused: the longest a revoked token keeps working."""

bearer = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="ocx_…",
    description="An API token from `omnicx tokens create --role ROLE`, sent as "
    "`Authorization: Bearer TOKEN`.",
    auto_error=False,
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class TokenCache:
    """Remembers who a token belongs to (or that it opens nothing) for `ttl` seconds."""

    def __init__(self, engine: Engine, *, ttl: float = TOKEN_CACHE_SECONDS) -> None:
        self.engine = engine
        self._ttl = ttl
        # token hash -> (monotonic time its lookup began, caller or None)
        self._entries: dict[str, tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def caller(self, token: str) -> Caller | None:
        """Who `token` belongs to: from the cache if fresh, else from the database."""
        key = hash_token(token)
        entry = self._entries.get(key)
        began = time.monotonic()
        if entry is not None and began - entry[0] < self._ttl:
            return entry[1]
        with self.engine.begin() as connection:
            found = authenticate(connection, token)
        with self._lock:
            if len(self._entries) > 10_000:  # bound memory against random tokens
                self._entries.clear()
            self._entries[key] = (began, found)
        return found

    def forget(self) -> None:
        """Drops every cached answer."""
        with self._lock:
            self._entries.clear()


_caches_lock = threading.Lock()


def token_cache(request: Request) -> TokenCache:
    """The token cache of the running application (made on first use, per database engine)."""
    state = request.app.state
    engine: Engine = state.runtime.engine
    cache: TokenCache | None = getattr(state, "token_cache", None)
    if cache is None or cache.engine is not engine:
        with _caches_lock:
            cache = getattr(state, "token_cache", None)
            if cache is None or cache.engine is not engine:
                cache = TokenCache(engine, ttl=TOKEN_CACHE_SECONDS)
                state.token_cache = cache
    return cache


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def authenticated_caller(request: Request) -> Caller:
    """Who sent the request, from its bearer token; raises a 401 ApiError if nobody valid."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized(
            "No API token: send `Authorization: Bearer TOKEN` "
            "(create a token with `omnicx tokens create --role ROLE`)."
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized(
            "Malformed Authorization header: expected `Authorization: Bearer TOKEN`."
        )
    caller = token_cache(request).caller(token)
    if caller is None:
        raise _unauthorized(
            "This API token is unknown or revoked; `omnicx tokens list` shows the valid ones."
        )
    return caller


def _either(roles: list[str]) -> str:
    return roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"


def require_role(*roles: str) -> Callable[..., Caller]:
    """A dependency admitting tokens with one of `roles` (and `admin`); it returns the Caller.

    With no roles, any valid token is admitted.
    """
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; the roles are {', '.join(ROLES)}")
    allowed = ["admin", *(role for role in roles if role != "admin")] if roles else list(ROLES)

    def caller_with_role(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Caller:
        caller = authenticated_caller(request)
        if caller.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"this needs the role {_either(allowed)}; your token has {caller.role}",
            )
        return caller

    return caller_with_role


_permission_checks: dict[str, Callable[..., Caller]] = {}
_permission_checks_lock = threading.Lock()


def require_permission(permission: str) -> Callable[..., Caller]:
    """A dependency admitting tokens whose role holds `permission`; it returns the Caller.

    The same permission always gives the same dependency (so FastAPI runs it once per
    request); an unknown permission raises AccessError at once, when the route is declared.
    """
    roles = list(roles_with(permission))
    with _permission_checks_lock:
        found = _permission_checks.get(permission)
        if found is not None:
            return found

        def caller_with_permission(
            request: Request,
            _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        ) -> Caller:
            caller = authenticated_caller(request)
            if caller.role not in roles:
                raise ApiError(
                    403,
                    "forbidden",
                    f"this needs the permission {permission} "
                    f"(role{'s' if len(roles) > 1 else ''} {_either(roles)}); "
                    f"your token has {caller.role}",
                )
            return caller

        _permission_checks[permission] = caller_with_permission
        return caller_with_permission


def permission_required_by(dependency: object) -> str | None:
    """The permission a dependency made by `require_permission` asks for, else None."""
    for permission, check in _permission_checks.items():
        if check is dependency:
            return permission
    return None
