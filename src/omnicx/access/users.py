"""Console users: people who sign in to the web console with an e-mail address and a password.

Each user has one role (the roles of API tokens, `access.service.ROLES`); what a role may do
is `access.permissions`. Passwords are hashed with argon2id (argon2-cffi's defaults, the
RFC 9106 low-memory profile) and never stored, logged or audited; a hash made with older
parameters is replaced at the next successful sign-in.

Signing in is throttled: after `MAX_EMAIL_FAILURES` failed attempts for an e-mail address
(counted since its last successful sign-in) or `MAX_CLIENT_FAILURES` from one client within
`THROTTLE_WINDOW`, further attempts are refused, without looking at the password, until
enough failures have left the window. Refused attempts count as failures too, so trying
again before the time given only makes the wait longer. A wrong
address, a wrong password and a disabled account all get the same answer, in the same time.

Every change of a user (add, password, role, disable, enable) is recorded in the audit log
in the same transaction.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, Connection, Row, delete, func, select, update

from omnicx.access import audit
from omnicx.access.service import AccessError, validate_role
from omnicx.access.tables import console_users, login_attempts
from omnicx.store.clock import as_utc, utc_now

MIN_PASSWORD_LENGTH = 10
"""The fewest characters a password may have."""

MAX_PASSWORD_LENGTH = 1024
"""The most characters a password may have."""

THROTTLE_WINDOW = timedelta(minutes=15)
"""How far back failed sign-ins count."""

MAX_EMAIL_FAILURES = 5
"""Failed sign-ins for one e-mail address within the window before further ones are refused."""

MAX_CLIENT_FAILURES = 20
"""Failed sign-ins from one client (IP address) within the window before further ones are
refused."""

REFUSED = "Wrong e-mail address or password."
"""The one answer to a wrong address, a wrong password or a disabled account."""

_EMAIL_LENGTH = 320
_CLIENT_LENGTH = 64
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_LANGUAGE_LENGTH = 35

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class User:
    """A console user as the console and the CLI see them (never the password hash)."""

    id: int
    email: str
    name: str
    role: str
    language: str | None
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        """Tells whether the user may sign in."""
        return self.disabled_at is None


class LoginRefused(AccessError):
    """A refused sign-in.

    `retry_after` is None for a wrong address, a wrong password or a disabled account (one
    message for all three, so nobody learns which); when attempts are throttled it is the
    number of seconds to wait before the next attempt can succeed.
    """

    retry_after: float | None

    def __init__(self, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        if retry_after is None:
            super().__init__(REFUSED)
        else:
            minutes = max(1, -(-int(retry_after) // 60))
            super().__init__(
                "Too many failed sign-ins; try again in "
                f"{minutes} minute{'s' if minutes > 1 else ''}."
            )


def normalise_email(email: str) -> str:
    """The stored form of an e-mail address: trimmed and lower-cased."""
    return email.strip().lower()


def add_user(
    connection: Connection,
    email: str,
    *,
    role: str,
    password: str,
    name: str | None = None,
    actor: str = "cli",
) -> User:
    """Creates a console user; `name` defaults to the part of the address before the @."""
    address = _valid_email(email)
    validate_role(role)
    _check_password(password)
    name = _valid_name(name, default=address.partition("@")[0])
    if _row_by_email(connection, address) is not None:
        raise AccessError(
            f"A console user with the e-mail address {address} already exists; "
            "`omnicx users list` shows them."
        )
    now = utc_now()
    inserted = connection.execute(
        console_users.insert().values(
            email=address,
            name=name,
            role=role,
            password_hash=_hasher.hash(password),
            language=None,
            created_at=now,
            disabled_at=None,
            password_changed_at=now,
        )
    ).inserted_primary_key
    assert inserted is not None
    audit.record(
        connection,
        actor=actor,
        action="users.add",
        target=address,
        detail={"role": role, "name": name},
        at=now,
    )
    return User(inserted[0], address, name, role, None, now, None)


def verify_login(
    connection: Connection,
    email: str,
    password: str,
    *,
    client: str,
    now: datetime | None = None,
) -> User:
    """Returns the user whose address and password these are, or raises LoginRefused.

    Every attempt is recorded. A refused one is committed at once, together with the rest
    of the caller's transaction, so that the caller's rollback on LoginRefused cannot erase
    it: call this first in a transaction of its own.
    """
    now = as_utc(now) if now is not None else utc_now()
    address = normalise_email(email)[:_EMAIL_LENGTH]
    client = client[:_CLIENT_LENGTH]
    if _throttled_for(connection, address, client, now) is not None:
        _note_attempt(connection, address, client, now, succeeded=False)
        # How long to wait counts this attempt too: trying again sooner only waits longer.
        _refuse(connection, retry_after=_throttled_for(connection, address, client, now))
    row = _row_by_email(connection, address)
    if row is None:
        _matches(_dummy_hash(), password)  # spend the same time as for a real account
        _note_attempt(connection, address, client, now, succeeded=False)
        _refuse(connection)
    if not _matches(row.password_hash, password) or row.disabled_at is not None:
        _note_attempt(connection, address, client, now, succeeded=False)
        _refuse(connection)
    if _hasher.check_needs_rehash(row.password_hash):
        connection.execute(
            update(console_users)
            .where(console_users.c.id == row.id)
            .values(password_hash=_hasher.hash(password))
        )
    _note_attempt(connection, address, client, now, succeeded=True)
    return _user(row)


def get_user(connection: Connection, user_id: int) -> User | None:
    """The user with `user_id`, or None."""
    row = connection.execute(select(console_users).where(console_users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def find_user(connection: Connection, email: str) -> User | None:
    """The user with the e-mail address `email` (in any case), or None."""
    row = _row_by_email(connection, normalise_email(email))
    return _user(row) if row is not None else None


def list_users(connection: Connection) -> list[User]:
    """Every console user, disabled ones too, by e-mail address."""
    rows = connection.execute(select(console_users).order_by(console_users.c.email))
    return [_user(row) for row in rows]


def set_password(connection: Connection, email: str, password: str, *, actor: str) -> User:
    """Gives the user a new password and ends their sessions (signed in elsewhere: no more)."""
    from omnicx.access.sessions import end_sessions_of  # sessions needs User from here

    row = _row_by_email_or_raise(connection, email)
    _check_password(password)
    now = utc_now()
    connection.execute(
        update(console_users)
        .where(console_users.c.id == row.id)
        .values(password_hash=_hasher.hash(password), password_changed_at=now)
    )
    ended = end_sessions_of(connection, row.id)
    audit.record(
        connection,
        actor=actor,
        action="users.password",
        target=row.email,
        detail={"sessions_ended": ended},
        at=now,
    )
    return _user(row)


def set_role(connection: Connection, email: str, role: str, *, actor: str) -> User:
    """Gives the user another role; it applies to their open sessions at once."""
    row = _row_by_email_or_raise(connection, email)
    validate_role(role)
    if row.role == role:
        return _user(row)
    if row.role == "admin" and row.disabled_at is None:
        _keep_an_admin(connection, row, "take the role admin away from")
    connection.execute(update(console_users).where(console_users.c.id == row.id).values(role=role))
    audit.record(
        connection,
        actor=actor,
        action="users.role",
        target=row.email,
        detail={"from": row.role, "to": role},
    )
    return _user_by_id(connection, row.id)


def disable_user(connection: Connection, email: str, *, actor: str) -> User:
    """Stops the user from signing in and ends their sessions (disabling twice changes
    nothing)."""
    from omnicx.access.sessions import end_sessions_of  # sessions needs User from here

    row = _row_by_email_or_raise(connection, email)
    if row.disabled_at is not None:
        return _user(row)
    if row.role == "admin":
        _keep_an_admin(connection, row, "disable")
    now = utc_now()
    connection.execute(
        update(console_users).where(console_users.c.id == row.id).values(disabled_at=now)
    )
    ended = end_sessions_of(connection, row.id)
    audit.record(
        connection,
        actor=actor,
        action="users.disable",
        target=row.email,
        detail={"sessions_ended": ended},
        at=now,
    )
    return _user_by_id(connection, row.id)


def enable_user(connection: Connection, email: str, *, actor: str) -> User:
    """Lets a disabled user sign in again (enabling an active user changes nothing)."""
    row = _row_by_email_or_raise(connection, email)
    if row.disabled_at is None:
        return _user(row)
    connection.execute(
        update(console_users).where(console_users.c.id == row.id).values(disabled_at=None)
    )
    audit.record(connection, actor=actor, action="users.enable", target=row.email)
    return _user_by_id(connection, row.id)


def set_language(connection: Connection, user_id: int, language: str | None) -> None:
    """Remembers the console language the user chose (a BCP 47 tag such as `pt-BR`), or
    forgets it (None)."""
    if language is not None and (
        len(language) > _LANGUAGE_LENGTH or not _LANGUAGE.fullmatch(language)
    ):
        raise AccessError(f"{language!r} is not a language tag such as en, tr or pt-BR.")
    changed = connection.execute(
        update(console_users).where(console_users.c.id == user_id).values(language=language)
    ).rowcount
    if not changed:
        raise AccessError(f"No console user with id {user_id}.")


def _valid_email(email: str) -> str:
    address = normalise_email(email)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccessError(f"{address!r} is not a valid e-mail address: {exc}") from None
    if len(address) > _EMAIL_LENGTH:
        raise AccessError(f"An e-mail address has at most {_EMAIL_LENGTH} characters.")
    return address


def _valid_name(name: str | None, *, default: str) -> str:
    name = (name or "").strip() or default
    if len(name) > 200 or not name.isprintable():
        raise AccessError("A user's name is 1 to 200 printable characters.")
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters; "
            "choose a longer one (a few words make a good one)."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccessError(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):  # a damaged hash opens nothing
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, made with the current parameters, for unknown addresses."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _throttled_for(
    connection: Connection, address: str, client: str, now: datetime
) -> float | None:
    """Seconds until an attempt for `address` from `client` may be checked, or None if now."""
    since = now - THROTTLE_WINDOW
    last_success = connection.execute(
        select(func.max(login_attempts.c.at)).where(
            login_attempts.c.email == address,
            login_attempts.c.succeeded.is_(True),
            login_attempts.c.at > since,
        )
    ).scalar()
    email_since = max(since, as_utc(last_success)) if last_success is not None else since
    waits = [
        _wait(connection, login_attempts.c.email == address, email_since, MAX_EMAIL_FAILURES, now),
        _wait(connection, login_attempts.c.client == client, since, MAX_CLIENT_FAILURES, now),
    ]
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


def _wait(
    connection: Connection,
    whose: ColumnElement[bool],
    since: datetime,
    limit: int,
    now: datetime,
) -> float | None:
    """When `limit` failures since `since` are on record: seconds until fewer remain in the
    window (the oldest of the `limit` newest failures leaves it)."""
    oldest_counted = connection.execute(
        select(login_attempts.c.at)
        .where(whose, login_attempts.c.succeeded.is_(False), login_attempts.c.at > since)
        .order_by(login_attempts.c.at.desc())
        .offset(limit - 1)
        .limit(1)
    ).scalar()
    if oldest_counted is None:
        return None
    return max((as_utc(oldest_counted) + THROTTLE_WINDOW - now).total_seconds(), 0.0)


def _note_attempt(
    connection: Connection, address: str, client: str, now: datetime, *, succeeded: bool
) -> None:
    connection.execute(
        login_attempts.insert().values(email=address, client=client, at=now, succeeded=succeeded)
    )
    # Throttling reads only the window: older attempts would only grow the table.
    connection.execute(delete(login_attempts).where(login_attempts.c.at <= now - THROTTLE_WINDOW))


def _refuse(connection: Connection, *, retry_after: float | None = None) -> NoReturn:
    """Commits the failed attempt just noted (see verify_login) and raises LoginRefused."""
    connection.commit()
    raise LoginRefused(retry_after)


def _keep_an_admin(connection: Connection, row: Row[Any], doing: str) -> None:
    others = connection.execute(
        select(func.count())
        .select_from(console_users)
        .where(
            console_users.c.role == "admin",
            console_users.c.disabled_at.is_(None),
            console_users.c.id != row.id,
        )
    ).scalar_one()
    if not others:
        raise AccessError(
            f"{row.email} is the last active admin; make another user admin first "
            "(`omnicx users role EMAIL admin`), then " + doing + " this one."
        )


def _row_by_email(connection: Connection, address: str) -> Row[Any] | None:
    return connection.execute(select(console_users).where(console_users.c.email == address)).first()


def _row_by_email_or_raise(connection: Connection, email: str) -> Row[Any]:
    row = _row_by_email(connection, normalise_email(email))
    if row is None:
        raise AccessError(
            f"No console user with the e-mail address {normalise_email(email)}; "
            "`omnicx users list` shows them."
        )
    return row


def _user_by_id(connection: Connection, user_id: int) -> User:
    user = get_user(connection, user_id)
    assert user is not None
    return user


def _user(row: Row[Any]) -> User:
    return User(
        row.id,
        row.email,
        row.name,
        row.role,
        row.language,
        as_utc(row.created_at),
        as_utc(row.disabled_at) if row.disabled_at is not None else None,
    )
