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

import events as sample_events
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


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def freshness(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Seconds from a 200 on /v1/identify to the profile API finding the new e-mail, while wrk
    keeps `--freshness-connections` connections posting batches of 100 to the same server."""
    import base64
    import statistics

    import httpx

    if name == "sqlite":
        db = workdir / "freshness.db"
        url = f"sqlite:///{db}"
    else:
        recreate_pg_database(args.pg_admin_url, "omnicx_freshness")
        url = pg_url(args.pg_admin_url, "omnicx_freshness")
    key = _omnicx("sources", "add", "web", "--channel", "web", "--db", url).stdout.split()[-1]
    token = _omnicx("tokens", "create", "--role", "admin", "--db", url).stdout.split()[-1]
    templates = workdir / f"freshness-{name}.txt"
    templates.write_text("\n".join(sample_events.batch_templates(50, 100)) + "\n")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (workdir / f"freshness-{name}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "omnicx", "serve", "--db", url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    latencies: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(300):
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            paced = _PacedLoad(base, basic, templates, args.freshness_rate, name)
            load = (
                None
                if args.freshness_rate
                else subprocess.Popen(
                    [
                        "wrk",
                        "-t",
                        "1",
                        "-c",
                        str(args.freshness_connections),
                        "-d",
                        f"{args.freshness_seconds}s",
                        "--timeout",
                        "60s",
                        "-s",
                        str(ROOT / "bench" / "post.lua"),
                        f"{base}/v1/batch",
                        "--",
                        str(templates),
                        f"fresh-{name}",
                        "/v1/batch",
                        basic,
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            if args.freshness_rate:
                paced.start(args.freshness_seconds)
            time.sleep(2)  # let the load settle
            ends = time.monotonic() + args.freshness_seconds - 4
            n = 0
            while time.monotonic() < ends:
                n += 1
                email = f"fresh-{n}@bench.example"
                answer = client.post(
                    f"{base}/v1/identify",
                    json={"userId": f"fresh-{n}", "traits": {"email": email}},
                    headers={"Authorization": basic},
                )
                answer.raise_for_status()
                acknowledged = time.perf_counter()
                while True:
                    found = client.get(
                        f"{base}/api/profiles/lookup",
                        params={"type": "email", "value": email},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if found.status_code == 200:
                        latencies.append(time.perf_counter() - acknowledged)
                        break
                    if time.perf_counter() - acknowledged > 60:
                        latencies.append(float("inf"))
                        break
                    time.sleep(0.01)
                time.sleep(0.2)
            if load is not None:
                out, _ = load.communicate(timeout=args.freshness_seconds + 120)
            else:
                out = paced.finish()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    wrk_line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    load_figures = json.loads(wrk_line[len("WRK_JSON ") :]) if wrk_line else {}
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    requests = load_figures.get("requests", 0)
    return {
        "backend": name,
        "load": f"paced at {args.freshness_rate:,} events/s" if args.freshness_rate else "wrk",
        "connections": 1 if args.freshness_rate else args.freshness_connections,
        "background_events_per_second": round(requests * 100 / args.freshness_seconds),
        "probes": len(latencies),
        "p50_s": pct(0.5),
        "p95_s": pct(0.95),
        "p99_s": pct(0.99),
        "max_s": round(ordered[-1], 3),
        "mean_s": round(statistics.fmean(ordered), 3),
    }


class _PacedLoad:
    """Batches of 100 posted at a steady rate from a thread (wrk cannot hold a rate): the
    freshness a deployment sees at a load its processing keeps up with. `finish` returns
    a line in wrk's WRK_JSON form."""

    def __init__(self, base: str, auth: str, templates: Path, rate: int, run: str) -> None:
        import threading

        self._base, self._auth, self._rate, self._run = base, auth, rate, run
        self._bodies = templates.read_text().splitlines()
        self._thread = threading.Thread(target=self._post, daemon=True)
        self._seconds = 0.0
        self.sent = 0
        self.late = 0

    def start(self, seconds: float) -> None:
        self._seconds = seconds
        self._thread.start()

    def _post(self) -> None:
        import httpx

        interval = 100 / self._rate
        started = time.monotonic()
        with httpx.Client(timeout=60) as client:
            n = 0
            while (due := started + n * interval) < started + self._seconds:
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                else:
                    self.late += 1
                unique = sample_events.with_message_ids(
                    self._bodies[n % len(self._bodies)], f"{self._run}-{n}"
                )
                response = client.post(
                    f"{self._base}/v1/batch",
                    content=unique,
                    headers={"Authorization": self._auth, "Content-Type": "application/json"},
                )
                response.raise_for_status()
                self.sent += 1
                n += 1

    def finish(self) -> str:
        self._thread.join(self._seconds + 120)
        return "WRK_JSON " + json.dumps({"requests": self.sent, "late": self.late})


def print_report(results: list[dict[str, Any]]) -> None:
    for result in results:
        if "probes" in result:
            print(
                f"\n## freshness on {result['backend']}: {result['probes']} probes under "
                f"{result['background_events_per_second']:,} events/s of batches "
                f"({result['load']}, {result['connections']} connections): "
                f"p50 {result['p50_s']} s, "
                f"p95 {result['p95_s']} s, p99 {result['p99_s']} s, max {result['max_s']} s"
            )
            continue
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
    parser.add_argument("--skip-replay", action="store_true", help="only --freshness")
    parser.add_argument("--freshness", action="store_true", help="measure 2xx-to-profile time")
    parser.add_argument("--freshness-seconds", type=int, default=30)
    parser.add_argument("--freshness-connections", type=int, default=8)
    parser.add_argument(
        "--freshness-rate",
        type=int,
        default=0,
        help="post batches at this many events/s from one connection instead of wrk's full load",
    )
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        print(json.dumps(replay(args.replay)))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="omnicx-resolution-") as tmp:
        results = (
            [] if args.skip_replay else [run_backend(name, args, Path(tmp)) for name in backends]
        )
        if args.freshness:
            results += [freshness(name, args, Path(tmp)) for name in backends]
    print_report(results)
    out = ROOT / "bench" / "results" / f"resolution-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nfull report: {out}")


if __name__ == "__main__":
    main()
