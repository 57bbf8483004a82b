"""Realistic Segment-spec messages for the intake benchmark.

A deterministic mix of what a storefront sends: ~60% track (product and checkout events with
their properties), ~30% page, ~10% identify (with traits), each with the context an SDK adds
(library, page, user agent, locale, sometimes a campaign). Serialised, one message is 300 to
600 bytes. Message ids are left as a placeholder (`MARKER`) that the load generator replaces
with a unique value per message and request.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

MARKER = "@@MID@@"
"""Stands for the messageId in a template; JSON never contains it by accident here."""

_PRODUCTS = [
    ("507f1f77bcf86cd799439011", "G-32", "Games", "Monopoly: 3rd Edition", "Hasbro", 18.99),
    ("505bd76785ebb509fc183733", "H-11", "Home", "Linen Duvet Cover", "Nordhaus", 89.0),
    ("5f1d7a0e2c6b1b0017e0a9c4", "S-07", "Shoes", "Trail Runner 2", "Kestrel", 129.5),
    ("60a7c2f4e13b9d0012f4b1aa", "K-02", "Kitchen", "Cast Iron Skillet 26cm", "Ferro", 44.9),
    ("61b3e9d07a2c5f0019c8d3e7", "B-45", "Books", "The Pragmatic Programmer", "Addison", 39.99),
    ("62c4fa1e8b3d6a001ad9e4f8", "T-19", "Toys", "Wooden Train Set", "Brio", 59.0),
]
_TRACK_EVENTS = [
    "Product Viewed", "Product Added", "Product Viewed", "Cart Viewed",
    "Checkout Started", "Order Completed", "Products Searched", "Product Clicked",
]  # fmt: skip
_PAGES = [
    ("/", "Home | Example Shop"),
    ("/c/games", "Games | Example Shop"),
    ("/p/monopoly-3rd-edition", "Monopoly: 3rd Edition | Example Shop"),
    ("/cart", "Your cart | Example Shop"),
    ("/checkout/shipping", "Shipping | Example Shop"),
    ("/search", "Search results | Example Shop"),
]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari",
]
_REFERRERS = ["https://www.google.com/", "", "https://www.instagram.com/", "https://t.co/x1"]
_LOCALES = ["en-US", "de-DE", "fr-FR", "en-GB", "nl-NL"]


def _context(rng: random.Random, path: str, title: str) -> dict[str, Any]:
    if rng.random() < 0.35:  # sent from a backend: no page, no browser
        return {
            "library": {"name": "analytics-python", "version": "2.3.2"},
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
        }
    context: dict[str, Any] = {
        "library": {"name": "analytics.js", "version": "next-1.72.0"},
        "page": {
            "path": path,
            "referrer": rng.choice(_REFERRERS),
            "url": f"https://shop.example.com{path}",
        },
        "userAgent": rng.choice(_AGENTS),
        "locale": rng.choice(_LOCALES),
    }
    if rng.random() < 0.25:
        context["campaign"] = {"name": "spring_sale", "source": "newsletter"}
    return context


def message(rng: random.Random, sent_at: datetime, *, track_only: bool = False) -> dict[str, Any]:
    """One realistic message with `MARKER` as its messageId (sentAt is the batch's)."""
    anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    user_id = f"user_{rng.randrange(1, 200_000)}" if rng.random() < 0.4 else None
    created = sent_at - timedelta(milliseconds=rng.randrange(5, 3000))
    path, title = rng.choice(_PAGES)
    roll = rng.random() * (0.6 if track_only else 1.0)
    msg: dict[str, Any]
    if roll < 0.6:
        product_id, sku, _category, name, _brand, price = rng.choice(_PRODUCTS)
        event = rng.choice(_TRACK_EVENTS)
        properties: dict[str, Any] = {
            "product_id": product_id, "sku": sku, "name": name,
            "price": price, "quantity": rng.randrange(1, 4),
        }  # fmt: skip
        if event == "Order Completed":
            properties = {
                "order_id": f"ord_{rng.randrange(10**8)}",
                "total": round(price * 1.2, 2),
                "revenue": price, "tax": round(price * 0.2, 2), "currency": "USD",
            }  # fmt: skip
        msg = {"type": "track", "event": event, "properties": properties}
    elif roll < 0.9:
        msg = {
            "type": "page",
            "name": title.split(" | ")[0],
            "properties": {"path": path, "title": title},
        }
    else:
        msg = {
            "type": "identify",
            "traits": {
                "email": f"customer{rng.randrange(10**6)}@example.org",
                "firstName": rng.choice(["Ana", "Ben", "Chen", "Dara", "Eli"]),
                "plan": rng.choice(["free", "plus", "pro"]),
                "createdAt": "2023-11-02T09:14:00.000Z",
            },
        }
        user_id = user_id or f"user_{rng.randrange(1, 200_000)}"
    msg["messageId"] = MARKER
    msg["anonymousId"] = anonymous_id
    if user_id:
        msg["userId"] = user_id
    msg["context"] = _context(rng, path, title)
    msg["timestamp"] = _iso(created)
    return msg


def _iso(instant: datetime) -> str:
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_message_ids(template: str, prefix: str) -> str:
    """A template with each `MARKER` replaced by `PREFIX-1`, `PREFIX-2`, ... (as post.lua
    does for wrk): every message of a run gets its own messageId."""
    parts = template.split(MARKER)
    return parts[0] + "".join(f"{prefix}-{i}{part}" for i, part in enumerate(parts[1:], 1))


def batch_templates(count: int, size: int, seed: int = 1) -> list[str]:
    """`count` distinct batch bodies of `size` messages each, as one-line JSON."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    for _ in range(count):
        batch = [message(rng, now) for _ in range(size)]
        bodies.append(orjson.dumps({"batch": batch, "sentAt": _iso(now)}).decode())
    return bodies


def single_templates(count: int, write_key: str, seed: int = 2) -> list[str]:
    """`count` distinct track messages as analytics.js posts them to /v1/track (writeKey inside)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    for _ in range(count):
        msg = message(rng, now, track_only=True)
        msg["sentAt"] = _iso(now)
        msg["writeKey"] = write_key
        bodies.append(orjson.dumps(msg).decode())
    return bodies


def message_sizes(count: int = 2000, seed: int = 3) -> tuple[float, int, int]:
    """Mean, min and max serialised size of a message (with a 24-character messageId)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    sizes = [
        len(orjson.dumps(message(rng, now)).replace(MARKER.encode(), b"x" * 24))
        for _ in range(count)
    ]
    return sum(sizes) / len(sizes), min(sizes), max(sizes)


def append_copies(engine: Any, count: int, *, happened_now: bool = False) -> tuple[int, int]:
    """Appends copies of the `count` latest stored events with new messageIds, received now
    (and, with `happened_now`, happened now too, a microsecond apart: today's traffic);
    returns the range of ids they follow and end at."""
    from sqlalchemy import func, select

    from omnicx.collect.stream import StampedRow, append
    from omnicx.collect.tables import events
    from omnicx.store.clock import utc_now

    with engine.begin() as connection:
        head = int(connection.execute(select(func.max(events.c.id))).scalar() or 0)
        rows = connection.execute(
            select(events).where(events.c.id <= head).order_by(events.c.id.desc()).limit(count)
        ).all()
        now = utc_now()
        copies = [
            StampedRow(
                r.source_id, r.channel, f"bench-{head}-{n}", r.type, r.event, r.user_id,
                r.anonymous_id, now + timedelta(microseconds=n) if happened_now else r.timestamp,
                now, r.payload.replace(r.message_id, f"bench-{head}-{n}", 1),
            )
            for n, r in enumerate(reversed(rows))
        ]  # fmt: skip
        append(connection, copies)
    return head, head + len(copies)
