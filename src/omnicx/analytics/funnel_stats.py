"""A funnel's numbers per step and breakdown group, from `funnel_people` (funnel_sql.py):
people reaching each step, median and average time from the previous step and from the
start, and the histogram of time to convert.

Computed in numpy over the people's columns read once as Arrow: one pass per group and step
with a selection (numpy's median is a partition, linear), where DuckDB's `median` with
GROUPING SETS sorted each measure of each set: 0.5 s of a 4-step funnel over 1 M people
against about 0.1 s here. Medians interpolate between the two middle values, as DuckDB's
did; averages are numpy's sums, equal to DuckDB's to well under a microsecond.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from omnicx.analytics.funnel_results import HistogramBin, StepStats, TimeToConvert, histogram_edges
from omnicx.analytics.funnel_spec import FunnelSpec

GroupKey = tuple[str | None, bool, bool]
"""(value, other, overall)."""

OVERALL: GroupKey = (None, False, True)

Stats = tuple[tuple[StepStats, ...], TimeToConvert]


def group_stats(
    db: duckdb.DuckDBPyConnection, spec: FunnelSpec, kept: list[str], keep_null: bool
) -> dict[GroupKey, Stats]:
    """The numbers of everyone counted (OVERALL) and, with a breakdown, of each kept value,
    of no value (when `keep_null`) and of the other values, for the groups that have people.
    """
    n = len(spec.steps)
    # Null past the depth: 0 instead, never read (a column with nulls comes out as floats).
    times = ", ".join(f"coalesce(t{j}, 0) AS t{j}" for j in range(1, n + 1))
    people = db.sql(
        f"SELECT d, start, {times}, bv FROM funnel_people WHERE NOT excluded"
    ).to_arrow_table()
    depth = _integers(people.column("d"))
    start = _integers(people.column("start"))
    reached = [_integers(people.column(f"t{j}")) for j in range(1, n + 1)]
    edges = histogram_edges(int(spec.window.total_seconds()))
    # People sorted deepest first: those who reached step j are a prefix (views, not
    # selections); with a breakdown, sorted by group first, so a group is a slice.
    result = {OVERALL: _stats(spec, edges, *_sorted(n - depth, depth, start, reached))}
    if spec.breakdown is None or not len(depth):
        return result
    keys, groups = _groups(people.column("bv"), kept, keep_null)
    depth, start, reached = _sorted(groups * (n + 1) + (n - depth), depth, start, reached)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(groups, minlength=len(keys)))])
    for g, key in enumerate(keys):
        if bounds[g] < bounds[g + 1]:
            part = slice(bounds[g], bounds[g + 1])
            result[key] = _stats(spec, edges, depth[part], start[part], [t[part] for t in reached])
    return result


def _sorted(
    key: npt.NDArray[np.int64],
    depth: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    reached: list[npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """The people's columns in `key` order (a small key: numpy's stable sort of 16-bit
    integers is a radix sort)."""
    narrow = np.uint16 if not len(key) or int(key.max()) < 1 << 16 else np.uint32
    order = np.argsort(key.astype(narrow), kind="stable")
    return depth[order], start[order], [t[order] for t in reached]


def _integers(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    values: npt.NDArray[np.int64] = column.to_numpy().astype(np.int64, copy=False)
    return values


def _groups(
    values: pa.ChunkedArray, kept: list[str], keep_null: bool
) -> tuple[list[GroupKey], npt.NDArray[np.int64]]:
    """The group keys, and each person's group: a kept value, no value (kept), other."""
    keys: list[GroupKey] = [(value, False, False) for value in kept]
    null_group, other_group = len(keys), len(keys) + 1
    keys += [(None, False, False), (None, True, False)]
    encoded = values.combine_chunks().dictionary_encode()
    position = {value: g for g, value in enumerate(kept)}
    group_of = np.array(
        # One more, so that index 0 exists when every value is null (nulls are read at 0,
        # then set apart below).
        [position.get(value, other_group) for value in encoded.dictionary.to_pylist()] + [0],
        np.int64,
    )
    nulls = encoded.indices.is_null().to_numpy(zero_copy_only=False)
    groups = group_of[encoded.indices.fill_null(0).to_numpy().astype(np.int64, copy=False)]
    groups[nulls] = null_group if keep_null else other_group
    return keys, groups


def _stats(
    spec: FunnelSpec,
    edges: list[int],
    depth: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    reached: list[npt.NDArray[np.int64]],
) -> Stats:
    """The numbers of people sorted deepest first."""
    n = len(reached)
    at_least = np.cumsum(np.bincount(depth, minlength=n + 1)[::-1])[::-1]  # depth >= j
    numbers: list[Any] = []
    for j, t in enumerate(reached, 1):
        count = int(at_least[j])
        since_start = (t[:count] - start[:count]) / 1e6
        since_previous = (t[:count] - reached[j - 2][:count]) / 1e6 if j > 1 else None
        numbers += [count, *_median_average(since_previous), *_median_average(since_start)]
    steps = step_stats(spec, numbers)
    total = reached[-1][: at_least[n]] - start[: at_least[n]]
    inner = np.array(edges[1:-1], np.int64) * 1_000_000
    counts = np.bincount(np.searchsorted(inner, total, side="right"), minlength=len(edges) - 1)
    time = TimeToConvert(
        people=steps[-1].count,
        median_seconds=steps[-1].median_seconds_from_start,
        average_seconds=steps[-1].average_seconds_from_start,
        histogram=tuple(
            HistogramBin(edges[i], edges[i + 1], int(counts[i])) for i in range(len(edges) - 1)
        ),
    )
    return steps, time


def _median_average(values: npt.NDArray[np.float64] | None) -> tuple[float | None, float | None]:
    if values is None or not len(values):
        return None, None
    return float(np.median(values)), float(values.mean())


def step_stats(spec: FunnelSpec, numbers: Sequence[Any]) -> tuple[StepStats, ...]:
    """StepStats from five numbers per step: people, median and average from the previous
    step, median and average from the start."""
    steps = []
    first = previous = 0
    for j, step in enumerate(spec.steps, 1):
        count, median_previous, average_previous, median_start, average_start = numbers[
            (j - 1) * 5 : j * 5
        ]
        if j == 1:
            first = previous = count
        dropped = previous - count if j > 1 else 0
        steps.append(
            StepStats(
                index=j,
                name=step.name,
                event=step.event,
                count=count,
                conversion_from_start=count / first if first else None,
                conversion_from_previous=(count / previous if previous else None)
                if j > 1
                else None,
                dropped=dropped,
                drop_off=(dropped / previous if previous else None) if j > 1 else None,
                median_seconds_from_previous=median_previous,
                average_seconds_from_previous=average_previous,
                median_seconds_from_start=median_start,
                average_seconds_from_start=average_start,
            )
        )
        previous = count
    return tuple(steps)
