"""The console's administration: console users, API tokens and the audit log.

Everything here needs `users.manage` (admins). Each change is made by the access domain's
functions, which write its audit entry in the same transaction, with the actor
`console:EMAIL`. A form that cannot be used answers 422 with the page again, each problem
beside the field it concerns, and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from omnicx.access import audit, users
from omnicx.access import service as tokens
from omnicx.access.service import ROLES, AccessError
from omnicx.access.sessions import ConsoleSession
from omnicx.access.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, User
from omnicx.console.rendering import render
from omnicx.console.security import engine_of, require

router = APIRouter()

Admin = Annotated[ConsoleSession, Depends(require("users.manage"))]

AUDIT_PAGE = 50
"""Audit entries per page."""

KNOWN_ACTIONS = (
    "users.add",
    "users.role",
    "users.password",
    "users.disable",
    "users.enable",
    "tokens.create",
    "tokens.revoke",
    "sources.add",
    "sources.rotate",
    "sources.disable",
    "sources.enable",
    "identity.unmerge",
    "profiles.export",
    "profiles.erase",
)
"""Actions offered in the audit log's filter (any other `area.verb` may be typed)."""

GENERATED_PASSWORD_BYTES = 15
"""A generated password: 15 random bytes, 20 characters."""

Done = Literal["added", "role", "disabled", "enabled", "password", "revoked"]


@dataclass(frozen=True, slots=True)
class FieldError:
    """A problem with one field of a form: `code` says which (the template words it), or
    `message` when the domain's own words are all there is."""

    field: str
    code: str
    message: str = ""


def actor_of(session: ConsoleSession) -> str:
    """Who the audit log says did it."""
    return f"console:{session.user.email}"


# --------------------------------------------------------------------------- users


