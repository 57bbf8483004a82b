"""Probabilistic matching of records that share no exact identifier, with Splink on DuckDB.

`match_files` links two files (a store's customer list against web accounts) or finds the
duplicates within one; `match_frames` does the same on pyarrow tables or pandas frames. Both
return every pair whose match probability is at least the threshold. What to compare is
inferred from the columns (names, then content; see matching_inference), blocking rules are
chosen by counting (see matching_model), and the model is trained without labels: nothing to
tune. To split pairs into automatic merges and a review band, match at the band's lower
bound and compare each pair's probability with the merge threshold.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicx.identity.matching_inference import (
    KINDS,
    Field,
    check_kinds,
    column_stats,
    infer_fields,
    parse_compare,
)
from omnicx.identity.matching_io import (
    OUTPUT_COLUMNS,
    MatchError,
    Side,
    check_output,
    read_side,
    strings,
    write_pairs,
)
from omnicx.identity.matching_model import Progress, Rule, prepare, safe_columns, score

__all__ = [
    "DEFAULT_THRESHOLD",
    "KINDS",
    "OUTPUT_COLUMNS",
    "Field",
    "MatchError",
    "MatchResult",
    "Progress",
    "match_files",
    "match_frames",
    "parse_compare",
]

DEFAULT_THRESHOLD = 0.9
"""Pairs at least this likely to be the same person are reported: nine in ten right at the
margin, and on the febrl benchmarks no pair above it is wrong (docs/identity-matching.md)."""


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The matched pairs and how they were found.

    `pairs` has the columns left_id, right_id (text) and match_probability (float), most
    likely first. When deduplicating one input, left_id < right_id and both come from it.
    """

    pairs: pa.Table
    linked: bool
    """True when two inputs were linked, False when one was deduplicated."""
    rows: tuple[int, ...]
    fields: tuple[Field, ...]
    """Every column but the id, with its kind ("ignore" when it is not compared) and why."""
    blocking: tuple[tuple[str, ...], ...]
    """The blocking rules as the columns each one requires equal; empty: every pair scored."""
    training: tuple[tuple[str, ...], ...]
    """The blocking rules the m probabilities were estimated on."""
    compared_pairs: int
    possible_pairs: int
    match_share: float
    """The estimated share of all possible pairs that are matches."""
    seconds: float

    @property
    def compared(self) -> tuple[Field, ...]:
        """The fields that are compared."""
        return tuple(f for f in self.fields if f.kind != "ignore")


def _silent(_phase: str, _message: str) -> None:
    return None


def match_files(
    left: Path,
    right: Path | None = None,
    *,
    id_column: str,
    threshold: float = DEFAULT_THRESHOLD,
    comparisons: Mapping[str, str] | None = None,
    blocking: Sequence[Sequence[str]] | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
) -> MatchResult:
    """Matches a CSV, JSON Lines or Parquet file against another, or against itself when
    `right` is None; writes the pairs to `out` (CSV, JSON Lines or Parquet) when given.

    `comparisons` sets the kind of some columns ({"dob": "date"}, "ignore" to leave one out);
    `blocking` replaces the automatic blocking rules (each one a list of columns that must
    be equal). Raises MatchError, naming the file and line, for input it cannot use.
    """
    report = progress or _silent
    started = time.perf_counter()
    _check_threshold(threshold)
    if out is not None:
        check_output(out)
    sides: list[Side] = []
    for path in (left,) if right is None else (left, right):
        done = ", ".join(f"{s.name} ({s.table.num_rows:,} rows)" for s in sides)
        report("reading", ", ".join(filter(None, (done, f"reading {path.name}"))))
        sides.append(read_side(path))
    report("reading", ", ".join(f"{s.name} ({s.table.num_rows:,} rows)" for s in sides))
    result = _match(sides, id_column, threshold, comparisons, blocking, report, started=started)
    if out is not None:
        report("writing", f"writing {len(result.pairs):,} pairs to {out.name}")
        write_pairs(result.pairs, out)
    return result


def match_frames(
    left: Any,
    right: Any | None = None,
    *,
    id_column: str,
    threshold: float = DEFAULT_THRESHOLD,
    comparisons: Mapping[str, str] | None = None,
    blocking: Sequence[Sequence[str]] | None = None,
    progress: Progress | None = None,
    names: tuple[str, str] = ("left", "right"),
) -> MatchResult:
    """Matches two pyarrow tables or pandas frames, or one against itself when `right` is
    None. Values are compared as text; `names` name the inputs in error messages."""
    started = time.perf_counter()
    _check_threshold(threshold)
    frames = (left,) if right is None else (left, right)
    sides = [
        Side(name, _as_table(frame, id_column)) for frame, name in zip(frames, names, strict=False)
    ]
    return _match(
        sides, id_column, threshold, comparisons, blocking, progress or _silent, started=started
    )


def _as_table(frame: Any, id_column: str) -> pa.Table:
    if isinstance(frame, pa.Table):
        return strings(frame)
    if isinstance(frame, pa.RecordBatch):
        return strings(pa.Table.from_batches([frame]))
    columns = getattr(frame, "columns", None)
    if columns is None or not hasattr(frame, "index"):
        raise TypeError(f"expected a pyarrow Table or a pandas DataFrame, got {type(frame)}")
    if id_column not in columns and getattr(frame.index, "name", None) == id_column:
        frame = frame.reset_index()  # febrl keeps its ids in the index
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        repeated = next(n for n in names if names.count(n) > 1)
        raise MatchError(f"the column {repeated!r} appears twice.")
    frame = frame.set_axis(names, axis=1).astype(object)
    frame = frame.where(frame.notna(), None)
    table = pa.table(
        {n: pa.array([_cell(v) for v in frame[n].tolist()], pa.string()) for n in names}
    )
    return strings(table)


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise MatchError(f"the threshold must be between 0 and 1, not {threshold}.")


