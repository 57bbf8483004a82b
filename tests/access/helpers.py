"""Helpers for access tests: make a token, and the header that presents it."""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.access import service


def make_token(engine: Engine, role: str = "admin", name: str | None = None) -> tuple[int, str]:
    """Creates a token and returns its id and plaintext."""
    with engine.begin() as connection:
        info, plaintext = service.create_token(connection, role=role, name=name)
    return info.id, plaintext


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}
