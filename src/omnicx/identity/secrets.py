"""Keyed hashes of identifiers, so erased people can be recognised without keeping their data."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as random_secrets

from sqlalchemy import Connection, select

from omnicx.identity.tables import identity_secrets
from omnicx.store.bulk import insert_ignoring_duplicates

_KEY_NAME = "erasure"


def erasure_key(connection: Connection) -> bytes:
    """OMNICX_SECRET_KEY, or the installation's own random key (made on first use)."""
    configured = os.environ.get("OMNICX_SECRET_KEY")
    if configured:
        return configured.encode()
    value = connection.execute(
        select(identity_secrets.c.value).where(identity_secrets.c.name == _KEY_NAME)
    ).scalar()
    if value is None:
        insert_ignoring_duplicates(
            connection,
            identity_secrets,
            [{"name": _KEY_NAME, "value": random_secrets.token_hex(32)}],
        )
        value = connection.execute(
            select(identity_secrets.c.value).where(identity_secrets.c.name == _KEY_NAME)
        ).scalar_one()
    return str(value).encode()


def digest(key: bytes, type_name: str, value: str) -> str:
    """The keyed hash of one normalised identifier."""
    return hmac.new(key, f"{type_name}\x00{value}".encode(), hashlib.sha256).hexdigest()
