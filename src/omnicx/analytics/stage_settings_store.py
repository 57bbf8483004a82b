"""Storing the journey stage model in the database, so every report uses the same one."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select

from omnicx.analytics.stage_settings import DEFAULT_MODEL, StageModel, load_text
from omnicx.analytics.tables import analytics_stage_settings
from omnicx.store.clock import utc_now

_parsed: dict[str, StageModel] = {}


def current_document(connection: Connection) -> str | None:
    """The stored settings text in force, or None when the built-in model applies."""
    table = analytics_stage_settings
    return connection.execute(
        select(table.c.document).order_by(table.c.version.desc()).limit(1)
    ).scalar()


def current_version(connection: Connection) -> int:
    """The version of the settings in force (0: the built-in model)."""
    table = analytics_stage_settings
    return int(connection.execute(select(func.max(table.c.version))).scalar() or 0)


def current_model(connection: Connection) -> StageModel:
    """The model in force, parsed once per distinct text."""
    document = current_document(connection)
    if document is None:
        return DEFAULT_MODEL
    model = _parsed.get(document)
    if model is None:
        model = load_text(document, name="stored stage settings")
        _parsed[document] = model
    return model


def store(connection: Connection, text: str, *, name: str = "stage settings") -> int:
    """Checks settings text (raising StageSettingsError) and makes it the new version."""
    load_text(text, name=name)
    version = current_version(connection) + 1
    connection.execute(
        insert(analytics_stage_settings).values(
            version=version, document=text, created_at=utc_now()
        )
    )
    return version
