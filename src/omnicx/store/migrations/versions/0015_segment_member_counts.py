"""segment member counts: audience_segments.member_count, kept with audience_members

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audience_segments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("member_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE audience_segments SET member_count = (SELECT count(*) FROM audience_members "
        "WHERE audience_members.segment_id = audience_segments.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audience_segments", schema=None) as batch_op:
        batch_op.drop_column("member_count")
