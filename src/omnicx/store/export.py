"""Large query results as Arrow record batches, on SQLite and PostgreSQL alike.

For bulk exports (millions of rows) SQLAlchemy's per-row result processing costs more than the
database. `arrow_batches` runs a Core SELECT without it:

- PostgreSQL: `COPY (SELECT ...) TO STDOUT` in CSV, streamed into Arrow's CSV reader (no
  Python object per value); timestamps travel as microseconds since the epoch;
- SQLite: the driver's own cursor, chunk by chunk, each chunk turned into a record batch
  column by column; timestamps are SQLite's text (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC as
  SQLAlchemy writes it), parsed by Arrow.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import BigInteger, ColumnElement, Connection, Select, cast, extract, func

ROWS: Final = 100_000
"""Rows per record batch on SQLite (and per fetch from the driver)."""

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")


def _is_timestamp(kind: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(kind))


def _epoch_micros(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL: a timestamptz as whole microseconds since the epoch (EXTRACT gives exact
    numeric from PostgreSQL 14 on, a double before: rounding keeps the microsecond)."""
    seconds = extract("epoch", column)
    return cast(func.round(seconds * 1_000_000), BigInteger)


def arrow_batches(
    connection: Connection, statement: Select[Any], schema: pa.Schema, *, rows: int = ROWS
) -> Iterator[pa.RecordBatch]:
    """The statement's rows as record batches of `schema` (its columns in order, one field
    per selected column; text, numbers, booleans and timestamps). Bound values are rendered
    into the SQL (keep them to text and numbers); the statement runs in the connection's
    transaction."""
    columns = list(statement.selected_columns)
    if len(columns) != len(schema):
        raise ValueError(f"{len(columns)} columns selected for {len(schema)} fields")
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        statement = statement.with_only_columns(
            *(
                _epoch_micros(c).label(f.name) if _is_timestamp(f.type) else c
                for c, f in zip(columns, schema, strict=True)
            )
        )
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    driver: Any = connection.connection.driver_connection
    if postgres:
        # No parameters go with it, so a % is itself (the compiler doubled it).
        yield from _copied(driver, sql.replace("%%", "%"), schema)
        return
    cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(rows):
            yield _batch(chunk, schema)
    finally:
        cursor.close()


class _CopyStream(io.RawIOBase):
    """The blocks of a psycopg COPY ... TO STDOUT as a readable file."""

    def __init__(self, blocks: Iterator[Any]) -> None:
        self._blocks = blocks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = bytes(block)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _copied(driver: Any, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """PostgreSQL: the rows of `sql` through COPY in CSV, read by Arrow as they come."""
    # In PostgreSQL's CSV an unquoted empty field is NULL and a quoted one ("") empty text.
    convert = pacsv.ConvertOptions(
        column_types={f.name: pa.int64() if _is_timestamp(f.type) else f.type for f in schema},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    read = pacsv.ReadOptions(column_names=schema.names, block_size=1 << 24)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    with driver.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
        stream = io.BufferedReader(_CopyStream(iter(copy)), buffer_size=1 << 20)
        if not stream.peek(1):
            return  # no row (Arrow refuses an empty CSV)
        reader = pacsv.open_csv(
            stream, read_options=read, parse_options=parse, convert_options=convert
        )
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [
                    column.cast(field.type) if _is_timestamp(field.type) else column
                    for column, field in zip(batch.columns, schema, strict=True)
                ],
                schema=schema,
            )


def _batch(chunk: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = [
        _array(values, field.type)
        for values, field in zip(zip(*chunk, strict=True), schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    if _is_timestamp(kind):
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, str):  # SQLite's text, UTC without an offset
            texts = pa.array(values, pa.string())
            return pc.assume_timezone(texts.cast(pa.timestamp("us")), "UTC")
        if sample is None or isinstance(sample, int):  # microseconds since the epoch
            return pa.array(values, pa.int64()).cast(kind)
        return pa.array(values, kind)  # datetimes (another driver)
    if pa.types.is_boolean(kind):  # SQLite's 0 and 1
        return pa.array([None if v is None else bool(v) for v in values], kind)
    return pa.array(values, kind)


def arrow_table(
    connection: Connection, statement: Select[Any], schema: pa.Schema, *, rows: int = ROWS
) -> pa.Table:
    """Every row of the statement as one table of `schema`."""
    batches = list(arrow_batches(connection, statement, schema, rows=rows))
    return pa.Table.from_batches(batches, schema)
