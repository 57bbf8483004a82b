"""The event lake's incremental update rate, for bench/analytics.py: the lake writer on
stored events built in memory, and the lake consumer and a rebuild on a real SQLite database
loaded by `omnicx demo`; beside the intake rate docs/performance.md records."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def update_in_memory(events: int, batch: int) -> dict[str, Any]:
    """The lake writer's work per batch (event_table, append_events, append_people, compact,
    manifest) on stored events built in memory from realistic Segment messages."""
    import random
    from datetime import UTC, datetime, timedelta

    import orjson

    import events as sample_events
    from omnicx.analytics import writer
    from omnicx.analytics.consumer import event_table
    from omnicx.analytics.layout import collect_garbage, read_manifest, write_manifest
    from omnicx.collect.processing import StoredEvent

    rng = random.Random(5)
    now = datetime.now(UTC).replace(hour=12)
    channels = ("web", "ios", "android", "store_pos", "email", "sms")
    templates = []
    for _ in range(batch):
        message = sample_events.message(rng, now)
        message["messageId"] = str(rng.getrandbits(64))
        templates.append(message)
    payloads = [orjson.dumps(m).decode() for m in templates]
    sources = {i: f"source-{c}" for i, c in enumerate(channels, 1)}
    profiles = [f"{rng.getrandbits(128):032x}" for _ in range(50_000)]
    lake_dir = Path(tempfile.mkdtemp(prefix="omnicx-bench-update-"))
    done = 0
    spent = 0.0
    batches: list[float] = []
    first_id = 1
    while done < events:
        stored = []
        anchors: dict[int, tuple[int, str | None]] = {}
        for offset, (message, payload) in enumerate(zip(templates, payloads, strict=True)):
            event_id = first_id + offset
            source = 1 + event_id % len(channels)
            moment = now + timedelta(milliseconds=event_id)
            stored.append(
                StoredEvent(
                    event_id,
                    source,
                    channels[source - 1],
                    message["messageId"] + str(event_id),
                    message["type"],
                    message.get("event"),
                    message.get("userId"),
                    message.get("anonymousId"),
                    moment,
                    moment,
                    payload,
                )
            )
            person = event_id * 7919 % len(profiles)
            anchors[event_id] = (person + 1, profiles[person])
        started = time.perf_counter()
        manifest = read_manifest(lake_dir)
        table = event_table(stored, anchors, sources)
        manifest = writer.append_events(lake_dir, manifest, table)
        manifest = writer.append_people(lake_dir, manifest, dict(anchors.values()))
        manifest = writer.compact(lake_dir, manifest)
        manifest = collect_garbage(lake_dir, manifest)
        write_manifest(lake_dir, manifest)
        batches.append(time.perf_counter() - started)
        spent += batches[-1]
        done += len(stored)
        first_id += len(stored)
    result = {
        "events": done,
        "batch": batch,
        "seconds": round(spent, 3),
        "events_per_s": round(done / spent),
        "batch_seconds_median": round(sorted(batches)[len(batches) // 2], 3),
        "batch_seconds_max": round(max(batches), 3),
        "files_after": len(read_manifest(lake_dir).event_files),
    }
    _remove(lake_dir)
    return result


def update_from_sqlite(customers: int, workdir: Path) -> dict[str, Any]:
    """A real database: `omnicx demo`, then the lake consumer catching up from nothing in
    batches of 20,000 (as the processing stage runs it), and `maintenance.rebuild`."""
    from sqlalchemy import func, select

    from omnicx.analytics import maintenance
    from omnicx.analytics.consumer import CONSUMER_NAME, LakeWriter
    from omnicx.analytics.layout import read_manifest
    from omnicx.collect.processing import process_once, reset
    from omnicx.collect.tables import events as events_table
    from omnicx.store.engine import make_engine

    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "demo.db"
    url = f"sqlite:///{database}"
    demo_seconds = None
    if not database.exists():
        started = time.perf_counter()
        omnicx = Path(sys.executable).with_name("omnicx")
        subprocess.run(
            [str(omnicx), "demo", "--customers", str(customers), "--db", url, "--output",
             str(workdir / "out")],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        demo_seconds = round(time.perf_counter() - started, 1)
    engine = make_engine(url)
    lake_dir = workdir / "bench-lake"
    try:
        with engine.connect() as connection:
            stored = int(
                connection.execute(select(func.count()).select_from(events_table)).scalar() or 0
            )
        _remove(lake_dir)
        with engine.begin() as connection:
            reset(connection, [CONSUMER_NAME])
        consumer = LakeWriter(lake_dir)
        handled = 0
        started = time.perf_counter()
        while count := process_once(engine, consumer, batch_size=LakeWriter.batch_size):
            handled += count
        consumer_seconds = time.perf_counter() - started
        started = time.perf_counter()
        manifest = maintenance.rebuild(engine, lake_dir)
        rebuild_seconds = time.perf_counter() - started
        rebuilt = read_manifest(lake_dir).rows()
    finally:
        engine.dispose()
    return {
        "customers": customers,
        "stored_events": stored,
        "demo_seconds": demo_seconds,
        "consumer_events": handled,
        "consumer_seconds": round(consumer_seconds, 3),
        "consumer_events_per_s": round(handled / consumer_seconds),
        "rebuild_events": rebuilt,
        "rebuild_seconds": round(rebuild_seconds, 3),
        "rebuild_events_per_s": round(rebuilt / rebuild_seconds),
        "rebuild_files": len(manifest.event_files),
    }


def intake_rate() -> tuple[float, str]:
    """The batch intake rate docs/performance.md records (SQLite), with where it came from."""
    import re

    text = (ROOT / "docs" / "performance.md").read_text()
    found = re.search(r"\*\*batch intake\*\*[^|]*\|\s*\*\*([\d,]+)\*\*", text)
    if not found:
        return 15_452.0, "docs/performance.md not readable: 15,452 assumed"
    return float(found.group(1).replace(",", "")), "docs/performance.md, batch intake (SQLite)"


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
