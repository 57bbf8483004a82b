"""The lake consumer's own rate on today's traffic, through a real SQLite database.

`bench/analytics.py` times the lake writer on events in memory and the consumer catching up
on the demo's six months (a file per day in every batch). Live traffic is one day: this
appends N copies of a processed demo's latest events stamped now (new message ids), lets
identity resolution take them (the lake follows it), then times the lake consumer alone,
in its batches, as the processing stage runs it. Compare with `bench/intake.py`'s batch rate
on the same machine.

    .venv/bin/python bench/lake_live.py --events 200000 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from events import append_copies
from intake import cpu_baseline

ROOT = Path(__file__).resolve().parent.parent


def processed_demo(customers: int) -> Path:
    """A processed demo database (kept in /tmp between runs), and its lake beside it."""
    path = Path(tempfile.gettempdir()) / f"omnicx-bench-lake-live-{customers}.db"
    if not path.exists():
        print(f"loading the demo retailer with {customers:,} customers ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "omnicx", "demo", "--customers", str(customers),
             "--db", f"sqlite:///{path}", "--output", f"{path}.demo-output"],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return path


def run_once(demo: Path, demo_lake: Path, events_wanted: int) -> dict[str, float]:
    from omnicx.analytics.consumer import LakeWriter
    from omnicx.collect.processing import process_once
    from omnicx.identity.consumer import IdentityResolution
    from omnicx.store.engine import make_engine, wal_kept

    work = Path(tempfile.mkdtemp(prefix="omnicx-bench-lake-live-"))
    try:
        database = work / "live.db"
        shutil.copy(demo, database)
        lake_dir = work / "lake"
        shutil.copytree(demo_lake, lake_dir)
        os.environ["OMNICX_LAKE_DIR"] = str(lake_dir)
        engine = make_engine(f"sqlite:///{database}", keep_connections=True)
        append_copies(engine, events_wanted, happened_now=True)
        while process_once(engine, IdentityResolution(), batch_size=2000):
            pass
        lake = LakeWriter(lake_dir)
        done = 0
        with wal_kept(engine):
            started, cpu = time.perf_counter(), time.process_time()
            while handled := process_once(engine, lake, batch_size=LakeWriter.batch_size):
                done += handled
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        engine.dispose()
        return {"events": done, "seconds": wall, "events_per_s": done / wall, "cpu_s": cpu}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from omnicx.analytics.location import resolve_lake_dir

    demo = processed_demo(args.customers)
    os.environ.pop("OMNICX_LAKE_DIR", None)
    demo_lake = resolve_lake_dir(f"sqlite:///{demo}")
    probe = cpu_baseline()
    print(f"CPU baseline: {probe} M loop iterations/s", file=sys.stderr)
    for _ in range(args.repeat):
        run = run_once(demo, demo_lake, args.events)
        print(
            f"lake consumer, today's traffic: {run['events']:,} events in {run['seconds']:.2f} s"
            f" = {run['events_per_s']:,.0f} events/s ({run['cpu_s']:.2f} s CPU)"
        )
    print(f"CPU baseline after: {cpu_baseline()} M loop iterations/s", file=sys.stderr)


if __name__ == "__main__":
    main()
