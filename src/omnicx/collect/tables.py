"""Tables of the collect domain: sources, write keys, raw events, rejects, checkpoints, imports."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from omnicx.store.metadata import metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for events.
BigId = BigInteger().with_variant(Integer(), "sqlite")

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
)

write_keys = Table(
    "write_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Set when the key is rotated away; a rotation may leave the old key valid for a grace period.
    Column("expires_at", DateTime(timezone=True)),
)

# Raw events, append-only. `id` is the position in the stream the processing stage consumes:
# writers take an exclusive lock before inserting, so ids become visible in increasing order.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("type", String(16), nullable=False),
    Column("event", Text),
    Column("user_id", Text),
    Column("anonymous_id", Text),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # The whole message as accepted (batch context merged, receivedAt and corrected timestamp set).
    Column("payload", Text, nullable=False),
    UniqueConstraint("source_id", "message_id"),
    # A source's latest events after a cursor (the console's live debugger).
    Index("ix_events_source_id_id", "source_id", "id"),
    # Ids are stream positions: SQLite must never hand out the id of a deleted (erased) event
    # again, or consumers past that position would never see the new one.
    sqlite_autoincrement=True,
)

# Messages refused at intake, kept so users can see what a source sends wrong and why.
rejected_events = Table(
    "rejected_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source_id", Integer, ForeignKey("sources.id")),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("path", Text, nullable=False),
    # The offending message, cut to a few kilobytes.
    Column("payload", Text, nullable=False),
    Index("ix_rejected_events_source_received", "source_id", "received_at"),
)

# One row per named consumer of the event stream: the last event id it has fully processed.
checkpoints = Table(
    "stream_checkpoints",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Maintained by the built-in processing consumer: what each source sent, per day.
source_daily_counts = Table(
    "source_daily_counts",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("last_received_at", DateTime(timezone=True), nullable=False),
)

# Files loaded by `omnicx import`: a file already imported is recognised by its digest.
imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)
