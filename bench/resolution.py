"""Identity resolution and profile building: throughput, rebuild cost, quality, freshness.

    .venv/bin/python bench/resolution.py --customers 5000 --backend both

For each backend it loads `omnicx demo --customers N` with the processing stage off (raw
events only, through the same API and imports as always), then in a fresh process replays
the pipeline's consumers from checkpoint 0, one consumer at a time, as a rebuild does:
events/s, CPU seconds and the process's peak memory. It scores the resolved profiles against
the demo's ground truth (bench/identity_quality.py) and, with `--freshness`, measures how long
after a 200 on `/v1/batch` the profile API shows the event, while the server takes a steady
load. Every figure is printed with the machine's CPU baseline (bench/intake.py's probe).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from identity_quality import score
from intake import cpu_baseline, pg_url, recreate_pg_database, wait_for_quiet

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _omnicx(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnicx", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def load_demo(url: str, customers: int, seed: int, output: Path) -> float:
    """Fills the database with the demo's raw events; returns the seconds it took."""
    started = time.perf_counter()
    _omnicx(
        "demo",
        "--customers",
        str(customers),
        "--seed",
        str(seed),
        "--db",
        url,
        "--output",
        str(output),
        env={"OMNICX_RUN_PROCESSING": "0"},
    )
    return time.perf_counter() - started


def replay(url: str) -> dict[str, Any]:
    """In this process: every consumer from checkpoint 0, one after the other."""
    from omnicx.collect.processing import process_available
    from omnicx.pipeline import stream_consumers
    from omnicx.store.engine import make_engine

    engine = make_engine(url)
    figures: dict[str, Any] = {}
    for consumer in stream_consumers():
        wall, cpu = time.perf_counter(), time.process_time()
        events = process_available(engine, [consumer])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        figures[consumer.name] = {
            "events": events,
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "events_per_second": round(events / wall) if wall else None,
        }
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    engine.dispose()
    return figures


def run_backend(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if name == "sqlite":
        url = f"sqlite:///{workdir / 'resolution.db'}"
    else:
        recreate_pg_database(args.pg_admin_url, "omnicx_resolution")
        url = pg_url(args.pg_admin_url, "omnicx_resolution")
    output = workdir / f"demo-{name}"
    loaded = load_demo(url, args.customers, args.seed, output)
    wait_for_quiet(args.quiet_wait)
    probe_before = cpu_baseline()
    child = subprocess.run(
        [sys.executable, __file__, "--replay", url],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    probe_after = cpu_baseline()
    quality = score(url, output / "truth.jsonl")
    return {
        "backend": name,
        "demo_seconds": round(loaded, 1),
        "replay": figures,
        "cpu_probe": [round(probe_before, 2), round(probe_after, 2)],
        "quality": quality,
    }


def print_report(results: list[dict[str, Any]]) -> None:
    for result in results:
        print(f"\n## {result['backend']}  (demo loaded in {result['demo_seconds']} s)")
        print(f"CPU probe before/after: {result['cpu_probe'][0]} / {result['cpu_probe'][1]} M/s")
        print(f"{'consumer':<26}{'events':>10}{'seconds':>10}{'cpu s':>10}{'events/s':>12}")
        for consumer, figures in result["replay"].items():
            if not isinstance(figures, dict):
                continue
            print(
                f"{consumer:<26}{figures['events']:>10,}{figures['seconds']:>10}"
                f"{figures['cpu_seconds']:>10}{figures['events_per_second'] or 0:>12,}"
            )
        print(f"peak memory of the replaying process: {result['replay']['peak_rss_mb']} MB")
        quality = result["quality"]
        print(
            "quality against the ground truth: "
            f"precision {quality['precision']:.4f}, recall {quality['recall']:.4f}, "
            f"F1 {quality['f1']:.4f} ({quality['labelled']:,} labelled events, "
            f"{quality['people']:,} people, {quality['profiles']:,} profiles)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    parser.add_argument("--quiet-wait", type=float, default=60)
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        print(json.dumps(replay(args.replay)))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="omnicx-resolution-") as tmp:
        results = [run_backend(name, args, Path(tmp)) for name in backends]
    print_report(results)
    out = ROOT / "bench" / "results" / f"resolution-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nfull report: {out}")


if __name__ == "__main__":
    main()
