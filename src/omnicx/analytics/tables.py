"""Tables of the analytics domain (the lake itself lives in Parquet files, not here)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, Table, Text

from omnicx.store.metadata import metadata

# Versions of the journey stage model stored by `omnicx stages configure` (or the API's PUT);
# the newest applies, the built-in model when there is none.
analytics_stage_settings = Table(
    "analytics_stage_settings",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
