"""Benchmark of audiences.batch_sql: 100 segments (bench/audiences_segments.py) over N synthetic
people with ~50 hits each, DuckDB on 2 threads. Prints figures; checks a sample against
`evaluate`.

    .venv/bin/python bench/audiences_batch_sql.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import audiences_segments  # noqa: E402
from omnicx.audiences import PersonFacts, evaluate, parse_definition  # noqa: E402
from omnicx.audiences.batch_sql import (  # noqa: E402
    PEOPLE_SCHEMA,
    evaluate_batch,
    evaluate_batch_arrow,
)
from omnicx.audiences.definition import COMPUTED_TRAITS, event_conditions  # noqa: E402

NOW = datetime(2026, 11, 20, 15, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
DAY_US = 86_400 * 1_000_000
CHANNELS = ["web", "ios", "android", "store_pos", "email", "social"]
NAMES = [*audiences_segments.EVENTS, "Comment Posted"]
NAME_WEIGHTS = np.array([30, 8, 4, 6, 3, 10, 4, 8, 1, 8, 1], dtype=float)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def matches(condition, names, channels, totals, categories) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Vectorised evaluate.matches for the benchmark's kinds of filters."""
    mask = names == NAMES.index(condition.event)
    if condition.channel is not None:
        mask &= np.isin(channels, [CHANNELS.index(c) for c in condition.channel])
    for f in condition.where:
        if f.property == "total" and f.op == "gt":
            mask &= totals > f.value
        elif f.property == "total" and f.op == "between":
            mask &= (totals >= f.value[0]) & (totals <= f.value[1])
        elif f.property == "category" and f.op == "eq":
            mask &= categories == audiences_segments.CATEGORIES.index(f.value)
        else:
            raise NotImplementedError(f)
    return mask


def people_table(n: int, rng: np.random.Generator) -> pa.Table:
    ids = pa.array(
        [str(uuid.UUID(int=int(x) << 64 | i)) for i, x in enumerate(rng.integers(0, 2**62, n))]
    )
    first = rng.random(n) < 0.6
    cities = np.array(['"Ankara"', '"İzmir"', '"Bağcılar"', '"Istanbul"', '"Bursa"'])
    city = cities[rng.integers(0, len(cities), n)]
    signup = [
        f'"2025-{m:02d}-{d:02d}"'
        for m, d in zip(rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
    ]
    keys, values, offsets = [], [], [0]
    for i in range(n):
        if first[i]:
            keys.append("firstName")
            values.append('"Ada"')
        keys += ["city", "signup"]
        values += [city[i], signup[i]]
        offsets.append(len(keys))
    traits = pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys), pa.array(values)
    )
    columns: dict[str, pa.Array] = {"person_id": ids, "traits": traits}
    orders = rng.poisson(1.5, n).astype(float)
    for name, kind in COMPUTED_TRAITS.items():
        if name == "orders":
            columns[name] = pa.array(orders)
        elif name == "events":
            columns[name] = pa.array(rng.poisson(50, n).astype(float))
        elif name == "lifetime_value":
            columns[name] = pa.array(orders * rng.uniform(10, 200, n))
        elif name == "channels":
            picks = rng.random((n, len(CHANNELS))) < 0.3
            flat = np.array(CHANNELS)[picks.nonzero()[1]]
            columns[name] = pa.ListArray.from_arrays(
                pa.array(np.concatenate([[0], np.cumsum(picks.sum(axis=1))]), pa.int32()),
                pa.array(flat),
            )
        elif name == "preferred_channel":
            columns[name] = pa.array(np.array(CHANNELS)[rng.integers(0, len(CHANNELS), n)])
        elif name == "rfm.code":
            codes = np.array(["555", "554", "545", "111", "321", "432"])
            columns[name] = pa.array(codes[rng.integers(0, len(codes), n)])
        elif name == "open_cart":
            has = rng.random(n) < 0.2
            columns[name] = pa.array(np.where(has, '{"items":[],"value":10.0}', None))
        elif kind == "instant":
            columns[name] = pa.array(
                NOW_US - rng.integers(0, 400 * DAY_US, n), pa.timestamp("us", tz="UTC")
            )
        else:
            columns[name] = pa.nulls(n, PEOPLE_SCHEMA.field(name).type)
    identity_kinds = np.array(["email", "phone"])
    has = rng.random((n, 2)) < [0.7, 0.4]
    columns["identities"] = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(has.sum(axis=1))]), pa.int32()),
        pa.array(identity_kinds[has.nonzero()[1]]),
    )
    consent_kinds = np.array(["email/marketing", "sms/marketing"])
    has = rng.random((n, 2)) < [0.5, 0.3]
    columns["consents"] = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(has.sum(axis=1))]), pa.int32()),
        pa.array(consent_kinds[has.nonzero()[1]]),
    )
    columns["memberships"] = pa.array([[]] * n, pa.list_(pa.string()))
    return pa.table([columns[f.name] for f in PEOPLE_SCHEMA], schema=PEOPLE_SCHEMA)


