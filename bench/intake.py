"""Intake benchmark: how many events per second omnicx stores, durably, on this machine.

Prints figures, never asserts them; not part of the test suite. Everything runs on 127.0.0.1
and every phase is bounded in time. See docs/performance.md for what is measured and why.

    .venv/bin/python bench/intake.py [--backend sqlite|postgresql|both] [--seconds 20]
                                     [--workers N] [--concurrency C]

Per backend, on a fresh database:

1. batch   `omnicx serve` (a subprocess, durability as shipped) receives batches of 100
           realistic messages from wrk: sustained events/s and request latency.
2. single  the same server receives one message per request on /v1/track, as analytics.js
           sends them: requests/s and latency.
3. live    batches again, with the processing stage running inside the server (the default
           `omnicx serve`): intake rate and how far processing lags behind at the end.
4. processing  the built-in consumer catching up from checkpoint 0 over the stored events.
5. ceiling the same rows bulk-inserted straight into the same events table (COPY on
           PostgreSQL, executemany in large transactions on SQLite), and the server's own
           append statement without HTTP, for comparison.

A machine baseline (a fixed CPU-bound Python loop, fsync rate, pgbench, SQLite durable
commits) is measured first and last; every figure is also printed relative to it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import events as sample_events

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OMNICX = Path(sys.executable).with_name("omnicx")
LUA = BENCH / "post.lua"
HOST = "127.0.0.1"
SOURCE_NAME = "bench"

GOALS = {
    "batch_events_per_s_postgresql": 50_000,
    "intake_to_ceiling": 0.3,
    "single_requests_per_s": 5_000,
}


# --------------------------------------------------------------------------- CPU accounting


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def _proc_cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _proc_parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _descendants(root: int) -> list[int]:
    parents = {pid: _proc_parent(pid) for pid in _pids()}
    found = [root]
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.append(pid)
                changed = True
    return found


def _postgres_pids(database: str | None) -> list[int]:
    """The PostgreSQL processes working for `database`: its backends and the shared helpers."""
    pids = []
    for pid in _pids():
        cmd = _proc_cmdline(pid)
        if not cmd.startswith("postgres"):
            continue
        is_backend = "127.0.0.1(" in cmd or "[local]" in cmd or "autovacuum worker" in cmd
        if not is_backend or (database is not None and database in cmd.split()):
            pids.append(pid)
    return pids


def _system_busy() -> float:
    """CPU seconds all cores have spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _clock_ticks()


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Waits (at most `max_wait` s) until other programs use under `threshold` cores.

    The machine may be shared; returns the busy cores seen last, to report with the figures.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before, started = _system_busy(), time.monotonic()
        time.sleep(1.0)
        busy = (_system_busy() - before) / (time.monotonic() - started)
        if busy < threshold or time.monotonic() >= deadline:
            return round(busy, 2)
        _say(f"  waiting for a quieter machine ({busy:.1f} cores busy elsewhere)")


class CpuMeter:
    """Cores used during a window by groups of processes, and by everything else.

    Processes are sampled every `interval` seconds, so one that exits during the window (a
    PostgreSQL backend of a connection the pool closed) still counts up to its last sample.
    """

    def __init__(self, groups: dict[str, Any], interval: float = 0.25) -> None:
        self._groups = groups  # name -> callable returning pids
        self._interval = interval
        self._start: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}
        self._busy = 0.0
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> dict[str, dict[int, float]]:
        sample = {}
        for name, pids in self._groups.items():
            times = {}
            for pid in pids():
                cpu = _proc_cpu(pid)
                if cpu is not None:
                    times[pid] = cpu
            sample[name] = times
        return sample

    def _record(self) -> None:
        for name, times in self._sample().items():
            self._last.setdefault(name, {}).update(times)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._record()

    def start(self) -> None:
        self._start = self._sample()
        self._last = {name: dict(times) for name, times in self._start.items()}
        self._busy = _system_busy()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self, **extra: float) -> dict[str, float]:
        """Cores per group; `extra` adds CPU seconds measured otherwise (reaped children)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._record()
        busy = _system_busy() - self._busy
        wall = time.monotonic() - self._t0
        cores: dict[str, float] = {}
        for name, times in self._last.items():
            used = sum(cpu - self._start[name].get(pid, 0.0) for pid, cpu in times.items())
            cores[name] = round(used / wall, 3)
        for name, seconds in extra.items():
            cores[name] = round(seconds / wall, 3)
        cores["total"] = round(busy / wall, 3)
        ours = sum(cores[n] for n in [*self._last, *extra])
        cores["other"] = round(max(0.0, cores["total"] - ours), 3)
        return cores


# --------------------------------------------------------------------------- baseline


def cpu_baseline(repeat: int = 3, loops: int = 5_000_000) -> float:
    """Millions of iterations per second of a fixed pure-Python loop (best of `repeat`)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        x = 0
        for i in range(loops):
            x = (x * 31 + i) & 0xFFFFFFFF
        best = min(best, time.perf_counter() - started)
    return round(loops / best / 1e6, 3)


def fsync_baseline(directory: Path, seconds: float = 2.0) -> float:
    """fsync()s per second of a 4 KiB rewrite, in the directory databases live in."""
    path = directory / "fsync-probe"
    count = 0
    with path.open("wb") as file:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < deadline:
            file.seek(0)
            file.write(b"x" * 4096)
            file.flush()
            os.fsync(file.fileno())
            count += 1
        elapsed = time.monotonic() - started
    path.unlink()
    return round(count / elapsed, 1)


def sqlite_commit_baseline(directory: Path, seconds: float = 3.0) -> float:
    """Durable single-row transactions per second on SQLite (WAL, synchronous=FULL)."""
    path = directory / "baseline.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    count = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (v) VALUES (?)", ("x" * 100,))
        connection.execute("COMMIT")
        count += 1
    elapsed = time.monotonic() - started
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return round(count / elapsed, 1)


