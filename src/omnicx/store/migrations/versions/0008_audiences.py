"""audiences: segments, members, event condition hits, timers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 00:54:07.625312
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_condition_keys",
        sa.Column("condition_key", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column(
            "complete_through", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("condition_key", name=op.f("pk_audience_condition_keys")),
    )
    op.create_table(
        "audience_hits",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("condition_key", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "condition_key", name=op.f("pk_audience_hits")),
    )
    with op.batch_alter_table("audience_hits", schema=None) as batch_op:
        batch_op.create_index("ix_audience_hits_condition_key", ["condition_key"], unique=False)

    op.create_table(
        "audience_members",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "profile_id", name=op.f("pk_audience_members")),
    )
    with op.batch_alter_table("audience_members", schema=None) as batch_op:
        batch_op.create_index("ix_audience_members_profile_id", ["profile_id"], unique=False)

    op.create_table(
        "audience_positions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audience_positions")),
    )
    op.create_table(
        "audience_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ready_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_segments")),
        sa.UniqueConstraint("key", name=op.f("uq_audience_segments_key")),
    )
    op.create_table(
        "audience_timers",
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_audience_timers")),
    )
    with op.batch_alter_table("audience_timers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audience_timers_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audience_timers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_timers_due_at"))

    op.drop_table("audience_timers")
    op.drop_table("audience_segments")
    op.drop_table("audience_positions")
    with op.batch_alter_table("audience_members", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_members_profile_id")

    op.drop_table("audience_members")
    with op.batch_alter_table("audience_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_hits_condition_key")

    op.drop_table("audience_hits")
    op.drop_table("audience_condition_keys")
