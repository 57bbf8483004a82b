"""The behaviour of every profile as one table: what personas and lookalikes work on.

One row per profile (profile_features.REQUIRED_FEATURES and a column per channel), read from
the profiles' computed traits page by page, plus each profile's events of the last 30 days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import pyarrow as pa
from sqlalchemy import Connection

from omnicx.audiences.profile_features import CHANNEL_PREFIX
from omnicx.collect import history
from omnicx.collect.emit import SYSTEM_CHANNEL
from omnicx.collect.sources import CHANNELS
from omnicx.identity import service as identity
from omnicx.profiles import service as profiles

PAGE: Final = 2000
RECENT: Final = timedelta(days=30)


def behaviour_table(
    connection: Connection, now: datetime, *, progress: Callable[[int], None] | None = None
) -> pa.Table:
    """Every profile that has been seen: recency in days, orders, lifetime value, events, events
    in the last 30 days, channels used and one 0/1 column per channel."""
    columns: dict[str, list[object]] = {
        name: []
        for name in (
            "profile_id", "recency_days", "orders", "lifetime_value", "events",
            "events_last_30_days", "channels",
            *(f"{CHANNEL_PREFIX}{c}" for c in CHANNELS),
        )
    }  # fmt: skip
    after, done = "", 0
    while page := identity.profile_ids(connection, after=after, page=PAGE):
        after = page[-1]
        documents = profiles.documents(connection, page)
        recent = history.counts_since(
            connection, identity.event_ids_of_profiles(page), now - RECENT
        )
        for profile_id, document in documents.items():
            computed = document.computed
            if computed.last_seen_at is None:
                continue  # known by an identifier only (an import), never seen doing anything
            used = {c for c, n in computed.channels.items() if n and c != SYSTEM_CHANNEL}
            columns["profile_id"].append(profile_id)
            columns["recency_days"].append(
                max(0.0, (now - computed.last_seen_at) / timedelta(days=1))
            )
            columns["orders"].append(computed.orders)
            columns["lifetime_value"].append(max(0.0, computed.lifetime_value))
            columns["events"].append(computed.events)
            columns["events_last_30_days"].append(recent.get(profile_id, 0))
            columns["channels"].append(len(used))
            for channel in CHANNELS:
                columns[f"{CHANNEL_PREFIX}{channel}"].append(int(channel in used))
        done += len(page)
        if progress is not None:
            progress(done)
    return pa.table(columns)
