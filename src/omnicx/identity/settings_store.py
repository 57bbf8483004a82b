"""Storing the identity settings in the database, so every process resolves by the same rules."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select

from omnicx.identity.config import IdentityConfig, default_config, load_text
from omnicx.identity.tables import identity_settings
from omnicx.store.clock import utc_now

_parsed: dict[str, IdentityConfig] = {}
_DEFAULTS = default_config()


def current_document(connection: Connection) -> str | None:
    """The settings text in force, or None when the defaults apply."""
    return connection.execute(
        select(identity_settings.c.document).order_by(identity_settings.c.version.desc()).limit(1)
    ).scalar()


def current_version(connection: Connection) -> int:
    """The version of the settings in force (0: the built-in defaults)."""
    return int(connection.execute(select(func.max(identity_settings.c.version))).scalar() or 0)


def current_config(connection: Connection) -> IdentityConfig:
    """The settings in force, parsed once per distinct text (processes may serve several
    databases, so the text, not the version number, is the key)."""
    document = current_document(connection)
    if document is None:
        return _DEFAULTS
    config = _parsed.get(document)
    if config is None:
        config = load_text(document, name="stored identity settings")
        _parsed[document] = config
    return config


def store(connection: Connection, text: str, *, name: str) -> int:
    """Checks settings text (raising IdentityConfigError) and makes it the new version."""
    load_text(text, name=name)
    version = current_version(connection) + 1
    connection.execute(
        insert(identity_settings).values(version=version, document=text, created_at=utc_now())
    )
    return version
