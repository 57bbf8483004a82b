"""Bulk import: CSV, JSON Lines and Parquet files stored as a source's events.

Each row becomes a spec message (through a mapping, or as-is) and passes the very checks of
the HTTP API (`messages.normalise`); valid rows are appended to the event stream in
transactions of CHUNK_ROWS rows, refused ones are written to a rejected-rows file. A row's
messageId is its mapped column, else a hash of the source and the row, so importing a file
again stores nothing twice. The file is streamed, never loaded whole.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError

from omnicx.collect import sources as source_service
from omnicx.collect.errors import IntakeError, describe_type, intake_error
from omnicx.collect.import_mapping import (
    IMPORT_TEXT,
    ImportFileError,
    ImportMapping,
    ImportSourceError,
    ImportStoreError,
    file_error,
    load_mapping,
    mapping_from_columns,
    parse_mapping,
    row_error,
)
from omnicx.collect.intake import rejection
from omnicx.collect.messages import DEFAULT_MESSAGE_LIMIT, normalise
from omnicx.collect.stream import StampedRow, append
from omnicx.collect.tables import imports
from omnicx.store.clock import utc_now

__all__ = [
    "CHUNK_ROWS",
    "ImportFileError",
    "ImportMapping",
    "ImportSourceError",
    "ImportStoreError",
    "ImportSummary",
    "count_rows",
    "detect_format",
    "import_file",
    "load_mapping",
    "parse_mapping",
]

CHUNK_ROWS = 5000
"""Rows per transaction: short enough not to hold the stream's append lock for long."""

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: rows read, stored, already there, refused (listed in rejected_path)."""

    rows: int
    stored: int
    duplicates: int
    rejected: int
    rejected_path: Path | None


@dataclass(frozen=True, slots=True)
class _Row:
    """One row as read: its line (or record) number, its data, or why it cannot be read."""

    number: int
    data: Any
    problem: IntakeError | None = None


def detect_format(path: Path, file_format: str | None = None) -> str:
    """Returns csv, jsonl or parquet: `file_format` when given, else from the file name."""
    if file_format is not None:
        if file_format.lower() not in FORMATS.values():
            raise file_error("bad_format", value=file_format)
        return file_format.lower()
    detected = FORMATS.get(path.suffix.lower())
    if detected is None:
        raise file_error("unknown_format", file=path.name)
    return detected


def count_rows(path: Path, file_format: str | None = None) -> int:
    """Counts a file's rows quickly, for progress bars (lines, so exact unless cells span lines)."""
    fmt = detect_format(path, file_format)
    if fmt == "parquet":
        with closing(_parquet_file(path)) as parquet:
            return int(parquet.metadata.num_rows)
    lines, last = 0, b"\n"
    for chunk in _chunks_of(path):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    lines += int(last != b"\n")  # a last line without its newline
    return max(lines - 1, 0) if fmt == "csv" else lines


def import_file(
    engine: Engine,
    path: Path,
    *,
    source_name: str,
    mapping: ImportMapping | None = None,
    file_format: str | None = None,
    rejected_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    message_limit: int = DEFAULT_MESSAGE_LIMIT,
) -> ImportSummary:
    """Imports a file as events of a source; `progress` gets the count of rows done so far.

    Raises ImportFileError, with nothing stored, for a missing or unreadable file, a wrong
    format, an unknown or disabled source, or a mapping the file does not fit.
    """
    fmt = detect_format(path, file_format)
    source = _source(engine, source_name)
    encoding = mapping.encoding if mapping else "utf-8-sig"
    digest = _digest(path, fmt, encoding)
    with _open_rows(path, fmt, mapping) as (columns, rows):
        build = _builder(mapping, columns, path.name)
        run = _Run(engine, source, path, rejected_path, message_limit)
        try:
            run.start(digest)
            while batch := list(islice(rows, CHUNK_ROWS)):
                run.store(batch, build)
                if progress:
                    progress(run.rows)
            return run.finish()
        finally:
            run.close()


