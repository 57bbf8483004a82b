"""API tokens: create, list, revoke, and authenticate a token presented to the admin API.

A token is `ocx_` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored: with that much entropy a fast hash is as safe as a slow one, and checking it costs
nothing. Each token carries one role; `admin` may do everything. Creating and revoking a
token are recorded in the audit log (`access.audit`).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select, update

from omnicx.access import audit
from omnicx.access.tables import api_tokens
from omnicx.store.clock import as_utc, utc_now

ROLE_DESCRIPTIONS: dict[str, str] = {
    "admin": "everything: settings, tokens, identity repairs, and all that the other roles do",
    "marketer": "profiles, segments, journeys and campaigns: read and change",
    "analyst": "profiles, journeys and reports: read only",
    "support": "support agents: look up customers, see their profile and timeline, answer them",
}
"""What each role may do, in one line."""

ROLES: tuple[str, ...] = tuple(ROLE_DESCRIPTIONS)
"""The roles a token can carry."""

TOKEN_PREFIX = "ocx_"  # noqa: S105 (a prefix, not a secret)
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43
_TOKEN_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
_HINT_LENGTH = len(TOKEN_PREFIX) + 4

TOKEN_CACHE_SECONDS = 5.0
"""How long a server reuses a token lookup: the longest a revoked token keeps working."""

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is refreshed at most this often, so using a token costs no write per call."""


class AccessError(ValueError):
    """A token operation refused, with a message saying why and what to do instead."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token they presented and the role it carries."""

    token_id: int
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as people see it (never the token itself)."""

    id: int
    name: str
    role: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Tells whether the token still opens the API."""
        return self.revoked_at is None


def validate_role(role: str) -> str:
    """Returns the role if it exists, else raises AccessError listing the roles."""
    if role not in ROLE_DESCRIPTIONS:
        listed = "; ".join(f"{name} ({what})" for name, what in ROLE_DESCRIPTIONS.items())
        raise AccessError(f"Unknown role {role!r}; choose one of: {listed}.")
    return role


def hash_token(plaintext: str) -> str:
    """The stored form of a token: its SHA-256 in hex."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def plausible_token(plaintext: str) -> bool:
    """Tells whether `plaintext` has the shape of an omnicx API token."""
    return (
        len(plaintext) == TOKEN_LENGTH
        and plaintext.startswith(TOKEN_PREFIX)
        and _TOKEN_ALPHABET.issuperset(plaintext[len(TOKEN_PREFIX) :])
    )


def create_token(
    connection: Connection, *, role: str, name: str | None = None, actor: str = "cli"
) -> tuple[TokenInfo, str]:
    """Creates a token with `role`; returns it and its plaintext, which is shown only now.

    `actor` (who asked: `cli`, `console:EMAIL`, `api:ROLE:NAME`) goes to the audit log.
    """
    validate_role(role)
    name = (name or "").strip() or f"{role} token"
    if len(name) > 200 or not name.isprintable():
        raise AccessError("A token name is 1 to 200 printable characters.")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utc_now()
    hint = plaintext[:_HINT_LENGTH]
    inserted = connection.execute(
        api_tokens.insert().values(
            name=name, role=role, token_hash=hash_token(plaintext), hint=hint, created_at=now
        )
    ).inserted_primary_key
    assert inserted is not None
    token = TokenInfo(inserted[0], name, role, hint, now, None, None)
    audit.record(
        connection,
        actor=actor,
        action="tokens.create",
        target=_audit_target(token),
        detail={"role": role, "name": name, "hint": hint},
        at=now,
    )
    return token, plaintext


def list_tokens(connection: Connection, *, include_revoked: bool = True) -> list[TokenInfo]:
    """Lists tokens, oldest first (revoked ones too unless `include_revoked` is false)."""
    chosen = select(api_tokens).order_by(api_tokens.c.id)
    if not include_revoked:
        chosen = chosen.where(api_tokens.c.revoked_at.is_(None))
    return [_info(row) for row in connection.execute(chosen)]


def get_token_or_raise(connection: Connection, *, token_id: int) -> TokenInfo:
    """Returns the token with `token_id`, or raises AccessError."""
    row = connection.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise AccessError(f"No token with id {token_id}; `omnicx tokens list` shows them.")
    return _info(row)


def revoke_token(connection: Connection, *, token_id: int, actor: str = "cli") -> TokenInfo:
    """Revokes a token for good (revoking it again changes nothing).

    `actor` (who asked) goes to the audit log, with the first revocation only.
    """
    token = get_token_or_raise(connection, token_id=token_id)
    if token.revoked_at is None:
        now = utc_now()
        connection.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now)
        )
        audit.record(
            connection,
            actor=actor,
            action="tokens.revoke",
            target=_audit_target(token),
            detail={"role": token.role, "name": token.name, "hint": token.hint},
            at=now,
        )
    return get_token_or_raise(connection, token_id=token_id)


def authenticate(connection: Connection, plaintext: str) -> Caller | None:
    """Returns who `plaintext` belongs to if it is a valid, unrevoked token, else None.

    Notes the use in `last_used_at` when the last note is older than a minute.
    """
    if not plausible_token(plaintext):
        return None
    row = connection.execute(
        select(
            api_tokens.c.id,
            api_tokens.c.role,
            api_tokens.c.name,
            api_tokens.c.last_used_at,
        ).where(api_tokens.c.token_hash == hash_token(plaintext), api_tokens.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    now = utc_now()
    if row.last_used_at is None or as_utc(row.last_used_at) <= now - LAST_USED_RESOLUTION:
        connection.execute(
            update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
        )
    return Caller(row.id, row.role, row.name)


def _audit_target(token: TokenInfo) -> str:
    return f"token {token.id} ({token.name})"


def _info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.role,
        row.hint,
        as_utc(row.created_at),
        as_utc(row.last_used_at) if row.last_used_at is not None else None,
        as_utc(row.revoked_at) if row.revoked_at is not None else None,
    )
