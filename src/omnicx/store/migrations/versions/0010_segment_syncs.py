"""segment syncs: scheduled deliveries of a segment to a webhook

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 01:50:05.636765
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_syncs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=200), nullable=True),
        sa.Column("last_members", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_syncs")),
    )
    with op.batch_alter_table("audience_syncs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_syncs_next_run_at"), ["next_run_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audience_syncs_segment_id"), ["segment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audience_syncs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_syncs_segment_id"))
        batch_op.drop_index(batch_op.f("ix_audience_syncs_next_run_at"))

    op.drop_table("audience_syncs")