_Builder = Callable[[Any, str], Any]
"""Turns a row's data into the message to check: (data, "row 17") -> message."""


def _builder(mapping: ImportMapping | None, columns: tuple[str, ...] | None, file: str) -> _Builder:
    if mapping is not None:
        if columns is not None:
            mapping.check_columns(columns, file)
        return partial(_mapped, mapping)
    if columns is None:  # JSON Lines without a mapping: each line is a message already
        return _as_is
    return mapping_from_columns(columns, file).message


def _as_is(data: Any, _where: str) -> Any:
    # A copy: normalise changes the message in place, and a rejected row is reported as read.
    return dict(data) if type(data) is dict else data


def _mapped(mapping: ImportMapping, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):  # a JSON Lines line holding an array or a number
        raise intake_error("invalid_body", where, expected="an object", got=describe_type(data))
    return mapping.message(data, where)


class _Run:
    """One import in progress: its counts, its `imports` row and its rejected-rows file."""

    def __init__(
        self,
        engine: Engine,
        source: source_service.Source,
        path: Path,
        rejected_path: Path | None,
        message_limit: int,
    ) -> None:
        self.engine, self.source, self.path, self.limit = engine, source, path, message_limit
        self.rejected_path = rejected_path or path.with_name(path.name + ".rejected.jsonl")
        _check_writable(self.rejected_path)
        self.rows = self.stored = self.duplicates = self.rejected = 0
        self.import_id = 0
        self._rejected_file: IO[bytes] | None = None

    def start(self, digest: str) -> None:
        """Records the import, so an interrupted one is visible with what it stored."""
        with self.engine.begin() as connection:
            key = connection.execute(
                imports.insert().values(
                    source_id=self.source.id, file_name=str(self.path.resolve()), sha256=digest,
                    rows=0, accepted=0, duplicates=0, rejected=0, started_at=utc_now(),
                )
            ).inserted_primary_key  # fmt: skip
        assert key is not None
        self.import_id = key[0]

    def store(self, batch: list[_Row], build: _Builder) -> None:
        """Checks a batch of rows and stores it, with the import's counts, in one transaction."""
        received_at = utc_now()
        valid: list[StampedRow] = []
        refused: list[tuple[_Row, IntakeError]] = []
        for row in batch:
            outcome = self._check(row, build, received_at)
            if isinstance(outcome, IntakeError):
                refused.append((row, outcome))
            else:
                valid.append(outcome)
        rejections = [rejection(self.source.id, received_at, e, r.data) for r, e in refused]
        with self._failing_as(batch), self.engine.begin() as connection:
            new = append(connection, valid, rejections)
            self.rows += len(batch)
            self.stored += new
            self.duplicates += len(valid) - new
            self.rejected += len(refused)
            connection.execute(
                update(imports)
                .where(imports.c.id == self.import_id)
                .values(rows=self.rows, accepted=self.stored, duplicates=self.duplicates,
                        rejected=self.rejected)
            )  # fmt: skip
        self._write_rejected(refused)

    @contextmanager
    def _failing_as(self, batch: list[_Row]) -> Iterator[None]:
        """Turns a database failure into an error naming the rows it hit (no traceback)."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise ImportStoreError(
                IMPORT_TEXT["store_failed"].format(
                    file=self.path.name, first=batch[0].number, last=batch[-1].number,
                    detail=str(getattr(exc, "orig", None) or exc).strip(),
                )
            ) from exc  # fmt: skip

    def finish(self) -> ImportSummary:
        """Marks the import finished and returns its summary."""
        with self.engine.begin() as connection:
            connection.execute(
                update(imports).where(imports.c.id == self.import_id).values(finished_at=utc_now())
            )
        self.close()
        if not self.rejected:
            # The file always describes the last run: one left by an earlier run would mislead.
            self.rejected_path.unlink(missing_ok=True)
        return ImportSummary(
            self.rows, self.stored, self.duplicates, self.rejected,
            self.rejected_path if self.rejected else None,
        )  # fmt: skip

    def close(self) -> None:
        """Closes the rejected-rows file if one was opened."""
        if self._rejected_file is not None:
            self._rejected_file.close()
            self._rejected_file = None

    def _check(self, row: _Row, build: _Builder, received_at: datetime) -> StampedRow | IntakeError:
        if row.problem is not None:
            return row.problem
        where = f"row {row.number}"
        try:
            message = build(row.data, where)
            if isinstance(message, dict) and message.get("messageId") in (None, ""):
                message["messageId"] = derived_message_id(self.source.name, row.data)
            fields = normalise(
                message, path=where, received_at=received_at,
                message_limit=self.limit,
            )  # fmt: skip
        except IntakeError as error:
            return error
        message_id, kind, name, user_id, anonymous_id, timestamp, payload = fields
        return StampedRow(
            self.source.id, self.source.channel, message_id, kind, name, user_id,
            anonymous_id, timestamp, received_at, payload,
        )  # fmt: skip

    def _write_rejected(self, refused: list[tuple[_Row, IntakeError]]) -> None:
        if not refused:
            return
        if self._rejected_file is None:
            self._rejected_file = self.rejected_path.open("wb")
        for row, error in refused:
            entry = {
                "line": row.number,
                "code": error.code,
                "reason": error.message,
                "row": row.data,
            }
            self._rejected_file.write(_dumps(entry) + b"\n")
        self._rejected_file.flush()


def _check_writable(path: Path) -> None:
    """Refuses, before storing anything, a rejected-rows file that could not be written later."""
    folder = path.parent
    if not folder.is_dir():
        raise file_error("rejected_dir", path=path, detail=f"no folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise file_error("rejected_dir", path=path, detail="not writable")


def derived_message_id(source_name: str, data: Any) -> str:
    """A messageId from the source and the row's content: the same row always gets the same."""
    content = _dumps(data, orjson.OPT_SORT_KEYS)
    return "import-" + hashlib.sha256(source_name.encode() + b"\0" + content).hexdigest()[:32]


