"""lead scoring: models, current scores, score history

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 01:45:36.509245
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_score_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_score_history")),
    )
    with op.batch_alter_table("audience_score_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audience_score_history_profile_id", ["profile_id", "model_id"], unique=False
        )

    op.create_table(
        "audience_scores",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "profile_id", name=op.f("pk_audience_scores")),
    )
    with op.batch_alter_table("audience_scores", schema=None) as batch_op:
        batch_op.create_index("ix_audience_scores_profile_id", ["profile_id"], unique=False)

    op.create_table(
        "audience_scoring_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ready_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_scoring_models")),
        sa.UniqueConstraint("key", name=op.f("uq_audience_scoring_models_key")),
    )


def downgrade() -> None:
    op.drop_table("audience_scoring_models")
    with op.batch_alter_table("audience_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_scores_profile_id")

    op.drop_table("audience_scores")
    with op.batch_alter_table("audience_score_history", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_score_history_profile_id")

    op.drop_table("audience_score_history")
