"""A generated event lake for the journey-analytics benchmark (bench/analytics.py).

Customers of a retailer over six channels and 180 days, written through the real lake
writer (`writer.append_events` in chunks, `append_people`, `compact`), vectorised with numpy:

- a skewed number of sessions per customer (lognormal activity, acquisition spread over the
  window, a lifetime after which most customers go quiet);
- shopping sessions: page or screen views, then Product Viewed → Product Added → Checkout
  Started → Order Completed with drop-off, each step possibly on another channel (viewed on
  the web, added in the app, bought in store), sometimes days after the previous step;
- browsing sessions (pages only), e-mail touches (Email Delivered, passive; Email Opened;
  Email Link Clicked) and SMS touches (SMS Delivered, passive; SMS Link Clicked);
- revenue on orders; app and POS events received late (out of order in the lake);
- a fifth of the customers browse the web under an anonymous identifier first, merged later:
  both anchors belong to the same profile in the people file.

The lake is cached: a directory whose manifest records the same parameters is reused.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnicx.analytics import writer
from omnicx.analytics.layout import EVENT_SCHEMA, read_manifest, write_manifest

GENERATOR_VERSION = 4
CHANNELS = ("web", "ios", "android", "store_pos", "email", "sms")
SOURCES = ("website", "ios-app", "android-app", "pos-export", "email-esp", "sms-gateway")
WEB, IOS, ANDROID, STORE, EMAIL, SMS = range(6)
DAYS = 180
START = datetime(2025, 1, 1)
CHUNK_ROWS = 500_000

# Slots: what an event of a session is, in the order they happen within a session.
SLOT_EVENTS = (
    None,  # a page (web) or screen (apps) view: its name comes from PAGE_NAMES
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Email Delivered",
    "Email Opened",
    "Email Link Clicked",
    "SMS Delivered",
    "SMS Link Clicked",
)
PAGE, VIEWED, ADDED, CHECKOUT, ORDER, E_DELIVERED, E_OPENED, E_CLICKED, S_DELIVERED, S_CLICKED = (
    range(10)
)
PASSIVE_SLOTS = (E_DELIVERED, S_DELIVERED)
PAGE_NAMES = ("Home", "Category", "Product", "Search", "Cart")
CATEGORIES = ("shoes", "shirts", "trousers", "bags", "accessories", "outerwear")
FUNNEL_STEPS = tuple(SLOT_EVENTS[s] for s in (VIEWED, ADDED, CHECKOUT, ORDER))


@dataclass(frozen=True)
class Spec:
    """What to generate."""

    customers: int = 1_000_000
    events: int = 10_000_000
    seed: int = 7
    two_anchor_share: float = 0.2

    def key(self) -> dict[str, object]:
        """The parameters a cached lake must match."""
        return {
            "generator": GENERATOR_VERSION,
            "customers": self.customers,
            "events": self.events,
            "seed": self.seed,
            "two_anchor_share": self.two_anchor_share,
        }


def ensure_lake(lake_dir: Path, spec: Spec, *, log: bool = True) -> tuple[Path, float | None]:
    """The lake at `lake_dir`, generated unless a lake of the same spec is there already;
    with the seconds generation took (None: reused)."""
    try:
        manifest = read_manifest(lake_dir) if (lake_dir / "_manifest.json").exists() else None
    except ValueError:  # a lake of an older format: written again
        manifest = None
    if manifest is not None and manifest.extra.get("bench") == spec.key():
        if log:
            print(f"reusing the lake in {lake_dir} ({manifest.rows():,} events)")
        return lake_dir, None
    if lake_dir.exists():
        shutil.rmtree(lake_dir)
    started = time.perf_counter()
    generate(lake_dir, spec, log=log)
    return lake_dir, time.perf_counter() - started


# --------------------------------------------------------------------------- sessions


def _customers(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    start = np.floor(DAYS * rng.random(count) ** 1.3).astype(np.int64)
    loyal = rng.random(count) < 0.2
    lifetime = np.where(loyal, 10_000, rng.exponential(60.0, count)).astype(np.int64)
    span = np.minimum(lifetime, DAYS - 1 - start)
    activity = rng.lognormal(0.0, 1.3, count) * (span + 1) / DAYS
    return {"start": start, "span": span, "weight": activity / activity.sum()}


def _sessions(
    rng: np.random.Generator, people: np.ndarray, first: bool, customers: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Sessions of `people` (one each): per session its person, start and event counts."""
    n = len(people)
    start, span = customers["start"][people], customers["span"][people]
    if first:
        day = start
        kind = np.zeros(n, np.int8)  # shopping
    else:
        day = start + np.floor(rng.random(n) ** 1.5 * (span + 1)).astype(np.int64)
        kind = rng.choice(4, n, p=[0.5, 0.15, 0.25, 0.10]).astype(np.int8)
    hour = np.clip(rng.normal(14.0, 4.0, n), 0.0, 23.99)
    begin = (day * 86_400 + hour * 3_600).astype(np.int64) * 1_000_000
    begin += rng.integers(0, 1_000_000, n)
    shop, browse, email, sms = (kind == k for k in range(4))
    c0 = rng.choice(4, n, p=[0.45, 0.2, 0.2, 0.15]).astype(np.int8)  # web, ios, android, store
    c0[browse] = rng.choice(3, int(browse.sum()), p=[0.6, 0.2, 0.2])
    counts = np.zeros((n, len(SLOT_EVENTS)), np.int32)
    online = c0 != STORE
    counts[:, PAGE] = np.where(shop & online, rng.geometric(0.6, n), 0)
    counts[:, PAGE] += np.where(browse, rng.geometric(0.35, n), 0)
    counts[:, VIEWED] = np.where(shop, rng.geometric(0.45, n), 0)
    added = shop & (rng.random(n) < 0.35)
    checkout = added & (rng.random(n) < 0.55)
    order = checkout & (rng.random(n) < 0.7)
    counts[:, ADDED], counts[:, CHECKOUT], counts[:, ORDER] = added, checkout, order
    opened = email & (rng.random(n) < 0.3)
    counts[:, E_DELIVERED], counts[:, E_OPENED] = email, opened
    counts[:, E_CLICKED] = opened & (rng.random(n) < 0.35)
    counts[:, S_DELIVERED], counts[:, S_CLICKED] = sms, sms & (rng.random(n) < 0.12)
    # The channel of each funnel step: the session's, or the customer moved on.
    steps = np.empty((n, 4), np.int8)
    steps[:, 0] = c0
    moved = rng.random(n) < 0.2
    steps[:, 1] = np.where(moved, rng.choice(3, n, p=[0.4, 0.3, 0.3]), c0)
    steps[:, 2] = np.where(rng.random(n) < 0.1, rng.choice(3, n), steps[:, 1])
    steps[:, 3] = np.where(rng.random(n) < 0.2, STORE, steps[:, 2])
    return {"person": people, "begin": begin, "counts": counts, "steps": steps}


