"""Tables of the identity domain: identifiers, the evidence linking them, profiles and the log."""

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
    UniqueConstraint,
)

from omnicx.store.metadata import metadata

BigId = BigInteger().with_variant(Integer(), "sqlite")
ProfileId = String(36)
"""A profile's public id: a UUID in its text form (the same on SQLite and PostgreSQL)."""

# Versions of the settings stored by `omnicx identity configure`; the newest applies.
identity_settings = Table(
    "identity_settings",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per profile id ever given out. A profile merged into another keeps its row with
# `merged_into` set, so an old id still leads to the person (the API follows it).
identity_profiles = Table(
    "identity_profiles",
    metadata,
    Column("id", ProfileId, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The position (event time, order key) of the newest link inside the profile: an event
    # after it whose identifiers are all in the profile changes nothing.
    Column("linked_until_at", DateTime(timezone=True)),
    Column("linked_until_key", BigInteger),
    Column("merged_into", ProfileId, index=True),
)

# Every normalised identifier value seen, and the profile it belongs to now.
identifiers = Table(
    "identifiers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("type", String(40), nullable=False),
    Column("value", String(255), nullable=False),
    # NULL while shared: a shared identifier belongs to nobody and links nothing.
    Column("profile_id", ProfileId, index=True),
    # The first profile it was given; an unmerge gives the profile back its old id.
    Column("origin_profile_id", ProfileId),
    Column("shared", Boolean, nullable=False, default=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("type", "value"),
)

# Which events carried which identifier: the timeline, erasure and re-attribution read this.
# `anchor` marks the identifier the event is attributed to (its highest-priority one).
identity_observations = Table(
    "identity_observations",
    metadata,
    Column("identifier_id", BigInteger, primary_key=True),
    Column("event_id", BigInteger, primary_key=True),
    Column("anchor", Boolean, nullable=False),
    Index("ix_identity_observations_event", "event_id"),
)

# The evidence: events that carried two or more identifiers, one row per identifier.
# `order_key` breaks ties between events at the same instant by their content (source and
# messageId), so the replay order never depends on arrival order. Without windowed limits only
# the earliest event of each distinct set of identifiers (`set_key`) is kept: a later event
# with the same set can never change the outcome (see graph.py).
identity_evidence = Table(
    "identity_evidence",
    metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("identifier_id", BigInteger, primary_key=True),
    Column("set_key", BigInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("order_key", BigInteger, nullable=False),
    Index("ix_identity_evidence_identifier", "identifier_id"),
    Index("ix_identity_evidence_set", "set_key"),
)

# The joins that hold each profile together (a spanning tree of its identifiers).
identity_links = Table(
    "identity_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("profile_id", ProfileId, nullable=False, index=True),
    Column("anchor_id", BigInteger, nullable=False, index=True),
    Column("joined_id", BigInteger, nullable=False, index=True),
    Column("event_id", BigInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("order_key", BigInteger, nullable=False),
)

# Identifiers seen together with person keys (types limited to one per profile, e.g. userId):
# more than `max_people` of them make the identifier shared.
identity_cooccurrence = Table(
    "identity_cooccurrence",
    metadata,
    Column("identifier_id", BigInteger, primary_key=True),
    Column("person_key_id", BigInteger, primary_key=True),
)

# Joins a rule refused, once per (identifier, profile it would have joined, reason).
identity_conflicts = Table(
    "identity_conflicts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("identifier_id", BigInteger, nullable=False, index=True),
    Column("anchor_id", BigInteger, nullable=False, index=True),
    Column("profile_id", ProfileId, index=True),
    Column("other_profile_id", ProfileId, index=True),
    Column("reason", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("first_event_id", BigInteger, nullable=False),
    Column("first_occurred_at", DateTime(timezone=True), nullable=False),
    Column("events", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The audit log of the graph: merges, splits, unmerges, identifiers turning shared, rebuilds.
# It is also the change feed later domains follow (by id) to re-attribute what they keep.
identity_changes = Table(
    "identity_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("profile_id", ProfileId, index=True),
    Column("other_profile_id", ProfileId, index=True),
    Column("identifier_id", BigInteger),
    Column("event_id", BigInteger),
    Column("rule", Text, nullable=False),
    # JSON: the identifier ids on each side, so a merge can be undone exactly.
    Column("detail", Text, nullable=False),
    Column("actor", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_by", BigInteger),
)

# Identifiers an unmerge keeps apart (JSON lists of identifier ids on each side).
identity_separations = Table(
    "identity_separations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("change_id", BigInteger, nullable=False),
    Column("left_ids", Text, nullable=False),
    Column("right_ids", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Keyed hashes of erased people's identifiers: events carrying one are dropped, not linked.
identity_erased = Table(
    "identity_erased",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# The key of those hashes, made once per installation (unless OMNICX_SECRET_KEY is set).
identity_secrets = Table(
    "identity_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(128), nullable=False),
)

# Links a person decided on, or a probabilistic match accepted: evidence that is no event.
# They join profiles through the same rules as events (limits, separations), and survive a
# rebuild (their evidence rows are written again from here).
identity_manual_links = Table(
    "identity_manual_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("left_id", BigInteger, nullable=False),
    Column("right_id", BigInteger, nullable=False),
    Column("probability", Float),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Probable matches below the automatic-merge threshold, waiting for a person to decide.
identity_match_reviews = Table(
    "identity_match_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("left_profile_id", ProfileId, nullable=False),
    Column("right_profile_id", ProfileId, nullable=False),
    Column("probability", Float, nullable=False),
    # JSON: the compared fields of both records, to show the reviewer.
    Column("detail", Text, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(200)),
    UniqueConstraint("left_profile_id", "right_profile_id"),
)
