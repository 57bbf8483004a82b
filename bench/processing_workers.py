"""The processing stage in one process and in several: catch-up speed and CPU.

    .venv/bin/python bench/processing_workers.py [--customers 5000] [--workers 1,2]
                                                 [--backend postgresql|sqlite] [--rounds 1]

Loads `omnicx demo --customers N` once with the processing stage off (raw events only) into
a template database, then for each worker count copies the template (`CREATE DATABASE ...
TEMPLATE` on PostgreSQL, a file copy on SQLite: every consumer at checkpoint 0, nothing
derived yet, an empty event lake) and times `omnicx worker --processes W` from its start
until every consumer's lag is 0. Prints events/s, the cores used by the worker's processes
and by PostgreSQL (its backends and helpers), what else ran on the machine, and the CPU
probe of bench/intake.py before and after each run, so figures from different moments can
be compared as ratios. Each run also checks it processed every event once (source activity
counts) and prints the profiles it resolved (the same for every worker count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake import (
    CpuMeter,
    _descendants,
    _pg_admin,
    _postgres_pids,
    cpu_baseline,
    drop_pg_database,
    pg_url,
    wait_for_quiet,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_processing_workers"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_template(args: argparse.Namespace, workdir: Path) -> str:
    """The demo's raw events in the template database (or file); returns its URL."""
    if args.backend == "postgresql":
        template = f"{DATABASE}_template"
        url = pg_url(args.pg_admin_url, template).replace("postgresql://", "postgresql+psycopg://")
        if args.keep_template and _pg_database_exists(args.pg_admin_url, template):
            _say(f"reusing the template database {template}")
            return url
        drop_pg_database(args.pg_admin_url, template)
        _pg_admin(args.pg_admin_url, f'CREATE DATABASE "{template}"')
    else:
        path = workdir / "template.db"
        url = f"sqlite:///{path}"
        if args.keep_template and path.exists():
            return url
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    _say(f"loading the demo ({args.customers:,} customers, processing off) into {url}")
    started = time.perf_counter()
    command = [sys.executable, "-m", "omnicx", "demo", "--customers", str(args.customers)]
    command += ["--seed", str(args.seed), "--db", url, "--output", str(workdir / "demo")]
    if args.until:
        command += ["--until", args.until]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        env={**os.environ, "OMNICX_RUN_PROCESSING": "0", "OMNICX_LAKE_DIR": str(workdir / "x")},
    )
    _say(f"  loaded in {time.perf_counter() - started:.0f} s")
    return url