def _events(rng: np.random.Generator, sessions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sessions' events (flat arrays), times within a session rising."""
    counts = sessions["counts"]
    per_session = counts.sum(axis=1)
    index = np.repeat(np.arange(len(per_session)), per_session)
    offsets = np.cumsum(per_session) - per_session
    position = np.arange(len(index)) - offsets[index]
    bounds = np.cumsum(counts, axis=1)[index]
    slot = (position[:, None] >= bounds[:, :-1]).sum(axis=1).astype(np.int8)
    n = len(index)
    steps = sessions["steps"][index]
    step_of_slot = np.clip(slot.astype(np.int64) - VIEWED, 0, 3)
    channel = steps[np.arange(n), step_of_slot]
    channel = np.where(np.isin(slot, (E_DELIVERED, E_OPENED, E_CLICKED)), EMAIL, channel)
    channel = np.where(np.isin(slot, (S_DELIVERED, S_CLICKED)), SMS, channel).astype(np.int8)
    gap = rng.exponential(60e6, n)
    later = np.isin(slot, (ADDED, CHECKOUT, ORDER)) & (rng.random(n) < 0.15)
    gap = np.where(later, gap + rng.exponential(1.5 * 86_400e6, n), gap)
    gap = np.where(slot == E_OPENED, rng.exponential(3 * 3_600e6, n), gap)
    gap = np.where(slot == S_CLICKED, rng.exponential(600e6, n), gap)
    gap = gap.astype(np.int64)
    gap[offsets] = 0
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[offsets][index]
    ts = sessions["begin"][index] + elapsed
    delay = rng.integers(200_000, 2_000_000, n)
    offline = np.isin(channel, (IOS, ANDROID)) & (rng.random(n) < 0.1)
    delay = np.where(offline, rng.exponential(2 * 3_600e6, n).astype(np.int64), delay)
    delay = np.where(channel == STORE, rng.exponential(6 * 3_600e6, n).astype(np.int64), delay)
    inside = ts < DAYS * 86_400_000_000  # what would happen after the last day does not
    return {
        "person": sessions["person"][index][inside],
        "slot": slot[inside],
        "channel": channel[inside],
        "ts": ts[inside],
        "received": (ts + delay)[inside],
    }


def simulate(spec: Spec) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Exactly `spec.events` events (numpy columns) and the customers they belong to."""
    rng = np.random.default_rng(spec.seed)
    customers = _customers(rng, spec.customers)
    parts = [_events(rng, _sessions(rng, np.arange(spec.customers), True, customers))]
    have = len(parts[0]["ts"])
    while have < spec.events:
        mean = max(have / max(spec.customers, 1), 1.0)
        extra = int((spec.events - have) / mean * 1.15) + 1_000
        people = rng.choice(spec.customers, extra, p=customers["weight"])
        parts.append(_events(rng, _sessions(rng, people, False, customers)))
        have += len(parts[-1]["ts"])
    events = {k: np.concatenate([p[k] for p in parts])[: spec.events] for k in parts[0]}
    return events, customers


# --------------------------------------------------------------------------- writing


def _hex_ids(rng: np.random.Generator, count: int, dashed: bool) -> pa.Array:
    table = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")
    raw = rng.integers(0, 256, (count, 16), dtype=np.uint8)
    if dashed:  # a version-4 UUID's text
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = table[raw].view("S32").ravel()
    if not dashed:
        return pa.array(text, pa.binary()).cast(pa.string())
    parts = [
        text.view("S1").reshape(count, 32)[:, a:b].copy().view(f"S{b - a}").ravel()
        for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))
    ]
    arrays = [pa.array(p, pa.binary()).cast(pa.string()) for p in parts]
    return pc.binary_join_element_wise(*arrays, "-")


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _chunk(
    rng: np.random.Generator,
    events: dict[str, np.ndarray],
    rows: np.ndarray,
    first_id: int,
    anchors: np.ndarray,
) -> pa.Table:
    n = len(rows)
    slot = events["slot"][rows]
    channel = events["channel"][rows]
    start_us = int((START - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    ts = pa.array(events["ts"][rows] + start_us, pa.int64()).cast(pa.timestamp("us"))
    received = pa.array(events["received"][rows] + start_us, pa.int64()).cast(pa.timestamp("us"))
    app = np.isin(channel, (IOS, ANDROID))
    page_name = rng.integers(0, len(PAGE_NAMES), n)
    names = np.array([*SLOT_EVENTS[1:], *PAGE_NAMES], dtype=object)
    name = np.where(slot == PAGE, len(SLOT_EVENTS) - 1 + page_name, slot - 1)
    kinds = np.array(["track", "page", "screen"], dtype=object)
    kind = np.where(slot == PAGE, np.where(app, 2, 1), 0)
    order = slot == ORDER
    revenue = np.round(rng.lognormal(4.2, 0.6, n), 2)
    product = rng.integers(1, 5_000, n)
    price = np.round(rng.lognormal(3.3, 0.5, n), 2)
    category = np.array(CATEGORIES, dtype=object)[product % len(CATEGORIES)]
    ids = pa.array(np.arange(first_id, first_id + n), pa.int64())
    product_json = pc.binary_join_element_wise(
        '{"product_id":"P',
        _strings(product),
        '","price":',
        _strings(price),
        ',"category":"',
        pa.array(category, pa.string()),
        '"}',
        "",
    )
    order_json = pc.binary_join_element_wise(
        '{"order_id":"O',
        ids.cast(pa.string()),
        '","total":',
        _strings(revenue),
        ',"currency":"EUR"}',
        "",
    )
    page_json = pa.array(
        np.array([f'{{"path":"/{p.lower()}"}}' for p in PAGE_NAMES], dtype=object)[page_name],
        pa.string(),
    )
    campaign_json = pc.binary_join_element_wise(
        '{"campaign_id":"C', _strings(events["ts"][rows] // 604_800_000_000), '"}', ""
    )
    is_product = np.isin(slot, (VIEWED, ADDED, CHECKOUT))
    properties = pc.case_when(
        pc.make_struct(
            pa.array(is_product), pa.array(order), pa.array(slot == PAGE), pa.array(slot >= 5)
        ),
        product_json,
        order_json,
        page_json,
        campaign_json,
    )
    return pa.table(
        {
            "event_id": ids,
            "message_id": _hex_ids(rng, n, dashed=True),
            "anchor": pa.array(anchors, pa.int64()),
            "source": pa.array(np.array(SOURCES, dtype=object)[channel], pa.string()),
            "channel": pa.array(np.array(CHANNELS, dtype=object)[channel], pa.string()),
            "type": pa.array(kinds[kind], pa.string()),
            "event": pa.array(names[name], pa.string()),
            "ts": ts,
            "received_at": received,
            "active": pa.array(~np.isin(slot, PASSIVE_SLOTS)),
            "revenue": pa.array(np.where(order, revenue, np.nan), pa.float64(), mask=~order),
            "currency": pa.array(np.where(order, "EUR", None), pa.string()),
            "properties": properties,
            "traits": pa.nulls(n, pa.string()),
        },
        schema=EVENT_SCHEMA,
    )


def generate(lake_dir: Path, spec: Spec, *, log: bool = True) -> None:
    """Writes the lake of `spec` at `lake_dir` through the real lake writer."""
    started = time.perf_counter()
    events, customers = simulate(spec)
    rng = np.random.default_rng(spec.seed + 1)
    count = len(events["ts"])
    # Anchors: identifier ids. Some customers browsed the web anonymously until a merge.
    person = events["person"]
    two = rng.random(spec.customers) < spec.two_anchor_share
    anonymous = np.full(spec.customers, -1, np.int64)
    anonymous[two] = spec.customers + 1 + np.arange(int(two.sum()))
    life_us = (customers["span"] + 1) * 86_400_000_000
    merged_at = customers["start"] * 86_400_000_000 + (rng.random(spec.customers) * life_us)
    before = two[person] & (events["channel"] == WEB) & (events["ts"] < merged_at[person])
    anchor = np.where(before, anonymous[person], person + 1)
    order = np.argsort(events["received"], kind="stable")
    if log:
        print(f"simulated {count:,} events in {time.perf_counter() - started:.1f} s")
    manifest = read_manifest(lake_dir)
    for offset in range(0, count, CHUNK_ROWS):
        rows = order[offset : offset + CHUNK_ROWS]
        table = _chunk(rng, events, rows, offset + 1, anchor[rows])
        manifest = writer.append_events(lake_dir, manifest, table)
    if log:
        print(
            f"appended {len(manifest.event_files)} files in {time.perf_counter() - started:.1f} s"
        )
    # The anonymous identifiers had profiles of their own until the merge moved them.
    profiles = _hex_ids(rng, spec.customers, dashed=True).to_pylist()
    strangers = _hex_ids(rng, int(two.sum()), dashed=True).to_pylist()
    owners: dict[int, str | None] = dict(zip(range(1, spec.customers + 1), profiles, strict=True))
    merged = [int(a) for a in anonymous[two]]
    owners.update(zip(merged, strangers, strict=True))
    manifest = writer.append_people(lake_dir, manifest, owners)
    moved = {a: profiles[c] for a, c in zip(merged, np.flatnonzero(two).tolist(), strict=True)}
    manifest = writer.append_people(lake_dir, manifest, moved)
    manifest = writer.compact(lake_dir, manifest, days=set(manifest.days()))
    manifest = replace(manifest, garbage=(), extra={"bench": spec.key()})
    write_manifest(lake_dir, manifest)
    kept = set(manifest.files())
    for path in [*lake_dir.glob("events/*/*.parquet"), *lake_dir.glob("people/*.parquet")]:
        if str(path.relative_to(lake_dir)) not in kept:
            path.unlink()
    if log:
        print(
            f"wrote the lake in {time.perf_counter() - started:.1f} s: {manifest.rows():,} events,"
            f" {len(manifest.event_files)} files, {len(owners):,} anchors in {lake_dir}"
        )


def day_range() -> tuple[date, date]:
    """The first and last day of the generated lake."""
    first = START.date()
    return first, date.fromordinal(first.toordinal() + DAYS - 1)
