"""One segment's member count, without counting every other segment's members
(`membership.member_counts` counts them all: right for a list, wasteful for one page)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from omnicx.audiences.tables import audience_members


def member_count(connection: Connection, segment_id: int) -> int:
    """How many members the segment has now (its primary key's prefix: an index count)."""
    found = connection.execute(
        select(func.count())
        .select_from(audience_members)
        .where(audience_members.c.segment_id == segment_id)
    ).scalar_one()
    return int(found)