def _pg_database_exists(admin_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def fresh_copy(args: argparse.Namespace, template_url: str, workdir: Path) -> str:
    """A copy of the template: raw events, every consumer at checkpoint 0."""
    if args.backend == "postgresql":
        drop_pg_database(args.pg_admin_url, DATABASE)
        template = f"{DATABASE}_template"
        _pg_admin(args.pg_admin_url, f'CREATE DATABASE "{DATABASE}" TEMPLATE "{template}"')
        return pg_url(args.pg_admin_url, DATABASE).replace("postgresql://", "postgresql+psycopg://")
    source = Path(template_url.removeprefix("sqlite:///"))
    target = workdir / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return f"sqlite:///{target}"


def _state(url: str) -> dict[str, Any]:
    """Events stored, each consumer's lag, events counted by source activity, profiles."""
    from sqlalchemy import func, select

    from omnicx.collect.processing import lag
    from omnicx.collect.tables import events, source_daily_counts
    from omnicx.identity import service as identity
    from omnicx.pipeline import stream_consumers
    from omnicx.store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            stored = int(connection.execute(select(func.count()).select_from(events)).scalar())
            counted = connection.execute(select(func.sum(source_daily_counts.c.events))).scalar()
            summary = identity.summary(connection)
        return {
            "events": stored,
            "lag": lag(engine, stream_consumers()),
            "counted": int(counted or 0),
            "profiles": summary["profiles"],
            "merges": summary["merges"],
        }
    finally:
        engine.dispose()


def run_workers(url: str, workers: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Times `omnicx worker --processes W` from its start until every consumer's lag is 0."""
    from omnicx.collect.processing import lag
    from omnicx.pipeline import stream_consumers
    from omnicx.store.engine import make_engine

    lake = workdir / f"lake-{workers}-{time.monotonic_ns()}"  # the lake starts empty too
    before = _state(url)
    consumers = stream_consumers()
    engine = make_engine(url)
    log = (workdir / f"worker-{workers}.log").open("wb")
    database = url.rsplit("/", 1)[1] if args.backend == "postgresql" else None
    busy_elsewhere = wait_for_quiet(args.quiet_wait)
    probe_before = cpu_baseline()
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "omnicx", "worker", "--db", url, "--processes", str(workers)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMNICX_LAKE_DIR": str(lake)},
        start_new_session=True,
    )
    groups: dict[str, Any] = {"worker": lambda: _descendants(worker.pid)}
    if database:
        groups["postgresql"] = lambda: _postgres_pids(database)
    meter = CpuMeter(groups)
    meter.start()
    first_progress: float | None = None
    caught_up: dict[str, float] = {}
    try:
        while True:
            time.sleep(0.25)
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited {worker.returncode}: see {log.name}")
            now = time.perf_counter() - started
            lags = lag(engine, consumers)
            if first_progress is None and any(v < before["events"] for v in lags.values()):
                first_progress = round(now, 2)
            for name, behind in lags.items():
                if behind == 0:
                    caught_up.setdefault(name, round(now, 2))
            if not any(lags.values()):
                break
        seconds = time.perf_counter() - started
        cores = meter.stop()
    finally:
        engine.dispose()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C: each process finishes its batch
            worker.wait(120)
        log.close()
    probe_after = cpu_baseline()
    after = _state(url)
    assert after["counted"] == after["events"], after  # every event counted once
    shutil.rmtree(lake, ignore_errors=True)
    events = after["events"]
    working = seconds - (first_progress or 0.0)
    return {
        "workers": workers,
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
        "first_progress_seconds": first_progress,
        "events_per_second_after_start": round(events / working) if working > 0 else None,
        "caught_up_at": caught_up,
        "cores": cores,
        "cpu_seconds": {k: round(v * seconds, 1) for k, v in cores.items()},
        "cpu_probe": [probe_before, probe_after],
        "busy_elsewhere_before": busy_elsewhere,
        "profiles": after["profiles"],
        "merges": after["merges"],
    }


def print_table(runs: list[dict[str, Any]]) -> None:
    """One line per run: events/s (also per M loops/s of the CPU probe), cores used by the
    worker's processes, PostgreSQL and the rest of the machine, CPU µs per event."""
    print()
    print(
        f"{'workers':>7} {'events':>8} {'seconds':>7} {'events/s':>8} {'/Mprobe':>7} "
        f"{'worker cores':>12} {'pg cores':>8} {'other':>5} {'worker µs/ev':>12} "
        f"{'pg µs/ev':>8} {'probe M/s':>9} {'profiles':>8}"
    )
    for run in runs:
        probe = sum(run["cpu_probe"]) / 2
        cores, cpu = run["cores"], run["cpu_seconds"]
        print(
            f"{run['workers']:>7} {run['events']:>8,} {run['seconds']:>7.1f} "
            f"{run['events_per_second']:>8,} {run['events_per_second'] / probe:>7,.0f} "
            f"{cores['worker']:>12.2f} {cores.get('postgresql', 0.0):>8.2f} "
            f"{cores['other']:>5.2f} {cpu['worker'] / run['events'] * 1e6:>12.0f} "
            f"{cpu.get('postgresql', 0.0) / run['events'] * 1e6:>8.0f} "
            f"{run['cpu_probe'][0]:>4.1f}-{run['cpu_probe'][1]:<4.1f} {run['profiles']:>8,}"
        )
    print()
    for run in runs:
        print(
            f"workers={run['workers']}: first batch after {run['first_progress_seconds']} s "
            f"({run['events_per_second_after_start']:,} events/s from then); consumers caught "
            f"up at (s) {run['caught_up_at']}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--until", help="the demo's last day (YYYY-MM-DD); default yesterday")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each count, alternated")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument(
        "--keep-template", action="store_true", help="reuse a template loaded before"
    )
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="omnicx-processing-workers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    template = load_template(args, workdir)
    runs = []
    for round_ in range(args.rounds):
        order = counts if round_ % 2 == 0 else counts[::-1]
        for workers in order:
            url = fresh_copy(args, template, workdir)
            _say(f"round {round_ + 1}: {workers} worker process(es) catching up")
            run = run_workers(url, workers, workdir, args)
            _say(f"  {run['events_per_second']:,} events/s, cores {run['cores']}")
            runs.append(run)
    if args.backend == "postgresql":
        drop_pg_database(args.pg_admin_url, DATABASE)
    print_table(runs)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
