"""Tables of the audiences domain: segments, their members, and what live evaluation keeps.

Hits are kept per event, not per profile: a merge or an unmerge moves events between profiles
(identity attributes them), so a profile's hits are always "the hits of its events" and need no
rewriting when profiles change.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, String, Table, Text

from omnicx.store.metadata import metadata

BigId = BigInteger().with_variant(Integer(), "sqlite")
ProfileId = String(36)

# Segment definitions (JSON, docs/audiences-definitions.md). `version` grows with every change;
# `ready_version` is the version whose members are computed (a new or changed definition is
# evaluated for everyone by the membership consumer before it is live).
audience_segments = Table(
    "audience_segments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("ready_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    # How many rows of audience_members it has, kept by every change to them in the same
    # transaction: segment lists show it without counting millions of memberships.
    Column("member_count", Integer, nullable=False, default=0, server_default="0"),
)

# Who is in each segment now, and since when.
audience_members = Table(
    "audience_members",
    metadata,
    Column("segment_id", Integer, primary_key=True),
    Column("profile_id", ProfileId, primary_key=True),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Index("ix_audience_members_profile_id", "profile_id"),
)

# Events that match an event condition (by its key, definition.EventCondition.key), with the
# event's time: what "did X at least N times in the last D days" is evaluated from.
audience_hits = Table(
    "audience_hits",
    metadata,
    Column("event_id", BigId, primary_key=True),
    Column("condition_key", String(40), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Index("ix_audience_hits_condition_key", "condition_key"),
)

# The event conditions hits are kept for, and the stream position up to which they are
# complete (a new condition's hits are filled in from the stored events first).
audience_condition_keys = Table(
    "audience_condition_keys",
    metadata,
    Column("condition_key", String(40), primary_key=True),
    Column("condition", Text, nullable=False),
    Column("complete_through", BigId, nullable=False),
)

# When a profile's memberships change by themselves (a window slides past an event), at the
# earliest: the consumer evaluates the profile again then.
audience_timers = Table(
    "audience_timers",
    metadata,
    Column("profile_id", ProfileId, primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
)

# The consumer's own positions (the identity change feed it has followed).
audience_positions = Table(
    "audience_positions",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Lead scoring models (docs/lead-scoring.md), versioned like segments: a new or changed model
# scores everyone before its scores are live.
audience_scoring_models = Table(
    "audience_scoring_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(100), nullable=False, unique=True),
    Column("document", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("ready_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# Each profile's score and stage under each model, as of its last evaluation (scores decay:
# the API computes the score at the moment it is asked).
audience_scores = Table(
    "audience_scores",
    metadata,
    Column("model_id", Integer, primary_key=True),
    Column("profile_id", ProfileId, primary_key=True),
    Column("score", Float, nullable=False),
    Column("stage", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_audience_scores_profile_id", "profile_id"),
)

# Every change of a profile's score or stage under a model: the score history.
audience_score_history = Table(
    "audience_score_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", Integer, nullable=False),
    Column("profile_id", ProfileId, nullable=False),
    Column("score", Float, nullable=False),
    Column("stage", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_audience_score_history_profile_id", "profile_id", "model_id"),
)

# Scheduled deliveries of a segment's consented members to a webhook (docs/ad-export.md).
audience_syncs = Table(
    "audience_syncs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("segment_id", Integer, nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("format", String(16), nullable=False),
    Column("every_minutes", Integer, nullable=False),
    Column("secret", String(64), nullable=False),
    Column("next_run_at", DateTime(timezone=True), nullable=False, index=True),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_status", String(200)),
    Column("last_members", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