def pgbench_baseline(admin_url: str, database: str, seconds: int = 5) -> float | None:
    """pgbench simple-update (durable), 8 clients, scale 1: transactions per second."""
    if shutil.which("pgbench") is None:
        return None
    recreate_pg_database(admin_url, database)
    url = pg_url(admin_url, database)
    try:
        subprocess.run(
            ["pgbench", "-i", "-s", "1", "-q", url], check=True, capture_output=True, timeout=120
        )
        out = subprocess.run(
            ["pgbench", "-n", "-b", "simple-update", "-c", "8", "-j", "2", "-T", str(seconds), url],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        drop_pg_database(admin_url, database)
    for line in out.splitlines():
        if line.startswith("tps = "):
            return round(float(line.split()[2]), 1)
    return None


def baseline(args: argparse.Namespace, workdir: Path) -> dict[str, float | None]:
    busy = wait_for_quiet(args.quiet_wait)
    figures: dict[str, float | None] = {
        "busy_cores_before": busy,
        "cpu_mloops_per_s": cpu_baseline(),
        "fsync_per_s": fsync_baseline(workdir),
        "sqlite_commits_per_s": sqlite_commit_baseline(workdir),
        "pgbench_tps": None,
    }
    if args.backend in ("postgresql", "both"):
        figures["pgbench_tps"] = pgbench_baseline(args.pg_admin_url, f"{args.pg_database}_pgbench")
    return figures


# --------------------------------------------------------------------------- databases


def pg_url(admin_url: str, database: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + database


def _pg_admin(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)  # type: ignore[arg-type]


def drop_pg_database(admin_url: str, database: str) -> None:
    _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def recreate_pg_database(admin_url: str, database: str) -> None:
    drop_pg_database(admin_url, database)
    _pg_admin(admin_url, f'CREATE DATABASE "{database}"')


@dataclass
class Backend:
    name: str
    url: str
    pg_database: str | None = None

    def engine(self) -> Any:
        from omnicx.store.engine import make_engine

        return make_engine(self.url)


def prepare_backend(name: str, args: argparse.Namespace, workdir: Path) -> Backend:
    if name == "postgresql":
        recreate_pg_database(args.pg_admin_url, args.pg_database)
        return Backend(name, pg_url(args.pg_admin_url, args.pg_database), args.pg_database)
    path = workdir / "omnicx-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Backend(name, f"sqlite:///{path}")


def add_source(backend: Backend) -> str:
    out = subprocess.run(
        [str(OMNICX), "sources", "add", SOURCE_NAME, "--channel", "web", "--db", backend.url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return out.strip().splitlines()[-1].strip()


def reset_events(backend: Backend) -> None:
    """Empties the event stream (and what processing derived from it), then checkpoints:
    every measurement starts from an empty events table and a fresh WAL segment."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    tables = ("events", "stream_checkpoints", "source_daily_counts")
    engine = backend.engine()
    try:
        for attempt in range(10):
            try:
                with engine.begin() as connection:
                    if backend.name == "postgresql":
                        connection.execute(text(f"TRUNCATE {', '.join(tables)}"))
                    else:
                        for table in tables:
                            connection.execute(text(f"DELETE FROM {table}"))
                break
            except OperationalError:  # a deadlock with the processing stage still at work
                if attempt == 9:
                    raise
                time.sleep(1)
        if backend.name == "postgresql":
            with engine.connect() as connection:
                connection.exec_driver_sql("CHECKPOINT")
                connection.commit()
        else:
            sqlite = sqlite3.connect(backend.url.removeprefix("sqlite:///"), isolation_level=None)
            sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sqlite.close()
    finally:
        engine.dispose()


def count_events(backend: Backend) -> int:
    from sqlalchemy import text

    engine = backend.engine()
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())
    finally:
        engine.dispose()


def group_commits(log: Path, since: datetime, until: datetime) -> dict[str, float] | None:
    """Group commits the server logged between two instants (JSON log at DEBUG level)."""
    requests = events = commits = 0
    with contextlib.suppress(OSError), log.open() as lines:
        for line in lines:
            if '"group committed"' not in line:
                continue
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
                if since <= at <= until:
                    commits += 1
                    requests += int(entry["requests"])
                    events += int(entry["new_events"])
    if not commits:
        return None
    seconds = (until - since).total_seconds()
    return {
        "commits_per_s": round(commits / seconds, 1),
        "requests_per_commit": round(requests / commits, 1),
        "events_per_commit": round(events / commits, 1),
    }


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        return _descendants(self.process.pid)


@contextlib.contextmanager
def running_server(
    backend: Backend,
    *,
    workers: int,
    processing: bool,
    log: Path,
    other_gc: bool = False,
    timeout: float = 60,
) -> Iterator[Server]:
    port = free_port()
    program = [sys.executable, str(BENCH / "serve_gc.py")] if other_gc else [str(OMNICX)]
    command = [
        *program, "serve", "--db", backend.url, "--host", HOST, "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    if not processing:
        command.append("--no-processing")
    # JSON logs at DEBUG: the writer then logs each group commit (a few lines a second),
    # which is how the benchmark learns how many requests and events a commit carried.
    env = os.environ | {"OMNICX_LOG_FORMAT": "json", "OMNICX_LOG_LEVEL": "DEBUG"}
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
            env=env,
        )
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"omnicx serve exited with {process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{server.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"omnicx serve did not become healthy; see {log}")
            time.sleep(0.2)
        if workers > 1:
            time.sleep(1.0)  # every worker process up, not only the first
        yield server
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 40) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the group this script started
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, 0)
        os.killpg(process.pid, signal.SIGKILL)  # leftover workers of our own group


# --------------------------------------------------------------------------- load generation


def wrk(
    url: str,
    *,
    templates: Path,
    path: str,
    seconds: float,
    connections: int,
    threads: int,
    run_id: str,
    authorization: str = "",
) -> tuple[dict[str, Any], subprocess.Popen[str]]:
    """Starts wrk; returns a dict to be filled in by `finish_wrk` and the process."""
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
        "--timeout", "60s", "-s", str(LUA), url, "--", str(templates), run_id, path,
        authorization,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"command": " ".join(command[:-1] + (["'<auth>'"] if authorization else []))}, process


def finish_wrk(result: dict[str, Any], process: subprocess.Popen[str], seconds: float) -> None:
    out, err = process.communicate(timeout=seconds + 120)
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            result.update(json.loads(line[len("WRK_JSON ") :]))
            return
    raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")


@dataclass
class Load:
    name: str
    templates: Path
    path: str
    connections: int
    events_per_request: int
    authorization: str = ""


def run_load(
    args: argparse.Namespace,
    backend: Backend | None,
    server: Server,
    load: Load,
    *,
    seconds: float,
    warmup: float,
    profile_to: Path | None,
) -> dict[str, Any]:
    """Warms up, then measures: wrk's figures, rows stored, CPU by process group, a profile."""
    run_id = f"{load.name}{int(time.time() * 1000) % 10**9:x}"
    if warmup > 0:
        result, process = wrk(
            server.base, templates=load.templates, path=load.path, seconds=warmup,
            connections=load.connections, threads=args.wrk_threads, run_id=run_id + "w",
            authorization=load.authorization,
        )  # fmt: skip
        finish_wrk(result, process, warmup)
    if backend is not None:
        reset_events(backend)  # after the warm-up: measure from an empty events table
    busy_before = wait_for_quiet(args.quiet_wait)
    probe = cpu_baseline(repeat=3, loops=1_000_000)
    database = backend.pg_database if backend else None
    before = count_events(backend) if backend else 0
    meter = CpuMeter(
        {
            "server": server.pids,
            "postgresql": lambda: _postgres_pids(database) if database else [],
        }
    )
    meter.start()
    window_start = datetime.now(UTC)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result, process = wrk(
        server.base, templates=load.templates, path=load.path, seconds=seconds,
        connections=load.connections, threads=args.wrk_threads, run_id=run_id,
        authorization=load.authorization,
    )  # fmt: skip
    spy = start_profile(args, server, seconds, profile_to) if profile_to else None
    finish_wrk(result, process, seconds)
    # The only child reaped meanwhile is wrk (py-spy is still running): its CPU time.
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (reaped.ru_utime - children.ru_utime) + (reaped.ru_stime - children.ru_stime)
    cores = meter.stop(wrk=wrk_cpu)
    window_end = datetime.now(UTC)
    after = count_events(backend) if backend else 0
    probe_after = cpu_baseline(repeat=3, loops=1_000_000)
    duration = result["duration_us"] / 1e6
    errors = result["errors"]
    ok_requests = result["requests"] - errors["status"]
    figures: dict[str, Any] = {
        "connections": load.connections,
        "seconds": round(duration, 2),
        "requests": result["requests"],
        "failed_requests": errors["status"]
        + errors["timeout"]
        + errors["connect"]
        + errors["read"]
        + errors["write"],
        "requests_per_s": round(ok_requests / duration, 1),
        "events_per_s": round(ok_requests * load.events_per_request / duration, 1),
        "stored_events": after - before,
        "stored_events_per_s": round((after - before) / duration, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in result["latency_us"].items()},
        "cores": cores,
        "busy_cores_before": busy_before,
        # The machine's single-thread speed just before and after (it drifts on a shared host).
        "cpu_probe_mloops_per_s": round((probe + probe_after) / 2, 3),
        "cpu_probes": [probe, probe_after],
        "wrk": result,
    }
    groups = group_commits(server.log, window_start, window_end)
    if groups:
        figures["group_commit"] = groups
    if spy is not None:
        figures["profile"] = finish_profile(*spy)
    return figures


@contextlib.contextmanager
def running_floor(app: str, log: Path, timeout: float = 30) -> Iterator[Server]:
    """uvicorn serving one of bench/floor_app.py's reference apps, configured like omnicx."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"floor_app:{app}", "--app-dir", str(BENCH),
        "--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}; see {log}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start; see {log}")
            time.sleep(0.2)
        yield server
    finally:
        stop_process_group(process)


def floor(args: argparse.Namespace, workdir: Path, stamp: str) -> dict[str, Any]:
    """Single-event load against the reference apps: the HTTP stack's own requests/s."""
    singles = workdir / "floor-bodies.txt"
    singles.write_text("\n".join(sample_events.single_templates(2000, "k" * 32)) + "\n")
    load = Load("floor", singles, "/v1/track", args.single_concurrency, 1)
    results = {}
    for app in ("raw", "fastapi"):
        _say(f"floor: {app} ASGI app under uvicorn, {args.single_concurrency} connections")
        with running_floor(app, args.out / f"floor-{stamp}.log") as server:
            results[app] = run_load(
                args, None, server, load, seconds=min(args.seconds, 10), warmup=args.warmup,
                profile_to=None,
            )  # fmt: skip
    return results


# --------------------------------------------------------------------------- profiling


def start_profile(
    args: argparse.Namespace, server: Server, seconds: float, out: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    duration = max(1, int(seconds) - 2)
    command = [
        args.py_spy, "record", "--pid", str(server.process.pid), "--duration", str(duration),
        "--rate", "100", "--nonblocking", "--threads", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    if args.workers > 1:
        command.append("--subprocesses")
    if args.py_spy_gil:
        command.append("--gil")
    if args.py_spy_idle:
        command.append("--idle")  # waiting too: where each thread's wall time goes
    if args.py_spy_native:
        # Native frames (the garbage collector, orjson, libpq) need py-spy to pause the
        # process at each sample: sample less often.
        command = [c for c in command if c != "--nonblocking"] + ["--native"]
        command[command.index("--rate") + 1] = "50"
    time.sleep(1.0)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def finish_profile(process: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    process.wait(timeout=120)
    return summarise_profile(out)


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` without the line number, so a function counts once."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    return f"{name} ({file})" if file else name


_ROLES = (
    ("writer thread (group commit)", "GroupCommitWriter._run"),
    ("processing thread", "ProcessingStage.run"),
    ("thread pool", "WorkerThread.run"),
    ("event loop (HTTP + handlers)", "Runner.run"),
)
_COMPONENTS = (
    ("garbage collector", "gc_collect"),  # native frames, with --py-spy-native
    ("orjson", "orjson"),
    ("psycopg", "libpq"),
    ("syscalls (libc)", "libc.so"),
    ("omnicx", "omnicx/"),
    ("psycopg", "psycopg/"),
    ("sqlalchemy", "sqlalchemy/"),
    ("fastapi/starlette", "fastapi/"),
    ("fastapi/starlette", "starlette/"),
    ("uvicorn", "uvicorn/"),
    ("asyncio/uvloop", "asyncio/"),
    ("threading/queue", "threading.py"),
    ("threading/queue", "queue.py"),
)


def _role(stack: str) -> str:
    """Which thread of the server a stack belongs to, by the frames it holds."""
    for role, marker in _ROLES:
        if marker in stack:
            return role
    return "other"


def _component(frame: str) -> str:
    """The library the innermost Python frame is in (C code is charged to its caller)."""
    for component, marker in _COMPONENTS:
        if marker in frame:
            return component
    return "other"


def summarise_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive time per function, as percentages of all non-idle samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    components: Counter[str] = Counter()
    total = 0
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            samples.append((stack, int(count_text)))
    # A coroutine resumed by uvloop's C loop shows no Python frame below it, so a thread's role
    # is learnt from its other stacks (recorded with --threads: the first frame names it).
    thread_roles: dict[str, str] = {}
    for stack, _ in samples:
        role = _role(stack)
        if role != "other":
            thread_roles.setdefault(stack.split(";", 1)[0], role)
    for stack, count in samples:
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        roles[thread_roles.get(stack.split(";", 1)[0], _role(stack))] += count
        components[_component(stack.split(";")[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    percent = lambda n: round(100 * n / max(total, 1), 1)  # noqa: E731
    return {
        "file": str(path),
        "samples": total,
        "roles": [[r, percent(n)] for r, n in roles.most_common()],
        "components": [[c, percent(n)] for c, n in components.most_common()],
        "self": [[f, percent(n)] for f, n in own.most_common(top)],
        "inclusive": [[f, percent(n)] for f, n in inclusive.most_common(top * 3)],
    }


# --------------------------------------------------------------------------- processing


def live_lag(backend: Backend, wait: float) -> dict[str, Any]:
    """After a load with processing in the server: lag now, and how long until it is zero."""
    from omnicx.collect.processing import lag
    from omnicx.pipeline import stream_consumers

    engine = backend.engine()
    try:
        consumers = stream_consumers()
        started = time.monotonic()
        first = max(lag(engine, consumers).values())
        current = first
        while current > 0 and time.monotonic() - started < wait:
            time.sleep(0.5)
            current = max(lag(engine, consumers).values())
        return {
            "lag_at_end": first,
            "lag_after_wait": current,
            "seconds_to_catch_up": round(time.monotonic() - started, 1) if current == 0 else None,
        }
    finally:
        engine.dispose()


def processing_catch_up(backend: Backend, seconds: float) -> dict[str, Any]:
    """The built-in consumers from checkpoint 0, as `omnicx worker --once` runs them (one
    process; `bench/processing_workers.py` measures several)."""
    from sqlalchemy import text

    from omnicx.collect.processing import process_available
    from omnicx.pipeline import stream_consumers

    engine = backend.engine()
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM stream_checkpoints"))
            connection.execute(text("DELETE FROM source_daily_counts"))
        stored = count_events(backend)
        consumers = stream_consumers()
        result: dict[str, Any] = {"stored_events": stored, "rows": 0}
        with timed(backend, None, result):
            # Round robin through one window, each consumer at its own batch size.
            handled = process_available(engine, consumers, max_seconds=seconds)
            # The figure is events every consumer has processed (a profile, its segments and
            # the lake all up to date), not the sum of what each consumer handled.
            result["rows"] = through_every_consumer(engine, consumers)
    finally:
        engine.dispose()
    result["processed"] = result.pop("rows")
    result["consumer_events"] = handled
    result["complete"] = result["processed"] >= stored
    return result


def through_every_consumer(engine: Any, consumers: Sequence[Any]) -> int:
    """How many stored events every consumer has processed."""
    from sqlalchemy import func, select

    from omnicx.collect.processing import checkpoint
    from omnicx.collect.tables import events

    with engine.connect() as connection:
        lowest = min(checkpoint(connection, c.name) for c in consumers)
        return int(
            connection.execute(
                select(func.count()).select_from(events).where(events.c.id <= lowest)
            ).scalar_one()
        )


# --------------------------------------------------------------------------- stage costs


def stage_costs(batch_size: int, repeat: int = 7) -> dict[str, float]:
    """CPU microseconds per event of the intake's own steps, in-process, one thread.

    Best of `repeat` rounds, so the figures hold on a busy machine too: parsing the body
    (`decode_body`), then checking and normalising its messages (`prepare`), for a batch and
    for a single /v1/track body.
    """
    from omnicx.collect.intake import decode_body, prepare
    from omnicx.collect.sources import KeyOwner
    from omnicx.store.clock import utc_now

    owner = KeyOwner(1, SOURCE_NAME, "web", True)
    limit = 4 * 1024 * 1024

    def bodies(templates: list[str], count: int) -> list[bytes]:
        out = []
        for n in range(count):
            out.append(
                sample_events.with_message_ids(templates[n % len(templates)], f"s-{n}").encode()
            )
        return out

    def best(run: Any, raws: list[bytes]) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            for raw in raws:
                run(raw)
            times.append(time.perf_counter() - started)
        return min(times)

    def parse(raw: bytes) -> Any:
        return decode_body(raw, content_encoding=None, max_body_bytes=limit)

    def check(message_type: str | None) -> Any:
        def run(raw: bytes) -> None:
            prepared = prepare(
                parse(raw), owner=owner, message_type=message_type, received_at=utc_now(),
                max_message_bytes=32 * 1024,
            )  # fmt: skip
            if prepared.failures:
                raise RuntimeError(f"benchmark message refused: {prepared.errors()[:1]}")

        return run

    batches = bodies(sample_events.batch_templates(10, batch_size, seed=11), 20)
    singles = bodies(sample_events.single_templates(200, "k" * 32, seed=12), 2000)
    batch_events = len(batches) * batch_size
    parse_batch = best(parse, batches) / batch_events
    prepare_batch = best(check(None), batches) / batch_events - parse_batch
    parse_single = best(parse, singles) / len(singles)
    prepare_single = best(check("track"), singles) / len(singles) - parse_single
    return {
        "batch_parse_us_per_event": round(parse_batch * 1e6, 2),
        "batch_prepare_us_per_event": round(prepare_batch * 1e6, 2),
        "single_parse_us_per_event": round(parse_single * 1e6, 2),
        "single_prepare_us_per_event": round(prepare_single * 1e6, 2),
    }


# --------------------------------------------------------------------------- the ceiling


def ceiling_rows(source_id: int, count: int, batch_size: int, run_id: str) -> list[Any]:
    """The rows the server would store for `count` messages, through the intake's own code."""
    from omnicx.collect.intake import prepare
    from omnicx.collect.sources import KeyOwner
    from omnicx.store.clock import utc_now

    owner = KeyOwner(source_id, SOURCE_NAME, "web", True)
    templates = sample_events.batch_templates(50, batch_size, seed=7)
    rows: list[Any] = []
    n = 0
    while len(rows) < count:
        text = sample_events.with_message_ids(templates[n % len(templates)], f"{run_id}-{n}")
        prepared = prepare(
            json.loads(text), owner=owner, message_type=None, received_at=utc_now(),
            max_message_bytes=32 * 1024,
        )  # fmt: skip
        if prepared.failures:
            raise RuntimeError(f"benchmark message refused: {prepared.errors()[:1]}")
        rows.extend(prepared.rows)
        n += 1
    return rows[:count]


_COLUMNS = (
    "source_id, channel, message_id, type, event, user_id, anonymous_id, timestamp, "
    "received_at, payload"
)


def _as_tuple(row: Any) -> tuple[Any, ...]:
    """A row's values, the payload as text (the intake keeps it as UTF-8 bytes)."""
    payload = row.payload.decode() if isinstance(row.payload, bytes) else row.payload
    return (
        row.source_id, row.channel, row.message_id, row.type, row.event, row.user_id,
        row.anonymous_id, row.timestamp, row.received_at, payload,
    )  # fmt: skip


# COPY's binary format, as the server's writer sends it (the payload as bytes: a text value).
_BINARY_TYPES = [
    "int4", "varchar", "varchar", "varchar", "text", "text", "text", "timestamptz",
    "timestamptz", "bytea",
]  # fmt: skip


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@contextlib.contextmanager
def timed(backend: Backend, rows: int | None, into: dict[str, Any]) -> Iterator[None]:
    """Times the block: events/s, and CPU per event of this process and of PostgreSQL.

    With `rows` None, the block sets `into["rows"]` to how many events it handled.
    """
    probe = cpu_baseline(repeat=3, loops=1_000_000)
    database = backend.pg_database
    meter = CpuMeter(
        {"postgresql": lambda: _postgres_pids(database) if database else []}, interval=1.0
    )
    own = resource.getrusage(resource.RUSAGE_SELF)
    meter.start()
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    end = resource.getrusage(resource.RUSAGE_SELF)
    client = (end.ru_utime - own.ru_utime) + (end.ru_stime - own.ru_stime)
    cores = meter.stop(client=client)
    probe_after = cpu_baseline(repeat=3, loops=1_000_000)
    into["cpu_probe_mloops_per_s"] = round((probe + probe_after) / 2, 3)
    into["cpu_probes"] = [probe, probe_after]
    rows = rows if rows is not None else max(int(into["rows"]), 1)
    into["seconds"] = round(elapsed, 2)
    into["events_per_s"] = round(rows / elapsed, 1)
    into["client_cpu_us_per_event"] = round(1e6 * client / rows, 1)
    if database:
        into["postgresql_cpu_us_per_event"] = round(1e6 * cores["postgresql"] * elapsed / rows, 1)
    into["other_cores"] = cores["other"]


def ceiling_postgresql(backend: Backend, rows: list[Any], chunk: int) -> dict[str, Any]:
    """psycopg binary COPY into the events table, `chunk` rows per durable transaction."""
    import psycopg

    tuples = [(*values[:9], values[9].encode()) for values in map(_as_tuple, rows)]
    result: dict[str, Any] = {}
    with psycopg.connect(backend.url) as connection, timed(backend, len(rows), result):
        for part in _chunks(tuples, chunk):
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(f"COPY events ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(_BINARY_TYPES)
                for values in part:
                    copy.write_row(values)
    return result


def ceiling_postgresql_text(backend: Backend, rows: list[Any], chunk: int) -> dict[str, Any]:
    """psycopg COPY in text format into the events table (the ceiling of earlier runs)."""
    import psycopg

    tuples = [_as_tuple(r) for r in rows]
    result: dict[str, Any] = {}
    with psycopg.connect(backend.url) as connection, timed(backend, len(rows), result):
        for part in _chunks(tuples, chunk):
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy,
            ):
                for values in part:
                    copy.write_row(values)
    return result


def ceiling_sqlite(backend: Backend, rows: list[Any], chunk: int) -> dict[str, Any]:
    """sqlite3 executemany into the events table, `chunk` rows per durable transaction."""
    path = backend.url.removeprefix("sqlite:///")
    as_text = lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")  # noqa: E731 - SQLAlchemy's format
    tuples = [
        (*values[:7], as_text(r.timestamp), as_text(r.received_at), values[9])
        for r, values in ((r, _as_tuple(r)) for r in rows)
    ]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    statement = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    result: dict[str, Any] = {}
    with timed(backend, len(rows), result):
        for part in _chunks(tuples, chunk):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, part)
            connection.execute("COMMIT")
    connection.close()
    return result


def append_direct(backend: Backend, rows: list[Any], chunk: int) -> dict[str, Any]:
    """The server's own `stream.append` (lock + statement + commit), no HTTP, one thread."""
    from omnicx.collect.stream import append

    engine = backend.engine()
    result: dict[str, Any] = {}
    try:
        with engine.connect():
            pass  # connect (and migrate-check) outside the timing
        with timed(backend, len(rows), result):
            for part in _chunks(rows, chunk):
                with engine.begin() as connection:
                    append(connection, part)
    finally:
        engine.dispose()
    return result


def append_binary_unnest(backend: Backend, rows: list[Any], chunk: int) -> dict[str, Any]:
    """What-if for PostgreSQL: the append as one INSERT ... SELECT FROM unnest() of arrays
    sent in binary (`%b`, no text escaping, no staging table), under the same lock."""
    import psycopg

    statement = (
        f"INSERT INTO events ({_COLUMNS}) SELECT * FROM unnest("
        "%b::integer[], %b::varchar[], %b::varchar[], %b::varchar[], %b::text[], %b::text[], "
        "%b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[]) "
        "ON CONFLICT (source_id, message_id) DO NOTHING"
    )
    result: dict[str, Any] = {}
    with psycopg.connect(backend.url) as connection, timed(backend, len(rows), result):
        for part in _chunks(rows, chunk):
            columns = [list(column) for column in zip(*map(_as_tuple, part), strict=True)]
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(7270001)")
                connection.execute(statement, columns)  # type: ignore[arg-type]
    return result


def ceiling(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    engine = backend.engine()
    with engine.connect() as connection:
        source_id = int(
            connection.execute(
                text("SELECT id FROM sources WHERE name = :n"), {"n": SOURCE_NAME}
            ).scalar_one()
        )
    engine.dispose()
    run = f"c{int(time.time()) % 10**6:x}"
    n = args.ceiling_rows
    result: dict[str, Any] = {"rows": n, "transaction_rows": args.ceiling_chunk}
    rows = ceiling_rows(source_id, n, args.batch_size, run + "a")
    bulk = ceiling_postgresql if backend.name == "postgresql" else ceiling_sqlite
    result["method"] = (
        "psycopg binary COPY into events"
        if backend.name == "postgresql"
        else "sqlite3 executemany into events"
    )

    def fresh(measure: Any, *measure_args: Any) -> Any:
        def run() -> dict[str, Any]:
            reset_events(backend)  # the same rows again, into an empty table each time
            figures: dict[str, Any] = measure(backend, *measure_args)
            return figures

        return run

    result |= repeated(args.repeat, "events_per_s", fresh(bulk, rows, args.ceiling_chunk))
    if backend.name == "postgresql":
        result["text_copy"] = repeated(
            args.repeat, "events_per_s", fresh(ceiling_postgresql_text, rows, args.ceiling_chunk)
        )
    rows = ceiling_rows(source_id, n, args.batch_size, run + "d")
    result["append"] = {"rows_per_transaction": args.append_chunk} | repeated(
        args.repeat, "events_per_s", fresh(append_direct, rows, args.append_chunk)
    )
    if backend.name == "postgresql":
        result["binary_unnest"] = repeated(
            args.repeat, "events_per_s", fresh(append_binary_unnest, rows, args.append_chunk)
        )
    return result


# --------------------------------------------------------------------------- one backend


def median_run(runs: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The run with the median `metric`, listing every run's headline figures under "runs"."""
    ordered = sorted(runs, key=lambda r: r[metric])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["runs"] = [
            {
                metric: r[metric],
                "latency_ms_p99": r.get("latency_ms", {}).get("p99"),
                "cpu_probe_mloops_per_s": r.get("cpu_probe_mloops_per_s"),
            }
            for r in runs
        ]
    return chosen


def repeated(count: int, metric: str, measure: Any) -> dict[str, Any]:
    return median_run([measure() for _ in range(max(count, 1))], metric)


def write_templates(workdir: Path, write_key: str, batch_size: int) -> tuple[Path, Path]:
    batches = workdir / "batch-bodies.txt"
    batches.write_text("\n".join(sample_events.batch_templates(50, batch_size)) + "\n")
    singles = workdir / "single-bodies.txt"
    singles.write_text("\n".join(sample_events.single_templates(2000, write_key)) + "\n")
    return batches, singles


def bench_backend(name: str, args: argparse.Namespace, workdir: Path, stamp: str) -> dict[str, Any]:
    scenarios = set(args.scenarios.split(","))
    backend = prepare_backend(name, args, workdir)
    write_key = add_source(backend)
    batches, singles = write_templates(workdir, write_key, args.batch_size)
    basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    log = args.out / f"server-{stamp}-{name}.log"
    results: dict[str, Any] = {"database": backend.url.split("@")[-1], "workers": args.workers}
    batch_load = Load("batch", batches, "/v1/batch", args.concurrency, args.batch_size, basic)
    single_load = Load("single", singles, "/v1/track", args.single_concurrency, 1)

    def profile_path(scenario: str) -> Path | None:
        if not args.py_spy:
            return None
        return args.out / f"profile-{stamp}-{name}-{scenario}.txt"

    if scenarios & {"batch", "single"}:
        with running_server(backend, workers=args.workers, processing=False, log=log) as server:
            if "batch" in scenarios:
                _say(
                    f"[{name}] batch: {args.batch_size} events/request, {args.concurrency} "
                    f"connections, {args.seconds:g}s"
                )
                results["batch"] = repeated(args.repeat, "events_per_s", lambda: run_load(
                    args, backend, server, batch_load, seconds=args.seconds,
                    warmup=args.warmup, profile_to=profile_path("batch"),
                ))  # fmt: skip
            if "single" in scenarios:
                _say(
                    f"[{name}] single: /v1/track, {args.single_concurrency} connections, "
                    f"{args.seconds:g}s"
                )
                results["single"] = repeated(args.repeat, "requests_per_s", lambda: run_load(
                    args, backend, server, single_load, seconds=args.seconds,
                    warmup=args.warmup, profile_to=profile_path("single"),
                ))  # fmt: skip
    if "gc" in scenarios:
        # What-if: the same server with other collector settings (bench/serve_gc.py; by default
        # CPython's own, i.e. without the tuning `omnicx serve` applies).
        with running_server(
            backend, workers=args.workers, processing=False, log=log, other_gc=True
        ) as server:
            for key, load, metric in (
                ("gc_batch", batch_load, "events_per_s"),
                ("gc_single", single_load, "requests_per_s"),
            ):
                setting = os.environ.get("OMNICX_BENCH_GC", "default")
                _say(f"[{name}] {key}: as {key[3:]}, garbage collector settings: {setting}")
                results[key] = repeated(args.repeat, metric, lambda load=load: run_load(
                    args, backend, server, load, seconds=args.seconds, warmup=args.warmup,
                    profile_to=None,
                ))  # fmt: skip
    if "live" in scenarios:
        _say(f"[{name}] live: batches with the processing stage in the server, {args.seconds:g}s")
        with running_server(backend, workers=args.workers, processing=True, log=log) as server:
            live = run_load(
                args, backend, server, batch_load, seconds=args.seconds, warmup=args.warmup,
                profile_to=profile_path("live"),
            )  # fmt: skip
            live["processing"] = live_lag(backend, wait=args.seconds)
        results["live"] = live
    if "ceiling" in scenarios:
        _say(f"[{name}] ceiling: {args.ceiling_rows:,} rows bulk-inserted")
        busy = wait_for_quiet(args.quiet_wait)
        results["ceiling"] = ceiling(backend, args) | {"busy_cores_before": busy}
    if "processing" in scenarios:
        _say(
            f"[{name}] processing: catching up from checkpoint 0 "
            f"(at most {args.processing_seconds:g}s)"
        )
        busy = wait_for_quiet(args.quiet_wait)
        results["processing"] = processing_catch_up(backend, args.processing_seconds) | {
            "busy_cores_before": busy
        }
    results["stored_events_total"] = count_events(backend)
    return results


# --------------------------------------------------------------------------- report


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    versions: dict[str, str] = {}
    for package in ("uvicorn", "fastapi", "starlette", "sqlalchemy", "psycopg", "orjson", "uvloop"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[
        0
    ]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version.strip(),
        "packages": versions,
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "changed_src": [p for p in changed if p.startswith("src/")],
    }


def pg_version(admin_url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(admin_url) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            settings = {
                name: connection.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("synchronous_commit", "fsync", "shared_buffers", "max_wal_size")
            }
        return f"{row[0] if row else '?'} ({', '.join(f'{k}={v}' for k, v in settings.items())})"
    except Exception as exc:
        return f"unavailable: {exc}"


@dataclass
class Row:
    backend: str
    figure: str
    value: float | None
    unit: str
    goal: str = ""
    cpu: float | None = None  # the CPU probe taken just before this figure was measured


def figure_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, res in report["backends"].items():

        def add(source: dict[str, Any], figure: str, value: Any, unit: str, goal: str = "") -> None:
            probe = source.get("cpu_probe_mloops_per_s")
            rows.append(Row(name, figure, value, unit, goal, probe))  # noqa: B023

        def loads(key: str, label: str, goal: str = "") -> None:
            figures = res.get(key)  # noqa: B023
            if not figures:
                return
            if figures["events_per_s"] != figures["requests_per_s"]:
                add(figures, label, figures["events_per_s"], "events/s", goal)
                add(figures, "  stored (DB count)", figures["stored_events_per_s"], "events/s")
            else:
                add(figures, label, figures["requests_per_s"], "requests/s", goal)
            add(figures, "  request latency p50", figures["latency_ms"]["p50"], "ms")
            add(figures, "  request latency p99", figures["latency_ms"]["p99"], "ms")
            groups = figures.get("group_commit")
            if groups:
                add(figures, "  group commits", groups["commits_per_s"], "commits/s")
                add(figures, "  events per commit", groups["events_per_commit"], "events")
            if figures["failed_requests"]:
                add(figures, "  FAILED requests", figures["failed_requests"], "requests")

        batch, ceil, proc = res.get("batch"), res.get("ceiling"), res.get("processing")
        goal = ">= 50,000" if name == "postgresql" else ""
        loads("batch", "batch intake (100 events/request)", goal)
        if ceil:
            add(ceil, f"ceiling ({ceil['method']})", ceil["events_per_s"], "events/s")
            if batch:
                ratio = round(batch["events_per_s"] / ceil["events_per_s"], 3)
                add(ceil, "  intake / ceiling", ratio, "ratio", ">= 0.3")
            if "text_copy" in ceil:
                text_copy = ceil["text_copy"]
                add(
                    text_copy,
                    "  text COPY (earlier runs' ceiling)",
                    text_copy["events_per_s"],
                    "events/s",
                )
                if batch:
                    ratio = round(batch["events_per_s"] / text_copy["events_per_s"], 3)
                    add(text_copy, "  intake / text COPY", ratio, "ratio")
            append = ceil["append"]
            label = f"  server append() alone, {append['rows_per_transaction']} rows/tx"
            add(append, label, append["events_per_s"], "events/s")
            if "binary_unnest" in ceil:
                unnest = ceil["binary_unnest"]
                label = "  what-if: append as binary unnest()"
                add(unnest, label, unnest["events_per_s"], "events/s")
        loads("single", "single /v1/track", ">= 5,000")
        setting = report["arguments"].get("gc_setting", "default")
        loads("gc_batch", f"what-if GC {setting}: batch intake")
        loads("gc_single", f"what-if GC {setting}: single /v1/track")
        live = res.get("live")
        if live:
            loads("live", "batch intake + processing in server")
            add(live, "  processing lag at end", live["processing"]["lag_at_end"], "events")
        if proc:
            add(proc, "processing catch-up", proc["events_per_s"], "events/s")
            if batch:
                ratio = round(proc["events_per_s"] / batch["events_per_s"], 3)
                add(proc, "  processing / batch intake", ratio, "ratio", ">= 1")
    return rows


def print_table(report: dict[str, Any]) -> None:
    base = report["baseline"]["before"]
    cpu = base["cpu_mloops_per_s"]
    print()
    print(
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{report['machine']['memory_mib']:,} MiB; Python {report['machine']['python']}; "
        f"PostgreSQL {report.get('postgresql') or 'n/a'}; SQLite {report['machine']['sqlite']}"
    )
    git = report["git"]
    dirty = (
        f", uncommitted changes in {len(git['changed_src'])} src files"
        if git["changed_src"]
        else ""
    )
    print(f"omnicx at {git['commit']} ({git['subject']}){dirty}")
    print(
        "Baseline (before / after): "
        + "; ".join(f"{k} {v} / {report['baseline']['after'].get(k)}" for k, v in base.items())
    )
    print()
    header = (
        f"{'backend':<11} {'figure':<44} {'value':>12} {'unit':<11} {'goal':<10} "
        f"{'/cpu':>9} {'/db':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in figure_rows(report):
        db_base = (
            base["pgbench_tps"] if row.backend == "postgresql" else base["sqlite_commits_per_s"]
        )
        rate = row.unit in ("events/s", "requests/s")
        probe = row.cpu or cpu
        per_cpu = f"{row.value / probe:9.0f}" if rate and row.value is not None and probe else ""
        per_db = f"{row.value / db_base:9.2f}" if rate and row.value is not None and db_base else ""
        if row.unit == "ratio" and row.value is not None:
            value = f"{row.value:12.2f}"
        elif isinstance(row.value, float):
            value = f"{row.value:12,.1f}"
        else:
            value = f"{row.value!s:>12}"
        print(
            f"{row.backend:<11} {row.figure:<44} {value} {row.unit:<11} {row.goal:<10} "
            f"{per_cpu:>9} {per_db:>9}"
        )
    print()
    print(
        "/cpu: the figure divided by the CPU probe (Mloops/s of a fixed Python loop) taken just "
        "before it; /db: divided by the backend's durable-transaction baseline (pgbench tps, "
        "SQLite commits/s)."
    )
    for name, res in report["backends"].items():
        for scenario in ("batch", "single", "gc_batch", "gc_single", "live"):
            if scenario in res:
                c = res[scenario]["cores"]
                failed = res[scenario]["failed_requests"]
                print(
                    f"CPU cores used, {name} {scenario}: "
                    + ", ".join(f"{k} {v}" for k, v in c.items())
                    + (f"; FAILED requests {failed}" if failed else "")
                )
    for app, figures in report.get("floor", {}).items():
        rate = figures["requests_per_s"]
        print(
            f"Floor, {app} ASGI app under uvicorn: {rate:,.0f} requests/s, p99 "
            f"{figures['latency_ms']['p99']} ms, server CPU "
            f"{1e6 * figures['cores']['server'] / max(rate, 1):.0f} us/request"
        )
    for name, res in report["backends"].items():
        found = [
            (k, v)
            for k, v in res.items()
            if k != "ceiling" and isinstance(v, dict) and v.get("runs")
        ]
        if res.get("ceiling"):
            found += [
                (f"ceiling {k}", v)
                for k, v in [("bulk", res["ceiling"]), *res["ceiling"].items()]
                if isinstance(v, dict) and v.get("runs")
            ]
        for key, figures in found:
            runs = figures["runs"]
            metric = next(iter(runs[0]))
            spread = " / ".join(
                f"{r[metric]:,.0f} (cpu {r['cpu_probe_mloops_per_s']})" for r in runs
            )
            print(f"Runs, {name} {key} ({metric}, median reported): {spread}")
    stages = report.get("stages")
    if stages:
        print(
            "\nIn-process cost per event (one thread, best of 7): batch parse "
            f"{stages['batch_parse_us_per_event']} us + prepare "
            f"{stages['batch_prepare_us_per_event']} us; single parse "
            f"{stages['single_parse_us_per_event']} us + prepare "
            f"{stages['single_prepare_us_per_event']} us"
        )
    for name, res in report["backends"].items():
        for scenario, per in (
            ("batch", "event"),
            ("single", "request"),
            ("gc_batch", "event"),
            ("gc_single", "request"),
            ("live", "event"),
        ):
            if scenario in res:
                figures = res[scenario]
                rate = figures["events_per_s"] if per == "event" else figures["requests_per_s"]
                if rate:
                    server = 1e6 * figures["cores"]["server"] / rate
                    database = 1e6 * figures["cores"]["postgresql"] / rate
                    print(
                        f"CPU per {per}, {name} {scenario}: server {server:.1f} us"
                        + (f", PostgreSQL {database:.1f} us" if name == "postgresql" else "")
                    )
    for name, res in report["backends"].items():
        ceil = res.get("ceiling")
        if ceil:
            pairs = [("ceiling", ceil), ("append() alone", ceil["append"])]
            if "text_copy" in ceil:
                pairs.append(("text COPY", ceil["text_copy"]))
            if "binary_unnest" in ceil:
                pairs.append(("what-if binary unnest append", ceil["binary_unnest"]))
            if res.get("processing"):
                pairs.append(("processing catch-up", res["processing"]))
            for label, figures in pairs:
                database = figures.get("postgresql_cpu_us_per_event")
                print(
                    f"CPU per event, {name} {label}: client {figures['client_cpu_us_per_event']} us"
                    + (f", PostgreSQL {database} us" if database is not None else "")
                )
    for name, res in report["backends"].items():
        for scenario in ("batch", "single", "live"):
            profile = res.get(scenario, {}).get("profile")
            if profile:
                print(
                    f"\nProfile {name} {scenario} ({profile['samples']} samples, {profile['file']})"
                )
                print("  by thread: " + ", ".join(f"{r} {p}%" for r, p in profile["roles"]))
                print("  by library: " + ", ".join(f"{c} {p}%" for c, p in profile["components"]))
                print("  top self time:")
                for frame, pct in profile["self"][:12]:
                    print(f"  {pct:5.1f}%  {frame}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per load")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=1, help="omnicx serve --workers")
    parser.add_argument("--concurrency", type=int, default=32, help="connections sending batches")
    parser.add_argument(
        "--single-concurrency", type=int, default=128, help="connections sending single events"
    )
    parser.add_argument("--batch-size", type=int, default=100, help="messages per batch")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each load and ceiling this many times and report the median run",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--scenarios",
        default="stages,floor,batch,single,live,ceiling,processing",
        help="comma-separated subset of stages,floor,batch,single,gc,live,ceiling,processing "
        "(gc: what-if runs under bench/serve_gc.py's garbage-collector settings)",
    )
    parser.add_argument("--ceiling-rows", type=int, default=200_000)
    parser.add_argument(
        "--ceiling-chunk",
        type=int,
        default=20_000,
        help="rows per transaction in the bulk-insert ceiling",
    )
    parser.add_argument(
        "--append-chunk",
        type=int,
        default=2_000,
        help="rows per transaction when timing append() alone",
    )
    parser.add_argument("--processing-seconds", type=float, default=30)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="seconds to wait, before each measurement, for other programs to go quiet",
    )
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-database", default="omnicx_bench")
    parser.add_argument(
        "--py-spy",
        default=None,
        metavar="PATH",
        help="profile the server with this py-spy binary (perturbs figures)",
    )
    parser.add_argument(
        "--py-spy-gil",
        action="store_true",
        help="sample only the thread holding the GIL (where Python CPU time goes)",
    )
    parser.add_argument(
        "--py-spy-idle",
        action="store_true",
        help="keep idle samples too (wall time per thread: what the writer waits for)",
    )
    parser.add_argument(
        "--py-spy-native",
        action="store_true",
        help="include C frames (e.g. gc_collect_main); pauses the server at each sample",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    for url in (args.pg_admin_url,):
        if "127.0.0.1" not in url and "localhost" not in url:
            parser.error("the benchmark only talks to 127.0.0.1")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds: servers stopped, temporary files removed


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        _say("wrk is needed: apt-get install -y wrk")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "started": stamp,
        "arguments": {k: str(v) for k, v in vars(args).items()}
        | {"gc_setting": os.environ.get("OMNICX_BENCH_GC", "default")},
        "machine": machine(),
        "git": git_state(),
        "postgresql": pg_version(args.pg_admin_url) if "postgresql" in names else None,
        "messages": dict(
            zip(
                ("mean_bytes", "min_bytes", "max_bytes"), sample_events.message_sizes(), strict=True
            )
        ),
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="omnicx-bench-") as tmp:
        workdir = Path(tmp)
        _say("baseline ...")
        report["baseline"] = {"before": baseline(args, workdir)}
        if "stages" in args.scenarios.split(","):
            _say("stage costs (in-process) ...")
            busy = wait_for_quiet(args.quiet_wait)
            report["stages"] = stage_costs(args.batch_size) | {"busy_cores_before": busy}
        if "floor" in args.scenarios.split(","):
            report["floor"] = floor(args, workdir, stamp)
        for name in names:
            report["backends"][name] = bench_backend(name, args, workdir, stamp)
        _say("baseline again ...")
        report["baseline"]["after"] = baseline(args, workdir)
    if "postgresql" in names:
        drop_pg_database(args.pg_admin_url, args.pg_database)
    output = args.out / f"intake-{stamp}.json"
    output.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"\nWrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
