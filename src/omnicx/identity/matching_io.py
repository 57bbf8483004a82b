"""Files for probabilistic matching: CSV, JSON Lines and Parquet in (every column as text),
the matched pairs out.

A file is read whole into a pyarrow table of strings, keeping each row's line number (its
row number for Parquet) so that errors found later (a duplicate id, an empty id) can say
where they are. Every problem raises MatchError with the file's name and the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
"""File extensions matching reads and writes, and the format each one means."""

OUTPUT_COLUMNS = ("left_id", "right_id", "match_probability")


class MatchError(ValueError):
    """Input that matching cannot use; the message says what is wrong and where."""


@dataclass(frozen=True, slots=True)
class Side:
    """One input of a match: its rows (every column text) and how to name a row in messages.

    `lines[i]` is where row i starts in the file (a line for CSV and JSON Lines, a row
    number for Parquet and in-memory frames, as `unit` says).
    """

    name: str
    table: pa.Table
    lines: Sequence[int] | None = None
    unit: str = "row"

    def where(self, index: int) -> str:
        """`A.csv line 17`: where row `index` (counted from 0) is."""
        number = self.lines[index] if self.lines is not None else index + 1
        return f"{self.name} {self.unit} {number}"


def detect_format(path: Path) -> str:
    """csv, jsonl or parquet, from the file's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise MatchError(f"{path}: cannot tell the format from the name; use one of {known}.")
    return fmt


def read_side(path: Path) -> Side:
    """Reads a CSV, JSON Lines or Parquet file; every value becomes text (None when empty)."""
    fmt = detect_format(path)
    if not path.exists():
        raise MatchError(f"{path}: no such file.")
    if not path.is_file():
        raise MatchError(f"{path}: not a file.")
    if fmt == "parquet":
        return _read_parquet(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MatchError(f"{path}: cannot be read: {exc.strerror or exc}.") from None
    text = _decode(data, path.name)
    return _read_csv(text, path.name) if fmt == "csv" else _read_jsonl(text, path.name)


def _decode(data: bytes, name: str) -> str:
    try:
        return codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MatchError(
            f"{name} line {line}: not UTF-8 text ({exc.reason}); save the file as UTF-8."
        ) from None


def _read_csv(text: str, name: str) -> Side:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise MatchError(f"{name} line 1: not valid CSV: {exc}.") from None
    if not header or not any(cell.strip() for cell in header):
        raise MatchError(f"{name}: the file is empty; a CSV file starts with a header line.")
    columns = [cell.strip() for cell in header]
    _check_unique(columns, name)
    values: list[list[str | None]] = [[] for _ in columns]
    lines: list[int] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise MatchError(f"{name} line {line}: not valid CSV: {exc}.") from None
        if not any(cell.strip() for cell in row):
            continue  # a blank line, or one of empty cells only
        if len(row) != len(columns):
            raise MatchError(
                f"{name} line {line}: {len(row)} values, but the header names "
                f"{len(columns)} columns."
            )
        for column, value in zip(values, row, strict=True):
            column.append(value if value.strip() else None)
        lines.append(line)
    table = pa.table({c: pa.array(v, pa.string()) for c, v in zip(columns, values, strict=True)})
    return Side(name, table, lines, "line")


def _read_jsonl(text: str, name: str) -> Side:
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MatchError(f"{name} line {number}: not valid JSON ({exc}).") from None
        if not isinstance(data, dict):
            raise MatchError(
                f"{name} line {number}: holds {type(data).__name__}, not an object; "
                "JSON Lines holds one record object per line."
            )
        rows.append(data)
        lines.append(number)
        columns.update(dict.fromkeys(data))
    arrays = {c: pa.array([_text(row.get(c)) for row in rows], pa.string()) for c in columns}
    return Side(name, pa.table(arrays) if arrays else pa.table({}), lines, "line")


def _text(value: Any) -> str | None:
    """A JSON value as text: strings as they are, numbers as written, objects as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return orjson.dumps(value).decode()


def _read_parquet(path: Path) -> Side:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise MatchError(f"{path.name}: not a readable Parquet file: {exc}.") from None
    _check_unique(table.column_names, path.name)
    return Side(path.name, strings(table), None, "row")


def strings(table: pa.Table) -> pa.Table:
    """The table with every column as text: numbers and dates as written, blanks as None."""
    import pyarrow.compute as pc

    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            text = column.cast(pa.string())
        elif pa.types.is_floating(kind):
            text = pa.chunked_array([pa.array([_text(v) for v in column.to_pylist()], pa.string())])
        elif pa.types.is_dictionary(kind):
            text = strings(pa.table({"c": column.cast(kind.value_type)})).column("c")
        else:
            try:
                text = column.cast(pa.string())
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                text = pa.chunked_array(
                    [pa.array([_text(_plain(v)) for v in column.to_pylist()], pa.string())]
                )
        blank = pc.equal(pc.utf8_trim_whitespace(text), "")
        columns[str(name)] = pc.if_else(blank, pa.scalar(None, pa.string()), text)
    return pa.table(columns) if columns else pa.table({})


def _plain(value: Any) -> Any:
    """Values pyarrow gives back that JSON cannot hold (bytes, dates inside lists)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _check_unique(columns: Sequence[str], name: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise MatchError(f"{name}: the column {column!r} appears twice in the header.")
        seen.add(column)


def check_output(path: Path) -> str:
    """The output's format; refuses before any work a path that could not be written."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MatchError(f"{path}: the output must end with .csv, .jsonl or .parquet.")
    folder = path.parent
    if not folder.is_dir():
        raise MatchError(f"{path}: cannot write there: no folder {folder}.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MatchError(f"{path}: cannot write there: not writable.")
    return fmt


def write_pairs(pairs: pa.Table, path: Path) -> None:
    """Writes the pairs as CSV, JSON Lines or Parquet (by extension), replacing the file whole."""
    fmt = check_output(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(pairs, temporary)
        elif fmt == "jsonl":
            with open(temporary, "wb") as out:
                for row in pairs.to_pylist():
                    out.write(orjson.dumps(row) + b"\n")
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(pairs.column_names)
                columns = [pairs.column(c).to_pylist() for c in pairs.column_names]
                writer.writerows([_cell(v) for v in row] for row in zip(*columns, strict=True))
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise MatchError(f"{path}: cannot be written: {exc.strerror or exc}.") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cell(value: object) -> object:
    return f"{value:.6f}" if isinstance(value, float) else value
