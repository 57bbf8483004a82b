"""Journey-analytics benchmark: omnicx's analyses on a generated lake, beside the same answers
by hand-written DuckDB SQL and by pandas, and the lake's incremental update rate.

Prints figures, never asserts them; not part of the test suite. See docs/performance.md.

    .venv/bin/python bench/analytics.py [--customers 1000000 --events 10000000]
        [--repeat 3] [--threads 2] [--only funnel,paths] [--json FILE]

1. A lake of `--events` events from `--customers` customers over six channels and 180 days
   (bench/analytics_data.py), written through the real lake writer and cached in `--lake`.
2. Each analysis (funnel, paths, retention, attribution, lifecycle, churn, channels,
   multichannel, stages): omnicx's function, median of `--repeat` runs after a warm-up, with
   DuckDB on `--threads` threads; the same answer by hand-written DuckDB SQL and by pandas
   (bench/analytics_reference.py), timed alike; the three answers compared.
3. The lake's incremental update: events/s through the lake writer in batches of 20,000,
   from in-memory stored events and from a real SQLite database (`omnicx demo`), beside the
   intake rate docs/performance.md records.

A CPU baseline (bench/intake.py's fixed Python loop, M iterations/s) is taken before and
after; every time is also printed multiplied by it (`s·cpu`: comparable across machines).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
import pyarrow as pa

import analytics_data as data
import analytics_reference as ref
import analytics_suite as suite
import analytics_update as update_bench
from intake import _system_busy, cpu_baseline
from omnicx.analytics.lake import LakeSnapshot, open_lake

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Runs of one implementation: seconds each, the median, and what it answered."""

    runs: list[float] = field(default_factory=list)
    answer: Any = None
    note: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


def measure(run: Callable[[], Any], repeat: int, *, warmup: bool, budget: float) -> Timing:
    """Median of `repeat` runs after an optional warm-up; a first run slower than `budget`
    seconds is not repeated."""
    timing = Timing()
    try:
        if warmup:
            started = time.perf_counter()
            timing.answer = run()
            if time.perf_counter() - started > budget:
                timing.runs.append(time.perf_counter() - started)
                timing.note = "one run (slower than the budget: not repeated)"
                return timing
        for _ in range(repeat):
            started = time.perf_counter()
            timing.answer = run()
            timing.runs.append(time.perf_counter() - started)
            if timing.runs[-1] > budget:
                timing.note = "one run (slower than the budget: not repeated)"
                break
    except MemoryError:
        timing.note = "out of memory"
    return timing


STATEMENTS: list[tuple[float, str]] | None = None
"""While profiling: (seconds, SQL) of every statement omnicx runs on a lake connection."""


