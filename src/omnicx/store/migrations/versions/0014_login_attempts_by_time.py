"""login attempts by time: index (at), for deleting those older than the throttling window

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 08:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_login_attempts_at"


def upgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(INDEX, ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
