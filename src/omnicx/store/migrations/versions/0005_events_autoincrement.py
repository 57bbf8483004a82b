"""events: SQLite ids never reused after an erasure (AUTOINCREMENT)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    # PostgreSQL sequences never hand an id out twice; only SQLite's table needs rebuilding.
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
