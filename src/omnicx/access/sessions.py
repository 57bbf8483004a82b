"""Console sessions: what a signed-in browser presents in its cookie, and what it stands for.

The cookie holds a token of 256 random bits; the database keeps only its SHA-256 (as for
API tokens, that much entropy makes a fast hash as safe as a slow one). A session ends when
its user signs out, changes password or is disabled, after `SESSION_IDLE` without a request,
and `SESSION_LIFETIME` after signing in, whichever comes first. Each session has its own
CSRF token, which the console's forms send back.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_, select, update

from omnicx.access.service import AccessError, hash_token
from omnicx.access.tables import console_sessions, console_users
from omnicx.access.users import User, get_user
from omnicx.store.clock import as_utc, utc_now

SESSION_IDLE = timedelta(hours=12)
"""A session ends after this long without a request."""

SESSION_LIFETIME = timedelta(days=7)
"""A session ends this long after signing in, however busy."""

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
"""`last_seen_at` is refreshed at most this often, so a request costs no write."""

_TOKEN_LENGTH = 43
_TOKEN_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in user's session (never its token)."""

    id: int
    user: User
    csrf_token: str
    expires_at: datetime


def start_session(
    connection: Connection, user_id: int, *, now: datetime | None = None
) -> tuple[str, ConsoleSession]:
    """Opens a session for an active user; returns the cookie's token (shown only now) and
    the session."""
    user = get_user(connection, user_id)
    if user is None or not user.active:
        raise AccessError(f"No active console user with id {user_id}.")
    now = as_utc(now) if now is not None else utc_now()
    _forget_over(connection, now)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = now + SESSION_LIFETIME
    inserted = connection.execute(
        console_sessions.insert().values(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            ended_at=None,
        )
    ).inserted_primary_key
    assert inserted is not None
    return token, ConsoleSession(inserted[0], user, csrf_token, expires_at)


def _forget_over(connection: Connection, now: datetime) -> None:
    """Deletes the sessions that can no longer open anything (ended, expired or idle too
    long), so that signing in keeps the table to the sessions in use."""
    s = console_sessions.c
    connection.execute(
        delete(console_sessions).where(
            or_(
                s.ended_at.is_not(None),
                s.expires_at <= now,
                s.last_seen_at <= now - SESSION_IDLE,
            )
        )
    )


def session_of(
    connection: Connection, token: str, *, now: datetime | None = None
) -> ConsoleSession | None:
    """The live session `token` opens, or None (unknown, ended, expired, idle too long, or
    its user disabled). Notes the request in `last_seen_at` when the last note is older than
    a minute."""
    if len(token) != _TOKEN_LENGTH or not _TOKEN_ALPHABET.issuperset(token):
        return None
    row = connection.execute(
        select(
            console_users,
            console_sessions.c.id.label("session_id"),
            console_sessions.c.csrf_token,
            console_sessions.c.last_seen_at,
            console_sessions.c.expires_at,
        )
        .select_from(console_sessions)
        .join(console_users, console_users.c.id == console_sessions.c.user_id)
        .where(
            console_sessions.c.token_hash == hash_token(token),
            console_sessions.c.ended_at.is_(None),
            console_users.c.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    now = as_utc(now) if now is not None else utc_now()
    expires_at = as_utc(row.expires_at)
    last_seen_at = as_utc(row.last_seen_at)
    if now >= expires_at or now >= last_seen_at + SESSION_IDLE:
        return None
    if now >= last_seen_at + LAST_SEEN_RESOLUTION:
        connection.execute(
            update(console_sessions)
            .where(console_sessions.c.id == row.session_id)
            .values(last_seen_at=now)
        )
    user = User(row.id, row.email, row.name, row.role, row.language, as_utc(row.created_at), None)
    return ConsoleSession(row.session_id, user, row.csrf_token, expires_at)


def end_session(connection: Connection, token: str) -> None:
    """Ends the session `token` opens (signing out); an unknown or ended one is left alone."""
    connection.execute(
        update(console_sessions)
        .where(
            console_sessions.c.token_hash == hash_token(token),
            console_sessions.c.ended_at.is_(None),
        )
        .values(ended_at=utc_now())
    )


def end_sessions_of(connection: Connection, user_id: int) -> int:
    """Ends every open session of the user; returns how many were open."""
    ended = connection.execute(
        update(console_sessions)
        .where(console_sessions.c.user_id == user_id, console_sessions.c.ended_at.is_(None))
        .values(ended_at=utc_now())
    ).rowcount
    return int(ended)
