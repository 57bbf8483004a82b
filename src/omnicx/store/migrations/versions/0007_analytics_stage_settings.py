"""analytics stage settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_stage_settings",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_analytics_stage_settings")),
    )


def downgrade() -> None:
    op.drop_table("analytics_stage_settings")
