"""One segment's member count, without reading every other segment's
(`membership.member_counts` gives them all: right for a list, more than one page needs)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from omnicx.audiences.tables import audience_segments


def member_count(connection: Connection, segment_id: int) -> int:
    """How many members the segment has now (the count kept beside its members; 0 for a
    segment that does not exist)."""
    found = connection.execute(
        select(audience_segments.c.member_count).where(audience_segments.c.id == segment_id)
    ).scalar()
    return int(found or 0)
