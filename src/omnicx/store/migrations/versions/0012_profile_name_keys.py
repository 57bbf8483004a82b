"""profile name keys: search customers by name through an index

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 06:10:00.000000

The keys of the profiles there are are written from their name traits as the table is made
(the profile builder keeps them from then on).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from omnicx.profiles.name_keys import NAME_TRAITS, name_keys

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PAGE = 5000


def upgrade() -> None:
    op.create_table(
        "profile_name_keys",
        sa.Column(
            "key",
            sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("key", "profile_id", name=op.f("pk_profile_name_keys")),
    )
    with op.batch_alter_table("profile_name_keys", schema=None) as batch_op:
        batch_op.create_index("ix_profile_name_keys_profile_id", ["profile_id"], unique=False)
    _fill()


def _fill() -> None:
    """Keys for the profiles that already have name traits, a page of profiles at a time."""
    connection = op.get_bind()
    traits = sa.table(
        "profile_traits",
        sa.column("profile_id", sa.String),
        sa.column("name", sa.String),
        sa.column("value", sa.Text),
    )
    keys = sa.table("profile_name_keys", sa.column("key", sa.String), sa.column("profile_id"))
    after = ""
    while True:
        rows = connection.execute(
            sa.select(traits.c.profile_id, traits.c.name, traits.c.value)
            .where(traits.c.name.in_(sorted(NAME_TRAITS)))
            .where(traits.c.profile_id > after)
            .where(
                traits.c.profile_id
                <= sa.select(sa.func.max(sa.literal_column("profile_id")))
                .select_from(
                    sa.select(traits.c.profile_id)
                    .where(traits.c.name.in_(sorted(NAME_TRAITS)))
                    .where(traits.c.profile_id > after)
                    .group_by(traits.c.profile_id)
                    .order_by(traits.c.profile_id)
                    .limit(_PAGE)
                    .subquery()
                )
                .scalar_subquery()
            )
        ).all()
        if not rows:
            return
        values: dict[str, dict[str, Any]] = {}
        for row in rows:
            values.setdefault(row.profile_id, {})[row.name] = orjson.loads(row.value)
        found = [{"key": k, "profile_id": p} for p, held in values.items() for k in name_keys(held)]
        if found:
            connection.execute(keys.insert(), found)
        after = max(values)


def downgrade() -> None:
    with op.batch_alter_table("profile_name_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_name_keys_profile_id")
    op.drop_table("profile_name_keys")
