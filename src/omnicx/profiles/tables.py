"""Tables of the profiles domain.

Two kinds of rows. *Observations* are kept per event (a trait value an event carried, a
consent an event or a person gave): they never depend on which profile an event belongs to,
so a merge or a split only re-reads them. *Derived* rows are per profile (the winning trait
values, the computed traits, the consent in force): they are recomputed from the profile's
events and observations whenever identity resolution changes the profile.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from omnicx.store.metadata import metadata

BigId = BigInteger().with_variant(Integer(), "sqlite")
ProfileId = String(36)

# Versions of the settings stored by `omnicx profiles configure`; the newest applies.
profile_settings = Table(
    "profile_settings",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The profile builder's own positions: `changes` (the last identity change applied) and
# `events` (the last event folded in; a checkpoint moved back below it means a reset).
profile_positions = Table(
    "profile_positions",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Every trait value an event carried (identify traits, any message's context.traits).
profile_trait_observations = Table(
    "profile_trait_observations",
    metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("source_id", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
)

# The value of each trait that wins by the precedence rules, with where it came from.
profile_traits = Table(
    "profile_traits",
    metadata,
    Column("profile_id", ProfileId, primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("source_id", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
)

# Computed traits, one row per profile with events.
profile_stats = Table(
    "profile_stats",
    metadata,
    Column("profile_id", ProfileId, primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("channels", Text, nullable=False),  # JSON {channel: events}
    # JSON {channel: {day: events}}: the person's own actions in the 90 days up to the last one.
    Column("recent", Text, nullable=False),
    Column("preferred_channel", String(16)),
    Column("orders", Integer, nullable=False),
    Column("lifetime_value", Float, nullable=False),
    Column("last_order_at", DateTime(timezone=True)),
    Column("last_order_event_id", BigInteger),
    Column("last_order_id", String(255)),
    Column("last_order_value", Float),
    Column("last_order_currency", String(8)),
    Column("last_order_channel", String(16)),
    # JSON list of cart operations since the last order; the open cart is folded from them.
    Column("cart", Text, nullable=False),
    Column("cart_value", Float),
    Column("cart_updated_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_profile_stats_orders", "orders"),
    Index("ix_profile_stats_lifetime_value", "lifetime_value"),
    Index("ix_profile_stats_last_order_at", "last_order_at"),
)

# Every consent signal: from an event (`event_id` set) or given through the API or CLI
# (`actor` set). `given_to` is the profile the API call named; `profile_id` the profile the
# signal belongs to now (API signals follow their profile id through merges and unmerges).
profile_consent_history = Table(
    "profile_consent_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, index=True),
    Column("given_to", ProfileId),
    Column("profile_id", ProfileId, index=True),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source_id", Integer),
    Column("message_id", String(255)),
    Column("signal", String(200), nullable=False),
    Column("actor", String(200)),
    Column("note", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# The consent in force per profile, channel and purpose: a copy of its latest signal.
profile_consents = Table(
    "profile_consents",
    metadata,
    Column("profile_id", ProfileId, primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("granted", Boolean, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event_id", BigInteger),
    Column("source_id", Integer),
    Column("message_id", String(255)),
    Column("signal", String(200), nullable=False),
    Column("actor", String(200)),
    Column("note", Text),
)

# Name search (profiles/search.py): each profile's names folded (lower case, no accents),
# once from every word on ("ayse nur yilmaz", "nur yilmaz", "yilmaz"), so a prefix of a
# first, middle or last name is one range scan of the primary key. Byte order ("C"
# collation) on PostgreSQL, as SQLite compares, so a prefix is a range.
NameKey = String(200).with_variant(String(200, collation="C"), "postgresql")
profile_name_keys = Table(
    "profile_name_keys",
    metadata,
    Column("key", NameKey, primary_key=True),
    Column("profile_id", ProfileId, primary_key=True),
    Index("ix_profile_name_keys_profile_id", "profile_id"),
)
