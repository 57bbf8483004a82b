"""Tables of the access domain: API tokens, console users and their sessions, login attempts,
and the audit log of admin actions. No secret is stored in the clear: tokens and session
cookies as SHA-256, passwords as argon2id hashes."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from omnicx.store.metadata import metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64 bits for logs.
BigId = BigInteger().with_variant(Integer(), "sqlite")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    # SHA-256 (hex) of the whole token; the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    # The token's first characters (`ocx_AbCd`), so people can tell their tokens apart.
    Column("hint", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Refreshed at most once a minute, not on every request.
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

console_users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True),
    # Trimmed and lower-cased, so one person has one account whatever they type.
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    # argon2id, in the PHC string format (parameters and salt included).
    Column("password_hash", String(255), nullable=False),
    # The console language the user chose (a BCP 47 tag such as `tr` or `pt-BR`), if any.
    Column("language", String(35)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 (hex) of the session cookie's token (256 random bits); the token is not stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("console_users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Refreshed at most once a minute, not on every request.
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Set by signing out, a password change or disabling the user.
    Column("ended_at", DateTime(timezone=True)),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # As typed, trimmed and lower-cased (whether or not such a user exists).
    Column("email", String(320), nullable=False),
    # The client's IP address.
    Column("client", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Index("ix_login_attempts_email_at", "email", "at"),
    Index("ix_login_attempts_client_at", "client", "at"),
    # Attempts older than the throttling window are deleted as new ones come (users.py).
    Index("ix_login_attempts_at", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    # Who: `console:EMAIL`, `api:ROLE:TOKEN NAME` or `cli`.
    Column("actor", String(400), nullable=False),
    # What, as `area.verb`: `users.add`, `tokens.revoke`, `sources.rotate`, `profiles.erase`.
    Column("action", String(64), nullable=False),
    # On what: an e-mail address, a token, a source, a profile.
    Column("target", String(400), nullable=False),
    # The particulars, as a JSON object (never a secret).
    Column("detail", Text, nullable=False),
)