@router.get("/admin")
async def users_page(
    request: Request,
    session: Admin,
    done: Annotated[Done | None, Query()] = None,
    user: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Console users: who may sign in, with which role."""
    return await _users_page(request, session, done=done, done_user=user)


@router.post("/admin/users")
async def add_user(
    request: Request,
    session: Admin,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Adds a console user with a role and a password."""
    engine = engine_of(request)

    def add() -> User | list[FieldError]:
        problems = _role_problems(role) + _password_problems(password)
        try:
            address = validate_email(email.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            problems.insert(0, FieldError("email", "invalid"))
            address = ""
        with engine.begin() as connection:
            if address and users.find_user(connection, address) is not None:
                problems.insert(0, FieldError("email", "taken"))
            if problems:
                return problems
            try:
                return users.add_user(
                    connection,
                    address,
                    role=role,
                    password=password,
                    name=name or None,
                    actor=actor_of(session),
                )
            except AccessError as refused:
                connection.rollback()
                return [FieldError("email", "refused", str(refused))]

    outcome = await run_in_threadpool(add)
    if isinstance(outcome, list):
        form = {"email": email, "name": name, "role": role}
        return await _users_page(request, session, errors=outcome, form=form, status_code=422)
    return _back_to_users("added", outcome.id)


@router.post("/admin/users/{user_id}/role")
async def change_role(
    request: Request,
    session: Admin,
    user_id: int,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    """Gives a user another role (never one's own: another admin does that)."""

    def change(connection: Connection, user: User) -> None:
        users.set_role(connection, user.email, role, actor=actor_of(session))

    problems = _role_problems(role)
    return await _change_user(request, session, user_id, "role", change, problems=problems)


@router.post("/admin/users/{user_id}/disable")
async def disable_user(request: Request, session: Admin, user_id: int) -> Response:
    """Stops a user from signing in and ends their sessions."""

    def change(connection: Connection, user: User) -> None:
        users.disable_user(connection, user.email, actor=actor_of(session))

    return await _change_user(request, session, user_id, "disabled", change)


@router.post("/admin/users/{user_id}/enable")
async def enable_user(request: Request, session: Admin, user_id: int) -> Response:
    """Lets a disabled user sign in again."""

    def change(connection: Connection, user: User) -> None:
        users.enable_user(connection, user.email, actor=actor_of(session))

    return await _change_user(request, session, user_id, "enabled", change)


@router.post("/admin/users/{user_id}/password")
async def reset_password(
    request: Request,
    session: Admin,
    user_id: int,
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
) -> Response:
    """Gives a user a new password (typed, or generated and shown once); their sessions end."""
    generated = not password
    chosen = password or secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)

    def change(connection: Connection, user: User) -> None:
        users.set_password(connection, user.email, chosen, actor=actor_of(session))

    problems = _password_problems(chosen)
    answer = await _change_user(
        request, session, user_id, "password", change, problems=problems, mine_allowed=True
    )
    if generated and isinstance(answer, RedirectResponse):
        # The generated password is shown once, on this answer, never in a URL.
        return await _users_page(
            request, session, done="password", done_user=user_id, generated=chosen
        )
    return answer


async def _change_user(
    request: Request,
    session: ConsoleSession,
    user_id: int,
    done: Done,
    change: Callable[[Connection, User], None],
    *,
    problems: list[FieldError] | None = None,
    mine_allowed: bool = False,
) -> Response:
    """Applies `change(connection, user)` to the user `user_id` in one transaction; 404 for
    an unknown user, 422 (nothing changed) for a problem."""
    engine = engine_of(request)
    problems = list(problems or [])

    def apply() -> list[FieldError] | None:
        with engine.begin() as connection:
            user = users.get_user(connection, user_id)
            if user is None:
                raise HTTPException(404)
            if user.id == session.user.id and not mine_allowed:
                problems.append(FieldError("user", "yourself"))
            if problems:
                return problems
            try:
                change(connection, user)
            except AccessError as refused:
                connection.rollback()
                return [FieldError("user", "refused", str(refused))]
        return None

    found = await run_in_threadpool(apply)
    if found:
        return await _users_page(
            request, session, errors=found, failed_user=user_id, status_code=422
        )
    return _back_to_users(done, user_id)


async def _users_page(
    request: Request,
    session: ConsoleSession,
    *,
    done: Done | None = None,
    done_user: int | None = None,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
    failed_user: int | None = None,
    generated: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = engine_of(request)

    def read() -> list[User]:
        with engine.connect() as connection:
            return users.list_users(connection)

    listed = await run_in_threadpool(read)
    by_id = {user.id: user for user in listed}
    return render(
        request,
        "admin/users.html",
        {
            "section": "admin",
            "tab": "users",
            "users": listed,
            "roles": ROLES,
            "me": session.user.id,
            "done": done,
            "done_user": by_id.get(done_user) if done_user else None,
            "errors": errors or [],
            "form": form or {"email": "", "name": "", "role": "support"},
            "failed_user": by_id.get(failed_user) if failed_user else None,
            "generated": generated,
            "min_password": MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


def _back_to_users(done: Done, user_id: int) -> RedirectResponse:
    return RedirectResponse(f"/console/admin?done={done}&user={user_id}", status_code=303)


def _role_problems(role: str) -> list[FieldError]:
    return [] if role in ROLES else [FieldError("role", "unknown")]


def _password_problems(password: str) -> list[FieldError]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [FieldError("password", "short")]
    return []


# --------------------------------------------------------------------------- tokens


@router.get("/admin/tokens")
async def tokens_page(
    request: Request,
    session: Admin,
    done: Annotated[Literal["revoked"] | None, Query()] = None,
    token: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """API tokens: which exist, their roles, when they were last used."""
    del session
    return await _tokens_page(request, done=done, done_token=token)


@router.post("/admin/tokens")
async def create_token(
    request: Request,
    session: Admin,
    role: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Creates a token and shows it, this once."""
    problems = _role_problems(role)
    if not name.isprintable():
        problems.append(FieldError("name", "unprintable"))
    if problems:
        return await _tokens_page(
            request, errors=problems, form={"name": name, "role": role}, status_code=422
        )
    engine = engine_of(request)

    def create() -> tuple[tokens.TokenInfo, str]:
        with engine.begin() as connection:
            return tokens.create_token(connection, role=role, name=name, actor=actor_of(session))

    try:
        created, plaintext = await run_in_threadpool(create)
    except AccessError as refused:
        return await _tokens_page(
            request,
            errors=[FieldError("name", "refused", str(refused))],
            form={"name": name, "role": role},
            status_code=422,
        )
    return await _tokens_page(request, created=created, plaintext=plaintext)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(request: Request, session: Admin, token_id: int) -> Response:
    """Revokes a token for good."""
    engine = engine_of(request)

    def revoke() -> None:
        with engine.begin() as connection:
            try:
                tokens.get_token_or_raise(connection, token_id=token_id)
            except AccessError:
                raise HTTPException(404) from None
            tokens.revoke_token(connection, token_id=token_id, actor=actor_of(session))

    await run_in_threadpool(revoke)
    return RedirectResponse(f"/console/admin/tokens?done=revoked&token={token_id}", 303)


async def _tokens_page(
    request: Request,
    *,
    done: str | None = None,
    done_token: int | None = None,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
    created: tokens.TokenInfo | None = None,
    plaintext: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = engine_of(request)

    def read() -> list[tokens.TokenInfo]:
        with engine.connect() as connection:
            return tokens.list_tokens(connection)

    listed = await run_in_threadpool(read)
    by_id = {token.id: token for token in listed}
    return render(
        request,
        "admin/tokens.html",
        {
            "section": "admin",
            "tab": "tokens",
            "tokens": listed,
            "roles": ROLES,
            "done": done,
            "done_token": by_id.get(done_token) if done_token else None,
            "errors": errors or [],
            "form": form or {"name": "", "role": "analyst"},
            "created": created,
            "plaintext": plaintext,
        },
        status_code=status_code,
    )


# --------------------------------------------------------------------------- audit log


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    session: Admin,
    action: Annotated[
        str, Query(max_length=64, pattern=r"^([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?)?$")
    ] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log, newest first, a page at a time (`before`: the last id of the page
    before), of one action (`users.add`) or area (`users`) when asked."""
    del session
    engine = engine_of(request)

    def read() -> list[audit.AuditEntry]:
        with engine.connect() as connection:
            return audit.entries(
                connection, limit=AUDIT_PAGE + 1, before=before, action=action or None
            )

    found = await run_in_threadpool(read)
    page, more = found[:AUDIT_PAGE], len(found) > AUDIT_PAGE
    return render(
        request,
        "admin/audit.html",
        {
            "section": "admin",
            "tab": "audit",
            "entries": page,
            "action": action,
            "before": before,
            "next_before": page[-1].id if more and page else None,
            "known_actions": KNOWN_ACTIONS,
        },
    )