def hits_table(
    ids: pa.Array, conditions: dict, per_person: float, rng: np.random.Generator, dictionary: bool
) -> pa.Table:  # type: ignore[type-arg]
    n = len(ids)
    counts = rng.poisson(per_person, n)
    person = np.repeat(np.arange(n, dtype=np.int32), counts)
    m = len(person)
    names = rng.choice(len(NAMES), m, p=NAME_WEIGHTS / NAME_WEIGHTS.sum())
    channels = rng.integers(0, len(CHANNELS), m)
    totals = rng.choice([10, 25, 60, 120, 180, 250, 1500], m)
    categories = rng.integers(0, len(audiences_segments.CATEGORIES), m)
    # Up to 200 days back, 1% stamped up to a day ahead (a device's clock).
    ts = NOW_US - rng.integers(0, 200 * DAY_US, m)
    ts = np.where(rng.random(m) < 0.01, NOW_US + rng.integers(1, DAY_US, m), ts)
    keys = sorted(conditions)
    parts_person, parts_key, parts_ts = [], [], []
    for k, key in enumerate(keys):
        mask = matches(conditions[key], names, channels, totals, categories)
        parts_person.append(person[mask])
        parts_key.append(np.full(mask.sum(), k, dtype=np.int32))
        parts_ts.append(ts[mask])
    person_index = np.concatenate(parts_person)
    key_index = np.concatenate(parts_key)
    order = np.argsort(person_index, kind="stable")  # an export ordered by person
    person_index, key_index = person_index[order], key_index[order]
    times = np.concatenate(parts_ts)[order]
    people_ids = pa.DictionaryArray.from_arrays(pa.array(person_index), ids)
    if not dictionary:
        people_ids = people_ids.cast(pa.string())
    key_column = pa.DictionaryArray.from_arrays(pa.array(key_index), pa.array(keys))
    if not dictionary:
        key_column = key_column.cast(pa.string())
    return pa.table(
        {
            "person_id": people_ids,
            "key": key_column,
            "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def facts_of(
    people: pa.Table, hits: pa.Table, rows: list[int], keys: list[str]
) -> dict[str, PersonFacts]:
    """Reads people back from the tables (the sample checked against evaluate)."""
    chosen = people.take(rows).to_pylist()
    wanted = pa.array([r["person_id"] for r in chosen])
    mine = hits.filter(pc.is_in(hits["person_id"].cast(pa.string()), wanted)).to_pylist()
    times: dict[str, dict[str, list[datetime]]] = {}
    for h in mine:
        times.setdefault(h["person_id"], {}).setdefault(h["key"], []).append(h["ts"])
    found = {}
    for r in chosen:
        events = {k: sorted(times.get(r["person_id"], {}).get(k, [])) for k in keys}
        computed = {}
        for name, kind in COMPUTED_TRAITS.items():
            value = r[name]
            if kind == "set" and value is not None:
                value = frozenset(value)
            if kind == "object" and value is not None:
                value = json.loads(value)
            computed[name] = value
        found[r["person_id"]] = PersonFacts(
            traits={k: json.loads(v) for k, v in r["traits"]},
            computed=computed,
            identities={t: {"x"} for t in r["identities"]},
            consents={tuple(c.split("/", 1)): True for c in r["consents"]},  # type: ignore[misc]
            memberships=frozenset(r["memberships"]),
            events=events,
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--hits", type=float, default=50.0, help="hits per person, on average")
    parser.add_argument(
        "--dictionary", action="store_true", help="hits' person_id dictionary-encoded"
    )
    parser.add_argument("--sample", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    definitions = [(k, parse_definition(d)) for k, d in audiences_segments.segments().items()]
    conditions: dict = {}
    for _, d in definitions:
        conditions.update(event_conditions(d))
    say(f"{len(definitions)} segments, {len(conditions)} event condition keys")
    started = time.perf_counter()
    people = people_table(args.people, rng)
    # Events per person so that hits come to ~`--hits` each (an event matches ~1.6 keys).
    hits = hits_table(
        people["person_id"].combine_chunks(), conditions, args.hits / 1.6, rng, args.dictionary
    )
    say(
        f"data: {people.num_rows:,} people, {hits.num_rows:,} hits "
        f"({hits.num_rows / people.num_rows:.1f} per person), {people.nbytes / 1e9:.2f} + "
        f"{hits.nbytes / 1e9:.2f} GB, built in {time.perf_counter() - started:.0f} s"
    )

    db = duckdb.connect()
    db.execute("SET threads = 2")
    figures = {}

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    for attempt in range(args.repeat):
        members = {}  # let the previous run's sets go first
        load = os.getloadavg()[0]
        started, cpu0 = time.perf_counter(), cpu()
        result = evaluate_batch_arrow(db, people, hits, definitions, NOW)
        arrow_s, arrow_cpu = time.perf_counter() - started, cpu() - cpu0
        started, cpu0 = time.perf_counter(), cpu()
        members = evaluate_batch(db, people, hits, definitions, NOW)
        sets_s, sets_cpu = time.perf_counter() - started, cpu() - cpu0
        say(
            f"run {attempt + 1} (load {load:.1f}): Arrow result {arrow_s:.1f} s "
            f"({arrow_cpu:.1f} s CPU); members as Python sets {sets_s:.1f} s ({sets_cpu:.1f} s CPU)"
        )
        figures = {
            "arrow_result_s": round(arrow_s, 2),
            "arrow_result_cpu_s": round(arrow_cpu, 2),
            "python_sets_s": round(sets_s, 2),
            "python_sets_cpu_s": round(sets_cpu, 2),
        }

    total = sum(len(v) for v in members.values())
    rows = sorted(
        rng.choice(people.num_rows, min(args.sample, people.num_rows), replace=False).tolist()
    )
    sample = facts_of(people, hits, rows, sorted(conditions))
    wrong = 0
    by_key: dict[str, int] = {}
    for person_id, facts in sample.items():
        held: set[str] = set()
        for key, definition in definitions:
            yes = evaluate(definition, _with(facts, held), NOW)
            if yes:
                held.add(key)
            if yes != (person_id in members[key]):
                wrong += 1
                by_key[key] = by_key.get(key, 0) + 1
    if by_key:
        say(f"disagreements by segment: {by_key}")
    print(
        json.dumps(
            {
                "people": people.num_rows,
                "hits": hits.num_rows,
                "segments": len(definitions),
                "threads": 2,
                "hits_person_id_dictionary": args.dictionary,
                **figures,
                "members_total": total,
                "sample_checked": len(sample),
                "sample_disagreements": wrong,
                "result_rows": result.num_rows,
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
    )


def _with(facts: PersonFacts, held: set[str]) -> PersonFacts:
    from dataclasses import replace

    return replace(facts, memberships=frozenset(held))


if __name__ == "__main__":
    main()
