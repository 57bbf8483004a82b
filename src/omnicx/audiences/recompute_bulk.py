"""The batch recompute's bulk path: every profile at once, in DuckDB, with `evaluate`'s answers.

`evaluate_in_bulk` exports every profile's facts (bulk_export), evaluates the plan's segments
with batch_sql in one query and compares the answer with the stored members there too. A
segment batch_sql cannot compile (`split`: none of today's definitions, but the compiler may
refuse what it does not know) is left to the Python evaluator, with every segment that refers
to it; recompute runs those page by page as before, reading the bulk answers of the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa
from sqlalchemy import Connection

from omnicx.audiences.batch_sql import compile_segments, evaluate_batch_arrow
from omnicx.audiences.bulk_export import database, export_facts
from omnicx.audiences.definition import SegmentCondition, walk
from omnicx.audiences.membership import Plan
from omnicx.audiences.segments import Segment

log = logging.getLogger("omnicx.audiences")


@dataclass(slots=True)
class BulkAnswer:
    """What the bulk evaluation found: per segment key, members by the batch, live (stored)
    members, and those only in one of them; per profile whose answer differs from the stored
    members, its members by the batch (segment ids)."""

    profiles: int = 0
    members: dict[str, int] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    changed: dict[str, frozenset[int]] = field(default_factory=dict)
    keys_of: dict[str, frozenset[str]] | None = None
    """With `keep_answers`: every profile's segments (keys) by the batch."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Time taken by each stage: export, evaluate, compare (for benchmarks and logs)."""


def split(plan: Plan, now: datetime) -> tuple[list[Segment], list[Segment]]:
    """The plan's segments (in order) batch_sql evaluates, and those left to the Python
    evaluator: one batch_sql cannot compile, and any segment referring to such a one."""
    bulk: list[Segment] = []
    python: list[Segment] = []
    left: set[str] = set()
    for segment in plan.segments:
        refers = {c.segment for _, c in walk(segment.definition) if isinstance(c, SegmentCondition)}
        if refers & left or not _compiles(segment, now):
            python.append(segment)
            left.add(segment.key)
        else:
            bulk.append(segment)
    return bulk, python


def _compiles(segment: Segment, now: datetime) -> bool:
    try:
        compile_segments([(segment.key, segment.definition)], now)
    except (ValueError, TypeError, NotImplementedError):
        return False
    return True


def evaluate_in_bulk(
    connection: Connection,
    segments: Sequence[Segment],
    now: datetime,
    *,
    held: Mapping[int, str],
    keep_answers: bool = False,
) -> BulkAnswer:
    """Evaluates every current profile against `segments` (in evaluation order) and compares
    with their stored members; `held` (segment id -> key) are the stored segments the run
    does not evaluate, whose memberships conditions read."""
    db = database()
    try:
        started = time.perf_counter()
        facts = export_facts(connection, db, held=held)
        exported = time.perf_counter()
        definitions = [(s.key, s.definition) for s in segments]
        result = evaluate_batch_arrow(db, facts.people, facts.hits, definitions, now)
        evaluated = time.perf_counter()
        answer = _compare(db, result, facts.members, {s.id: s.key for s in segments})
        answer.profiles = facts.people.num_rows
        if keep_answers:
            answer.keys_of = _keys_of(result)
        answer.seconds = {
            "export": exported - started,
            "evaluate": evaluated - exported,
            "compare": time.perf_counter() - evaluated,
        }
        log.info(
            "bulk evaluation of %d segments for %d profiles (%d hits): %s",
            len(segments), answer.profiles, facts.hits.num_rows,
            ", ".join(f"{stage} {s:.2f} s" for stage, s in answer.seconds.items()),
        )  # fmt: skip
        return answer
    finally:
        db.close()


_JOINED = """
CREATE TEMP TABLE x_joined AS
WITH batch AS (
  SELECT person_id, key FROM (
    UNPIVOT x_result ON COLUMNS(* EXCLUDE (person_id)) INTO NAME key VALUE member
  ) WHERE member
),
live AS (
  SELECT m.profile_id AS person_id, p.key FROM x_stored m JOIN x_planned p ON p.id = m.segment_id
)
SELECT coalesce(b.person_id, l.person_id) AS person_id, coalesce(b.key, l.key) AS key,
  b.person_id IS NOT NULL AS in_batch, l.person_id IS NOT NULL AS in_live
FROM batch b FULL OUTER JOIN live l ON l.person_id = b.person_id AND l.key = b.key
"""
_COUNTS = """
SELECT key, count(*) FILTER (WHERE in_batch), count(*) FILTER (WHERE in_live),
  count(*) FILTER (WHERE in_batch AND NOT in_live), count(*) FILTER (WHERE in_live AND NOT in_batch)
FROM x_joined GROUP BY key
"""
_CHANGED = """
SELECT j.person_id, list(p.id) FILTER (WHERE j.in_batch) AS members
FROM x_joined j JOIN x_planned p ON p.key = j.key
WHERE j.person_id IN (SELECT person_id FROM x_joined WHERE in_batch <> in_live)
GROUP BY j.person_id
"""


def _compare(
    db: duckdb.DuckDBPyConnection,
    result: pa.Table,
    stored: pa.Table,
    planned: Mapping[int, str],
) -> BulkAnswer:
    answer = BulkAnswer()
    for key in planned.values():
        for counter in (answer.members, answer.live, answer.entered, answer.exited):
            counter[key] = 0
    if not planned:
        return answer
    db.register("x_result", result)
    db.register("x_stored", stored)
    db.register(
        "x_planned",
        pa.table({"id": pa.array(list(planned), pa.int64()), "key": list(planned.values())}),
    )
    try:
        db.execute(_JOINED)
        for key, members, live, entered, exited in db.sql(_COUNTS).fetchall():
            answer.members[key], answer.live[key] = int(members), int(live)
            answer.entered[key], answer.exited[key] = int(entered), int(exited)
        answer.changed = {
            person: frozenset(int(s) for s in (ids or ()))
            for person, ids in db.sql(_CHANGED).fetchall()
        }
        db.execute("DROP TABLE x_joined")
    finally:
        for name in ("x_result", "x_stored", "x_planned"):
            db.unregister(name)
    return answer


def _keys_of(result: pa.Table) -> dict[str, frozenset[str]]:
    """Each profile's segments (keys) in a result table."""
    found: dict[str, set[str]] = {}
    ids = result.column(0).to_pylist()
    for index, key in enumerate(result.column_names[1:], start=1):
        for person, member in zip(ids, result.column(index).to_pylist(), strict=True):
            if member:
                found.setdefault(person, set()).add(key)
    return {p: frozenset(keys) for p, keys in found.items()}


class BulkMismatch(RuntimeError):
    """The Python evaluator, asked again about profiles whose stored members the bulk answer
    would change, disagrees with it: the recompute stops (a bug to report; `--python` gives the
    Python evaluator's answer for everyone)."""
