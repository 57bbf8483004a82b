"""The Alembic migrations build exactly the schema the code declares, and can be undone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from omnicx.schema import metadata
from omnicx.store.migrate import current_revision, downgrade, head_revision, upgrade


def test_migrated_schema_matches_the_code(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert "events" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert {"events", "sources", "write_keys"} <= set(inspect(engine).get_table_names())
