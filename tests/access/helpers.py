"""Helpers for access tests: make a token and the header that presents it; add a console user."""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.access import service, users


def make_token(engine: Engine, role: str = "admin", name: str | None = None) -> tuple[int, str]:
    """Creates a token and returns its id and plaintext."""
    with engine.begin() as connection:
        info, plaintext = service.create_token(connection, role=role, name=name)
    return info.id, plaintext


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


PASSWORD = "correct horse battery"
"""A password long enough for a console user."""


def add_user(
    engine: Engine,
    email: str = "alice@example.com",
    role: str = "admin",
    *,
    password: str = PASSWORD,
    name: str | None = None,
) -> users.User:
    """Adds a console user (with PASSWORD unless told otherwise) and returns them."""
    with engine.begin() as connection:
        return users.add_user(connection, email, role=role, password=password, name=name)