def _dumps(value: Any, option: int = 0) -> bytes:
    return orjson.dumps(value, default=_fallback, option=option)


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # Decimal, timedelta: shown as written


def _source(engine: Engine, name: str) -> source_service.Source:
    with engine.connect() as connection:
        try:
            source = source_service.get_by_name_or_raise(connection, name)
        except source_service.SourceError as exc:
            raise ImportSourceError(str(exc)) from None
    if not source.enabled:
        raise ImportSourceError(intake_error("source_disabled", source=name).message)
    return source


def _chunks_of(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as file:
            while chunk := file.read(_READ_SIZE):
                yield chunk
    except FileNotFoundError:
        raise file_error("file_missing", file=path) from None
    except OSError as exc:
        raise file_error("file_unreadable", file=path, detail=exc.strerror or exc) from None


def _digest(path: Path, fmt: str, encoding: str) -> str:
    """Hashes the file; a CSV file is also decoded whole so a bad byte stops it before storing."""
    digest = hashlib.sha256()
    check = _TextCheck(path.name, encoding) if fmt == "csv" else None
    for chunk in _chunks_of(path):
        digest.update(chunk)
        if check is not None:
            check.feed(chunk)
    if check is not None:
        check.feed(b"", final=True)
    return digest.hexdigest()


class _TextCheck:
    """Decodes a file chunk by chunk, naming the line of the first bytes that do not decode."""

    def __init__(self, file: str, encoding: str) -> None:
        self.file, self.encoding = file, encoding
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.line = 1

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        """Decodes the next chunk; raises ImportFileError at the first undecodable bytes."""
        try:
            self.decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            line = self.line + chunk[: max(exc.start, 0)].count(b"\n")
            shown = "UTF-8" if self.encoding.lower().startswith("utf-8") else self.encoding
            raise file_error(
                "not_text", file=self.file, line=line, encoding=shown, detail=exc.reason
            ) from None
        self.line += chunk.count(b"\n")


@contextmanager
def _open_rows(
    path: Path, fmt: str, mapping: ImportMapping | None
) -> Iterator[tuple[tuple[str, ...] | None, Iterator[_Row]]]:
    """Opens the file and yields its columns (None for JSON Lines) and its rows."""
    if fmt == "parquet":
        with closing(_parquet_file(path)) as parquet:
            columns = tuple(parquet.schema_arrow.names)
            _check_unique(columns, path.name)
            yield columns, _parquet_rows(parquet, path.name)
    elif fmt == "jsonl":
        with _open(path, None) as binary:
            _check_first_line(binary, path.name)
            yield None, _jsonl_rows(binary)
    else:
        with _open(path, mapping.encoding if mapping else "utf-8-sig") as text:
            reader = csv.reader(text, delimiter=mapping.delimiter if mapping else ",")
            header = _csv_header(reader, path.name)
            yield header, _csv_rows(reader, header, path.name)


def _open(path: Path, encoding: str | None) -> IO[Any]:
    """Opens the file in binary, or as text in `encoding` the way the csv module wants it."""
    try:
        if encoding is None:
            return path.open("rb")
        return path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise file_error("file_unreadable", file=path, detail=exc.strerror or exc) from None


def _csv_header(reader: Any, file: str) -> tuple[str, ...]:
    header = next(reader, None)
    if not header:
        raise file_error("empty_csv", file=file)
    columns = tuple(name.strip() for name in header)
    _check_unique(columns, file)
    return columns


def _check_unique(columns: tuple[str, ...], file: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise file_error("duplicate_column", file=file, column=column)
        seen.add(column)


def _csv_rows(reader: Any, header: tuple[str, ...], file: str) -> Iterator[_Row]:
    while True:
        number = reader.line_num + 1  # where the record starts; it may span several lines
        try:
            values = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # the file changed since it was checked
            raise file_error("file_unreadable", file=file, detail=exc) from None
        except csv.Error as exc:
            yield _Row(number, None, row_error("invalid_csv_row", f"row {number}", detail=exc))
            continue
        if not values:
            continue  # a blank line
        if len(values) != len(header):
            problem = row_error(
                "column_count", f"row {number}", count=len(values), expected=len(header)
            )
            yield _Row(number, values, problem)
            continue
        yield _Row(number, dict(zip(header, values, strict=True)))


def _check_first_line(binary: IO[bytes], file: str) -> None:
    """Refuses a file that is not JSON Lines at all (a CSV, one JSON array) before storing."""
    for number, line in enumerate(binary, 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line.removeprefix(codecs.BOM_UTF8))
        except orjson.JSONDecodeError as exc:
            raise file_error(
                "not_jsonl", file=file, line=number, detail=f"not JSON ({exc})"
            ) from None
        if not isinstance(data, dict):
            detail = f"holds {type(data).__name__}, not an object"
            raise file_error("not_jsonl", file=file, line=number, detail=detail)
        break
    binary.seek(0)


def _jsonl_rows(binary: IO[bytes]) -> Iterator[_Row]:
    for number, line in enumerate(binary, 1):
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            yield _Row(number, text, row_error("invalid_json_row", f"row {number}", detail=exc))
            continue
        yield _Row(number, data)


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise file_error("file_missing", file=path)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise file_error("not_parquet", file=path.name, detail=exc) from None


def _parquet_rows(parquet: Any, file: str) -> Iterator[_Row]:
    import pyarrow as pa

    number = 0
    batches = parquet.iter_batches(batch_size=CHUNK_ROWS)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise file_error("parquet_read", file=file, row=number + 1, detail=exc) from None
        for data in batch.to_pylist():
            number += 1
            yield _Row(number, data)