def _match(
    sides: Sequence[Side],
    id_column: str,
    threshold: float,
    comparisons: Mapping[str, str] | None,
    blocking: Sequence[Sequence[str]] | None,
    report: Progress,
    *,
    started: float,
) -> MatchResult:
    import duckdb

    report("inferring", "checking the inputs")
    for side in sides:
        _check_side(side, id_column)
    columns = list(sides[0].table.column_names)
    if len(sides) == 2:
        _check_same_columns(sides[0], sides[1])
    overrides = dict(comparisons or {})
    check_kinds(overrides)
    for column in overrides:
        if column not in columns:
            raise MatchError(
                f"comparison for column {column!r}: {sides[0].name} has no such column; "
                f"the columns are {_listing(columns)}."
            )
    if overrides.get(id_column, "ignore") != "ignore":
        raise MatchError(f"{id_column!r} is the id column: it cannot be compared.")

    report("inferring", "working out what to compare")
    tables = [side.table for side in sides]
    stats = {c: column_stats(tables, c) for c in columns if c != id_column}
    fields = infer_fields(columns, stats, id_column=id_column, overrides=overrides)
    compared = [f for f in fields if f.kind != "ignore"]
    rows = tuple(side.table.num_rows for side in sides)
    if len(sides) == 1 and rows[0] < 2:  # one record: no pair to find, nothing to learn from
        empty = pa.table({c: pa.array([], pa.string()) for c in OUTPUT_COLUMNS[:2]})
        empty = empty.append_column(OUTPUT_COLUMNS[2], pa.array([], pa.float64()))
        return MatchResult(
            empty, False, rows, tuple(fields), (), (), 0, 0, 0.0, time.perf_counter() - started
        )
    if not compared:
        reasons = "; ".join(f"{f.column!r}: {f.reason}" for f in fields) or "no other column"
        raise MatchError(
            f"nothing to compare in {sides[0].name} besides the id column {id_column!r} "
            f"({reasons}); name a column's kind with --compare COLUMN:KIND."
        )
    safe = safe_columns(compared)
    rules = None
    if blocking is not None:
        by_name = {c.field.column: c for c in safe}
        rules = [_blocking_rule(rule, by_name, columns) for rule in blocking]

    con = duckdb.connect()
    try:
        names = [
            prepare(con, role, side.table, id_column, safe)
            for role, side in zip(("left", "right"), sides, strict=False)
        ]
        scored = score(
            con,
            names,
            rows,
            safe,
            threshold=threshold,
            blocking=rules,
            progress=report,
        )
    finally:
        con.close()
    return MatchResult(
        pairs=scored.pairs,
        linked=len(sides) == 2,
        rows=rows,
        fields=tuple(fields),
        blocking=tuple(_names(r) for r in scored.blocking),
        training=tuple(_names(r) for r in scored.training),
        compared_pairs=scored.compared_pairs,
        possible_pairs=scored.possible_pairs,
        match_share=scored.match_share,
        seconds=time.perf_counter() - started,
    )


def _names(rule: Rule) -> tuple[str, ...]:
    return tuple(c.field.column for c in rule.columns)


def _blocking_rule(rule: Sequence[str], by_name: Mapping[str, Any], columns: Sequence[str]) -> Any:
    if not rule:
        raise MatchError("a blocking rule needs at least one column.")
    chosen = []
    for column in rule:
        if column not in columns:
            raise MatchError(
                f"blocking rule {'+'.join(rule)!r}: no column {column!r}; "
                f"the columns are {_listing(columns)}."
            )
        if column not in by_name:
            raise MatchError(
                f"blocking rule {'+'.join(rule)!r}: the column {column!r} is not compared; "
                "block on compared columns (or give its kind with --compare)."
            )
        chosen.append(by_name[column])
    return chosen


def _listing(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _check_side(side: Side, id_column: str) -> None:
    import pyarrow.compute as pc

    table = side.table
    if id_column not in table.column_names:
        raise MatchError(
            f"{side.name}: no id column {id_column!r}; the columns are "
            f"{_listing(table.column_names) or 'none'}."
        )
    if table.num_rows == 0:
        raise MatchError(f"{side.name}: holds no records.")
    ids = table.column(id_column)
    if ids.null_count:
        first = pc.index(pc.is_null(ids), True).as_py()
        raise MatchError(f"{side.where(first)}: the id column {id_column!r} is empty.")
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        value = repeated[0]["values"].as_py()
        where = pc.indices_nonzero(pc.equal(ids, value)).to_pylist()[:2]
        raise MatchError(
            f"{side.where(where[1])}: the id {value!r} appears again "
            f"(first on {side.where(where[0]).removeprefix(side.name + ' ')}); "
            f"ids must be unique within {side.name}."
        )


def _check_same_columns(left: Side, right: Side) -> None:
    missing = [c for c in left.table.column_names if c not in right.table.column_names]
    extra = [c for c in right.table.column_names if c not in left.table.column_names]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"lacks {_listing(missing)}")
        if extra:
            problems.append(f"has {_listing(extra)} that {left.name} has not")
        raise MatchError(
            f"{right.name} does not have the columns of {left.name}: it "
            f"{' and '.join(problems)}. Both files need the same columns."
        )