class _TimedConnection:
    """A lake connection that records how long each `execute` takes (DuckDB runs a query to
    completion in `execute`; fetching the result afterwards is cheap), and each relation of
    `sql` takes to turn into Arrow (where such a relation's query runs)."""

    def __init__(self, db: Any, log: list[tuple[float, str]]) -> None:
        self._db, self._log = db, log

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = self._db.execute(sql, *args, **kwargs)
        self._log.append((time.perf_counter() - started, " ".join(sql.split())))
        return result

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return _TimedRelation(self._db.sql(sql, *args, **kwargs), sql, self._log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class _TimedRelation:
    """A relation of `_TimedConnection.sql`: records how long `to_arrow_table` takes."""

    def __init__(self, relation: Any, sql: str, log: list[tuple[float, str]]) -> None:
        self._relation, self._sql, self._log = relation, sql, log

    def to_arrow_table(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = self._relation.to_arrow_table(*args, **kwargs)
        self._log.append((time.perf_counter() - started, " ".join(self._sql.split())))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._relation, name)


def with_threads(default: int) -> None:
    """Makes every lake connection omnicx opens use `default` DuckDB threads unless told
    otherwise (most analyses call `lake.connect(scope)` without saying), and time its
    statements while STATEMENTS is a list."""
    original = LakeSnapshot.connect

    @contextmanager
    def connect(self: LakeSnapshot, scope: Any = None, *, threads: int | None = None) -> Any:
        with original(self, scope, threads=threads or default) as db:
            yield db if STATEMENTS is None else _TimedConnection(db, STATEMENTS)

    LakeSnapshot.connect = connect  # type: ignore[method-assign,assignment]


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Waits (at most `max_wait` s) until other programs use under `threshold` cores (as
    bench/intake.py does, saying so once); returns the busy cores seen last."""
    deadline = time.monotonic() + max_wait
    said = False
    while True:
        before, started = _system_busy(), time.monotonic()
        time.sleep(1.0)
        busy = (_system_busy() - before) / (time.monotonic() - started)
        if busy < threshold or time.monotonic() >= deadline:
            return round(busy, 2)
        if not said:
            print(
                f"   waiting up to {max_wait:.0f} s for a quieter machine ({busy:.1f} cores busy)"
            )
            said = True


def profile(run: Callable[[], Any]) -> list[dict[str, Any]]:
    """The statements of one run, slowest first (their share of the run's time)."""
    global STATEMENTS
    STATEMENTS = []
    started = time.perf_counter()
    try:
        run()
    finally:
        total = time.perf_counter() - started
        found, STATEMENTS = STATEMENTS, None
    found.sort(reverse=True)
    return [
        {"seconds": round(t, 3), "share": round(t / total, 3), "sql": sql[:300]}
        for t, sql in found[:6]
    ] + [{"seconds": round(total, 3), "share": 1.0, "sql": "(the whole run)"}]


# --------------------------------------------------------------------------- analyses


def run_analyses(lake: LakeSnapshot, args: argparse.Namespace) -> list[dict[str, Any]]:
    files = ref.LakeFiles.of(lake)
    rows = lake.manifest.rows()
    collisions = _hash_collisions(files, args.threads)
    if collisions:
        print(f"warning: {collisions} profile ids share a hash: the SQL answers may differ")
    results = []
    for analysis in suite.analyses(args):
        if args.only and analysis.name not in args.only:
            continue
        print(f"-- {analysis.name}", flush=True)
        budget = 10 * (analysis.target or 5.0)
        result: dict[str, Any] = {"analysis": analysis.name, "target_s": analysis.target}
        result["busy_cores_before"] = wait_for_quiet(args.quiet_wait)
        probe = result["cpu_probe"] = cpu_baseline(repeat=2)
        if analysis.omnicx is None:
            result["note"] = analysis.note
            results.append(result)
            print(f"   skipped: {analysis.note}")
            continue
        runs = {
            "omnicx": measure(
                lambda a=analysis: a.omnicx(lake), args.repeat, warmup=True, budget=budget
            )
        }
        if analysis.sql and "sql" in args.implementations:
            runs["sql"] = measure(
                lambda a=analysis: a.sql(files, args.threads),
                args.repeat,
                warmup=True,
                budget=budget,
            )
        if analysis.pandas and "pandas" in args.implementations:
            if args.pandas_limit is not None and rows > args.pandas_limit:
                runs["pandas"] = Timing(note=f"skipped: {rows:,} rows > --pandas-limit")
            else:
                runs["pandas"] = measure(
                    lambda a=analysis: a.pandas(files), args.repeat, warmup=False, budget=budget
                )
        for name, timing in runs.items():
            result[f"{name}_s"] = timing.median
            result[f"{name}_runs"] = timing.runs
            if timing.note:
                result[f"{name}_note"] = timing.note
        result["agreement"] = _agreement(runs)
        result["omnicx_s_cpu"] = _scaled(runs["omnicx"].median, probe)
        if args.profile:
            result["omnicx_profile"] = profile(lambda a=analysis: a.omnicx(lake))
            for statement in result["omnicx_profile"][:3]:
                print(f"   {statement['seconds']:.3f} s  {statement['sql'][:150]}")
        print(
            "   "
            + ", ".join(
                f"{k} {v.median:.3f} s" if v.median is not None else f"{k} {v.note}"
                for k, v in runs.items()
            )
            + f"; {result['agreement']}",
            flush=True,
        )
        results.append(result)
    return results


def _agreement(runs: dict[str, Timing]) -> str:
    base = runs["omnicx"].answer
    verdicts = []
    for name in ("sql", "pandas"):
        timing = runs.get(name)
        if timing is None or timing.answer is None:
            continue
        problem = suite.compare(base, timing.answer)
        verdicts.append(f"{name}: {'agrees' if problem is None else 'DIFFERS: ' + problem}")
    return "; ".join(verdicts) or "no reference"


def _hash_collisions(files: ref.LakeFiles, threads: int) -> int:
    with ref.connect(files, threads) as db:
        row = db.execute(
            f"SELECT count(DISTINCT profile_id) - count(DISTINCT hash(profile_id)) "
            f"FROM read_parquet({ref._list(files.people)})"
        ).fetchone()
    return int(row[0]) if row else 0


def _scaled(seconds: float | None, probe: float) -> float | None:
    return None if seconds is None else round(seconds * probe, 3)


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        "analysis", "omnicx s", "target", "met", "SQL s", "omnicx/SQL", "pandas s",
        "omnicx/pandas", "probe", "s·cpu", "busy", "agreement",
    )  # fmt: skip
    rows = []
    for r in results:
        omnicx, target = r.get("omnicx_s"), r.get("target_s")
        met = "–" if omnicx is None or target is None else ("yes" if omnicx <= target else "NO")
        rows.append(
            (
                r["analysis"],
                _fmt(omnicx),
                "–" if target is None else f"≤ {target:g}",
                met,
                _fmt(r.get("sql_s")),
                _ratio(omnicx, r.get("sql_s")),
                _fmt(r.get("pandas_s")) if r.get("pandas_s") else r.get("pandas_note", "–"),
                _ratio(omnicx, r.get("pandas_s")),
                _fmt(r.get("cpu_probe"), 1),
                _fmt(r.get("omnicx_s_cpu"), 1),
                _fmt(r.get("busy_cores_before"), 1),
                r.get("agreement") or r.get("note", ""),
            )
        )
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        print(" | ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lake", type=Path, help="default: TMP/omnicx-bench-lake-C-E")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    parser.add_argument(
        "--implementations",
        type=lambda s: set(s.split(",")),
        default={"sql", "pandas"},
        help="references to run beside omnicx: sql,pandas (default both)",
    )
    parser.add_argument("--pandas-limit", type=int, default=None, help="skip pandas above N rows")
    parser.add_argument("--update-events", type=int, default=1_000_000)
    parser.add_argument("--demo-customers", type=int, default=2000)
    parser.add_argument("--skip-update", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each analysis, wait up to this long for other programs to use < 0.3 cores",
    )
    parser.add_argument(
        "--profile", action="store_true", help="time each SQL statement of omnicx's functions"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.gettempdir())
    lake_dir = args.lake or tmp / f"omnicx-bench-lake-{args.customers}-{args.events}"
    spec = data.Spec(customers=args.customers, events=args.events, seed=args.seed)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pyarrow": pa.__version__,
            "cpus": __import__("os").cpu_count(),
            "commit": _commit(),
        },
        "spec": spec.key(),
        "threads": args.threads,
        "repeat": args.repeat,
    }
    probe_before = cpu_baseline()
    print(f"CPU baseline: {probe_before} M loop iterations/s")
    _, generated = data.ensure_lake(lake_dir, spec)
    report["generation_s"] = None if generated is None else round(generated, 1)
    lake = open_lake(lake_dir)
    report["lake"] = {
        "path": str(lake_dir),
        "events": lake.manifest.rows(),
        "files": len(lake.manifest.event_files),
        "bytes": sum((lake_dir / p).stat().st_size for p in lake.manifest.files()),
    }
    with_threads(args.threads)
    results = run_analyses(lake, args)
    report["analyses"] = results
    if not args.skip_update and not args.only:
        print("-- incremental lake update")
        rate, origin = update_bench.intake_rate()
        update = {"intake_events_per_s": rate, "intake_source": origin}
        update["in_memory"] = update_bench.update_in_memory(args.update_events, 20_000)
        print(f"   in memory: {update['in_memory']}", flush=True)
        update["sqlite"] = update_bench.update_from_sqlite(
            args.demo_customers, tmp / f"omnicx-bench-demo-{args.demo_customers}"
        )
        print(f"   SQLite: {update['sqlite']}", flush=True)
        report["update"] = update
    probe_after = cpu_baseline()
    report["cpu_baseline"] = {"before": probe_before, "after": probe_after}
    report["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print()
    print(
        f"{report['lake']['events']:,} events, {args.customers:,} customers, "
        f"{args.threads} DuckDB threads, median of {args.repeat}; CPU baseline "
        f"{probe_before} / {probe_after} M loop iterations/s first / last; s·cpu = omnicx s "
        "× the probe taken just before the analysis"
    )
    print_table(results)
    if "update" in report:
        u = report["update"]
        rate = u["intake_events_per_s"]
        for label, value in (
            ("lake writer, in memory", u["in_memory"]["events_per_s"]),
            ("lake consumer on SQLite", u["sqlite"]["consumer_events_per_s"]),
            ("lake rebuild on SQLite", u["sqlite"]["rebuild_events_per_s"]),
        ):
            print(f"{label}: {value:,} events/s = {value / rate:.1f}× intake ({rate:,.0f}/s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=_json_default))
        print(f"wrote {args.json}")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    main()
