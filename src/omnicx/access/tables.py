"""Tables of the access domain: API tokens (only a hash of each token is stored)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from omnicx.store.metadata import metadata

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
