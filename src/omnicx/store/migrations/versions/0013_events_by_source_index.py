"""events by source: index (source_id, id) for a source's latest events (live debugger)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 07:00:00.000000

On PostgreSQL the index is built CONCURRENTLY (outside a transaction), so upgrading a large
database does not stop the intake while the index is built.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_events_source_id_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                INDEX,
                "events",
                ["source_id", "id"],
                unique=False,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        return
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(INDEX, ["source_id", "id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name="events", postgresql_concurrently=True, if_exists=True)
        return
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
