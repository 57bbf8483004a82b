"""Audiences benchmark: live segment membership per processed event, and a batch recompute.

Prints figures, never asserts them; not part of the test suite. See docs/performance.md.

    .venv/bin/python bench/audiences.py [--customers 2000] [--events 4000] [--db URL]

1. The demo retailer (`omnicx demo --customers N`) in a SQLite file (cached in /tmp by size
   and seed) or in the PostgreSQL database `--db`, fully processed.
2. 100 segments like a marketing team's and 3 lead scoring models
   (bench/audiences_segments.py): windows, counts, channels, property filters, traits,
   computed traits, identities, consent, nesting and segments of segments; points with caps
   and decay. Defining them evaluates and scores everyone once (the consumer's `prepare`).
3. Live: `--events` new events (copies of the demo's, new messageIds) appended to the stream
   and taken through identity and profiles; then the membership consumer alone processes them,
   once one event per batch (the added latency of each event: p50 / p99 / max) and once in
   batches of 2,000 (events/s, to compare with the intake rate), each from the same start.
4. Batch: `recompute` of all 100 segments over every profile: profiles/s, the time it would
   take for 1,000,000 customers at that rate, and whether live and batch members agree.

A CPU baseline (bench/intake.py's fixed Python loop, M iterations/s) is taken before and
after; every time is also printed multiplied by it (`s·cpu`: comparable across machines).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import Engine, delete, update

import audiences_segments
from events import append_copies
from intake import cpu_baseline
from omnicx.audiences import scoring_store
from omnicx.audiences import segments as store
from omnicx.audiences.consumer import CONSUMER_NAME, EVENTS, SegmentMembership, _set_positions
from omnicx.audiences.recompute import recompute
from omnicx.audiences.tables import audience_members, audience_scoring_models, audience_segments
from omnicx.collect.processing import process_available, process_once
from omnicx.collect.tables import checkpoints
from omnicx.identity import service as identity
from omnicx.pipeline import stream_consumers
from omnicx.store.clock import utc_now
from omnicx.store.engine import make_engine, wal_kept
from omnicx.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def demo_database(customers: int, seed: int, url: str | None) -> str:
    """The URL of a database holding the processed demo (built once per size for SQLite)."""
    if url is None:
        path = Path(f"/tmp/omnicx-bench-audiences-{customers}-{seed}.db")  # noqa: S108
        url = f"sqlite:///{path}"
        if path.exists():
            return url
    say(f"loading the demo retailer with {customers:,} customers into {url} ...")
    subprocess.run(
        [sys.executable, "-m", "omnicx", "demo", "--customers", str(customers), "--seed",
         str(seed), "--db", url, "--output", f"/tmp/omnicx-bench-audiences-demo-{customers}"],  # noqa: S108
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return url


def catch_up(engine: Engine, consumers: list[Any]) -> None:
    while process_available(engine, consumers, batch_size=5000):
        pass


def define_segments(engine: Engine, consumer: SegmentMembership) -> float:
    """Stores the 100 segments and lets the consumer evaluate everyone; returns seconds."""
    with engine.begin() as connection:  # a cached database keeps the previous run's
        connection.execute(delete(audience_members))
        connection.execute(delete(audience_segments))
        for key, definition in audiences_segments.segments().items():
            store.create(
                connection, key=key, name=key, definition=definition, actor="bench",
                allow_new_traits=True,
            )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(delete(audience_scoring_models))
        for model in audiences_segments.scoring_models():
            scoring_store.save_model(connection, model, actor="bench", allow_new_traits=True)
    started = time.perf_counter()
    with engine.begin() as connection:
        consumer.idle(connection)
    return time.perf_counter() - started


def time_live(engine: Engine, consumer: SegmentMembership, start: int, batch: int) -> list[float]:
    """Runs the membership consumer from `start` in batches of `batch`; seconds per batch."""
    with engine.begin() as connection:
        connection.execute(
            update(checkpoints)
            .where(checkpoints.c.consumer == CONSUMER_NAME)
            .values(position=start)
        )
        _set_positions(connection, {EVENTS: start})
    timings: list[float] = []
    # As the processing stage holds it (wal_kept): without it, every batch's connection is
    # the last to close and SQLite checkpoints the whole WAL then, which the stage never pays.
    with wal_kept(engine):
        while True:
            started = time.perf_counter()
            handled = process_once(engine, consumer, batch_size=batch)
            if not handled:
                return timings
            timings.append((time.perf_counter() - started) / handled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--single", type=int, default=600, help="events timed one by one")
    parser.add_argument("--db", help="a PostgreSQL URL (default: a cached SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    probe_before = cpu_baseline()
    say(f"CPU baseline: {probe_before} M loop iterations/s")
    url = demo_database(args.customers, args.seed, args.db)
    engine = make_engine(url)
    upgrade(engine)
    consumer = SegmentMembership()
    others = [c for c in stream_consumers() if not isinstance(c, SegmentMembership)]
    catch_up(engine, [*others, consumer])
    define_s = define_segments(engine, consumer)
    with engine.connect() as connection:
        profiles = identity.summary(connection)["profiles"]
    say(f"100 segments defined and evaluated for {profiles:,} profiles in {define_s:.1f} s")

    start, end = append_copies(engine, args.events)
    catch_up(engine, others)
    say(f"{end - start:,} new events through identity and profiles; timing the consumer ...")
    single = time_live(engine, consumer, start, 1)[: args.single]
    batched = time_live(engine, consumer, start, 2000)
    per_event_batched = statistics.fmean(batched)
    catch_up(engine, [*others, consumer])

    started = time.perf_counter()
    with engine.connect() as connection:
        report = recompute(connection, now=utc_now())
    batch_s = time.perf_counter() - started

    # The same events without any segment: what processing them costs the consumer anyway
    # (a transaction, reading the batch, attributing it); the difference is what 100 segments add.
    with engine.begin() as connection:
        connection.execute(delete(audience_members))
        connection.execute(delete(audience_segments))
        connection.execute(delete(audience_scoring_models))
    bare = sorted(t * 1000 for t in time_live(engine, consumer, start, 1)[: args.single])
    bare_batched = statistics.fmean(time_live(engine, consumer, start, 2000))
    probe_after = cpu_baseline()

    ms = sorted(t * 1000 for t in single)
    figures = {
        "database": engine.url.render_as_string(hide_password=True),
        "customers": args.customers,
        "profiles": profiles,
        "segments": 100,
        "scoring_models": 3,
        "define_and_evaluate_all_s": round(define_s, 2),
        "live_single_event_ms": {
            "p50": round(statistics.median(ms), 3),
            "p99": round(ms[int(len(ms) * 0.99) - 1], 3),
            "max": round(ms[-1], 3),
            "events": len(ms),
        },
        "without_segments_single_event_ms": {
            "p50": round(statistics.median(bare), 3),
            "p99": round(bare[int(len(bare) * 0.99) - 1], 3),
        },
        "added_by_segments_single_event_ms": {
            "p50": round(statistics.median(ms) - statistics.median(bare), 3),
            "p99": round(ms[int(len(ms) * 0.99) - 1] - bare[int(len(bare) * 0.99) - 1], 3),
        },
        "live_batched_events_per_s": round(1 / per_event_batched),
        "added_by_segments_batched_ms_per_event": round(
            (per_event_batched - bare_batched) * 1000, 3
        ),
        "without_segments_batched_events_per_s": round(1 / bare_batched),
        "batch_recompute_s": round(batch_s, 2),
        "batch_profiles_per_s": round(report.profiles / batch_s),
        "batch_1m_customers_estimate_s": round(1_000_000 / (report.profiles / batch_s), 1),
        "live_equals_batch": report.agrees,
        "members_total": sum(report.members.values()),
        "cpu_baseline": {"before": probe_before, "after": probe_after},
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
