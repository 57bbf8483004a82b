"""Bulk exports of every profile's traits, computed traits and consents, as Arrow record
batches, for batch jobs over all profiles (audiences' recompute).

Each export says the same as the profile document (`service.documents`) would, for every
profile at once: `traits` the winning value of each trait (JSON text, as stored),
`computed_traits` the `computed` document flattened to the field paths conditions name
(`last_order.at`...), with the RFM scores of the current quintile thresholds, and `consents`
the consent in force per channel and purpose, as stored. Profiles that have no row (no
computed traits yet) are simply absent: `EMPTY_COMPUTED` says what their document holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select

from omnicx.profiles import rfm
from omnicx.profiles.tables import profile_consents, profile_stats, profile_traits
from omnicx.store.export import TIMESTAMP, arrow_batches

TRAITS: Final = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),  # JSON text
    ]
)
CONSENTS: Final = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("granted", pa.bool_(), nullable=False),
        pa.field("occurred_at", TIMESTAMP, nullable=False),
    ]
)
COMPUTED: Final = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("first_seen_at", TIMESTAMP),
        pa.field("last_seen_at", TIMESTAMP),
        pa.field("events", pa.float64()),
        pa.field("channels", pa.list_(pa.string())),
        pa.field("preferred_channel", pa.string()),
        pa.field("orders", pa.float64()),
        pa.field("lifetime_value", pa.float64()),
        pa.field("last_order.at", TIMESTAMP),
        pa.field("last_order.value", pa.float64()),
        pa.field("last_order.currency", pa.string()),
        pa.field("last_order.channel", pa.string()),
        pa.field("open_cart", pa.bool_()),
        pa.field("open_cart.value", pa.float64()),
        pa.field("open_cart.updated_at", TIMESTAMP),
        pa.field("rfm.recency", pa.float64()),
        pa.field("rfm.frequency", pa.float64()),
        pa.field("rfm.monetary", pa.float64()),
        pa.field("rfm.code", pa.string()),
    ]
)
"""`computed_traits`: numbers as doubles; `channels` the channels with at least one event,
sorted; `open_cart` whether there is one (its other fields are null without); `rfm.*` null
without orders."""

EMPTY_COMPUTED: Final[dict[str, Any]] = {
    "events": 0.0,
    "channels": [],
    "orders": 0.0,
    "lifetime_value": 0.0,
    "open_cart": False,
}
"""The values of a profile without computed traits yet (the others are null)."""

_STATS: Final = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("first_seen_at", TIMESTAMP),
        pa.field("last_seen_at", TIMESTAMP),
        pa.field("events", pa.int64()),
        pa.field("channels", pa.string()),
        pa.field("preferred_channel", pa.string()),
        pa.field("orders", pa.int64()),
        pa.field("lifetime_value", pa.float64()),
        pa.field("last_order_at", TIMESTAMP),
        pa.field("last_order_value", pa.float64()),
        pa.field("last_order_currency", pa.string()),
        pa.field("last_order_channel", pa.string()),
        pa.field("cart_value", pa.float64()),
        pa.field("cart_updated_at", TIMESTAMP),
    ]
)


def traits(connection: Connection) -> Iterator[pa.RecordBatch]:
    """Every profile's winning trait values (TRAITS; a JSON `null` is a trait without value)."""
    statement = select(profile_traits.c.profile_id, profile_traits.c.name, profile_traits.c.value)
    return arrow_batches(connection, statement, TRAITS)


def consents(connection: Connection) -> Iterator[pa.RecordBatch]:
    """Every profile's consents in force, one per channel (`all` included) and purpose."""
    c = profile_consents.c
    statement = select(c.profile_id, c.channel, c.purpose, c.granted, c.occurred_at)
    return arrow_batches(connection, statement, CONSENTS)


def computed_traits(connection: Connection) -> Iterator[pa.RecordBatch]:
    """Every profile's computed traits (COMPUTED), as `service.computed_traits` gives them."""
    s = profile_stats.c
    statement = select(
        s.profile_id, s.first_seen_at, s.last_seen_at, s.events, s.channels,
        s.preferred_channel, s.orders, s.lifetime_value, s.last_order_at, s.last_order_value,
        s.last_order_currency, s.last_order_channel, s.cart_value, s.cart_updated_at,
    )  # fmt: skip
    thresholds = rfm.thresholds(connection)
    for batch in arrow_batches(connection, statement, _STATS):
        yield _computed(batch, thresholds)


def _channels(texts: Sequence[str | None]) -> pa.Array:
    """The channels with at least one event, sorted, from `{channel: events}` JSON."""
    return pa.array(
        [
            sorted(c for c, n in orjson.loads(t).items() if n > 0) if t is not None else []
            for t in texts
        ],
        pa.list_(pa.string()),
    )


def _scores(values: Any, bounds: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """rfm._score for every value: 1 + how many bounds it is above."""
    total = pa.array([1.0] * len(values), pa.float64())
    for bound in bounds:
        above = pc.fill_null(pc.greater(values, pa.scalar(bound, kind)), False)
        total = pc.add(total, pc.cast(above, pa.float64()))
    return total


def _computed(batch: pa.RecordBatch, thresholds: rfm.RfmThresholds | None) -> pa.RecordBatch:
    column = batch.column
    ordered = column("last_order_at")
    has_order = pc.is_valid(ordered)
    cart = pc.is_valid(column("cart_updated_at"))
    # Stats.from_row: the last order's channel is "" when it was stored without one.
    order_channel = pc.if_else(
        has_order, pc.fill_null(column("last_order_channel"), ""), pa.scalar(None, pa.string())
    )
    scored = pc.and_(has_order, pc.greater(column("orders"), 0))
    if thresholds is None:
        scored = pa.array([False] * batch.num_rows)
        recency = frequency = monetary = pa.nulls(batch.num_rows, pa.float64())
    else:
        recency = _scores(ordered, thresholds.recency, TIMESTAMP)
        frequency = _scores(column("orders"), thresholds.frequency, pa.int64())
        monetary = _scores(column("lifetime_value"), thresholds.monetary, pa.float64())
    nothing = pa.scalar(None, pa.float64())
    recency, frequency, monetary = (
        pc.if_else(scored, scores, nothing) for scores in (recency, frequency, monetary)
    )
    digits = [pc.cast(pc.cast(s, pa.int64()), pa.string()) for s in (recency, frequency, monetary)]
    code = pc.binary_join_element_wise(*digits, "")
    return pa.RecordBatch.from_arrays(
        [
            column("profile_id"),
            column("first_seen_at"),
            column("last_seen_at"),
            pc.cast(column("events"), pa.float64()),
            _channels(column("channels").to_pylist()),
            column("preferred_channel"),
            pc.cast(column("orders"), pa.float64()),
            column("lifetime_value"),
            ordered,
            pc.if_else(has_order, column("last_order_value"), nothing),
            pc.if_else(has_order, column("last_order_currency"), pa.scalar(None, pa.string())),
            order_channel,
            cart,
            pc.if_else(cart, column("cart_value"), nothing),
            column("cart_updated_at"),
            recency,
            frequency,
            monetary,
            code,
        ],
        schema=COMPUTED,
    )
