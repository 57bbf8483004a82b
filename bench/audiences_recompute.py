"""Batch recompute benchmark: `omnicx segments recompute` of 100 segments over the demo, with
the bulk path (Arrow export + DuckDB) and with the Python evaluator, on the same database.

Prints figures, never asserts them; not part of the test suite. See docs/performance.md.

    .venv/bin/python bench/audiences_recompute.py [--customers 5000] [--db URL] [--python]
        [--profile fast|python]

1. The demo retailer (`omnicx demo --customers N`) in a SQLite file cached in /tmp (shared with
   bench/audiences.py) or in the PostgreSQL database `--db` (loaded when it has no events yet),
   fully processed.
2. The 100 segments and 3 scoring models of bench/audiences_segments.py, defined and brought
   live once (kept when the database already has them ready).
3. `recompute` with the bulk path (the default), timed per stage; with `--python`, again with
   the Python evaluator (`bulk=False`), and the two answers compared segment by segment.
   Profiles/s and the time 1,000,000 customers would take at that rate (with as many profiles
   per customer as the demo has: ~1.5) are printed, with each time multiplied by the CPU baseline
   (bench/intake.py's fixed Python loop, M iterations/s: `s·cpu`, comparable across machines).
4. `--profile fast|python` runs that path under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import Engine, func, select

import audiences_segments
from audiences import catch_up, define_segments, demo_database, say
from intake import cpu_baseline
from omnicx.audiences.consumer import SegmentMembership
from omnicx.audiences.recompute import Report, recompute
from omnicx.audiences.segments import all_segments
from omnicx.audiences.tables import audience_hits, audience_members
from omnicx.collect.tables import events
from omnicx.identity import service as identity
from omnicx.pipeline import stream_consumers
from omnicx.store.clock import utc_now
from omnicx.store.engine import make_engine
from omnicx.store.migrate import upgrade


def ready(engine: Engine) -> bool:
    """Whether the benchmark's segments are defined and live already."""
    wanted = set(audiences_segments.segments())
    with engine.connect() as connection:
        found = {s.key for s in all_segments(connection) if s.ready}
    return found == wanted


def timed(engine: Engine, *, bulk: bool, profile: bool) -> tuple[Report, float, str]:
    """One recompute (compare only); its report, seconds and cProfile's top lines."""
    profiler = cProfile.Profile() if profile else None
    with engine.connect() as connection:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = recompute(connection, now=utc_now(), bulk=bulk)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
    text = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        text = out.getvalue()
    return report, seconds, text


def figures_of(report: Report, seconds: float, cpu: float, customers: int) -> dict[str, Any]:
    """Times, rates and the linear projection to 1,000,000 customers (with as many profiles
    per customer as this demo has)."""
    rate = report.profiles / seconds
    per_million = 1_000_000 * report.profiles / customers / rate
    return {
        "seconds": round(seconds, 2),
        "stages_s": {k: round(v, 2) for k, v in report.seconds.items()},
        "s_cpu": round(seconds * cpu, 1),
        "profiles_per_s": round(rate),
        "projected_1m_customers_s": round(per_million, 1),
        "projected_1m_customers_s_cpu": round(per_million * cpu, 1),
        "members_total": sum(report.members.values()),
        "live_equals_batch": report.agrees,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a cached SQLite file)")
    parser.add_argument("--python", action="store_true", help="time the Python path too")
    parser.add_argument("--profile", choices=["fast", "python"], help="cProfile one path")
    parser.add_argument("--repeat", type=int, default=1, help="bulk runs (best is kept)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    probe_before = cpu_baseline()
    say(f"CPU baseline: {probe_before} M loop iterations/s")
    if args.db is not None and _loaded(args.db):
        url = args.db  # the demo is there already (from an earlier run of this benchmark)
    else:
        url = demo_database(args.customers, args.seed, args.db)
    engine = make_engine(url)
    upgrade(engine)
    consumer = SegmentMembership()
    catch_up(engine, [*_others(), consumer])
    if not ready(engine):
        define_s = define_segments(engine, consumer)
        say(f"100 segments defined and evaluated in {define_s:.1f} s")
    with engine.begin() as connection:
        consumer.idle(connection)  # timers that came due meanwhile: live is up to date
    with engine.connect() as connection:
        profiles = identity.summary(connection)["profiles"]
        hits = int(connection.execute(select(func.count()).select_from(audience_hits)).scalar_one())
        members = int(
            connection.execute(select(func.count()).select_from(audience_members)).scalar_one()
        )
    say(f"{profiles:,} profiles, {hits:,} hits, {members:,} memberships")

    figures: dict[str, Any] = {
        "database": engine.url.render_as_string(hide_password=True),
        "customers": args.customers,
        "profiles": profiles,
        "hits": hits,
        "memberships": members,
        "segments": 100,
    }
    bulk_runs = []
    for _ in range(max(1, args.repeat)):
        report, seconds, text = timed(engine, bulk=True, profile=args.profile == "fast")
        bulk_runs.append(seconds)
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items())
        say(f"bulk: {seconds:.2f} s ({report.profiles / seconds:,.0f} profiles/s; {stages})")
        if text:
            print(text, file=sys.stderr)
    fast = report
    figures["bulk"] = figures_of(fast, min(bulk_runs), probe_before, args.customers)
    figures["bulk"]["runs_s"] = [round(s, 2) for s in bulk_runs]
    if args.python or args.profile == "python":
        slow, seconds, text = timed(engine, bulk=False, profile=args.profile == "python")
        say(f"python: {seconds:.2f} s ({slow.profiles / seconds:,.0f} profiles/s)")
        if text:
            print(text, file=sys.stderr)
        figures["python"] = figures_of(slow, seconds, probe_before, args.customers)
        figures["bulk_equals_python"] = (
            fast.members == slow.members
            and fast.live == slow.live
            and fast.entered == slow.entered
            and fast.exited == slow.exited
            and fast.profiles == slow.profiles
        )
        figures["speedup"] = round(seconds / min(bulk_runs), 1)
    probe_after = cpu_baseline()
    figures["cpu_baseline"] = {"before": probe_before, "after": probe_after}
    figures["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _loaded(url: str) -> bool:
    """Whether the database holds events already."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(events)).scalar_one() > 0
    finally:
        engine.dispose()


def _others() -> list[Any]:
    return [c for c in stream_consumers() if not isinstance(c, SegmentMembership)]


if __name__ == "__main__":
    main()
