"""Bulk import on SQLite and PostgreSQL: real files in, events, rejected rows and counts out."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.collect import bulk_import, stream
from omnicx.collect import sources as source_service
from omnicx.collect.bulk_import import (
    ImportFileError,
    ImportSourceError,
    ImportStoreError,
    ImportSummary,
    derived_message_id,
    import_file,
    load_mapping,
)
from omnicx.collect.errors import IntakeError
from omnicx.collect.messages import normalise
from omnicx.collect.tables import events, imports, sources
from omnicx.store.clock import as_utc, utc_now
from tests.collect.helpers import add_source, rejected, stored

POS_CSV = """\
store_id,receipt_no,loyalty_card,total,items,purchased_at
12,R-1001,LC-5551,59.90,3,2026-03-14 10:32
12,R-1002,,12.50,1,2026-03-14 10:40
14,R-2001,LC-7777,31,2,2026-07-01 18:05
"""

POS_MAPPING = """\
type = { value = "track" }
event = { value = "Order Completed" }
userId = "loyalty_card"
anonymousId = { template = "till-{store_id}-{receipt_no}" }
messageId = { template = "pos-{store_id}-{receipt_no}" }
timestamp = { column = "purchased_at", format = "%Y-%m-%d %H:%M", timezone = "Europe/Paris" }

[properties]
order_id = "receipt_no"
store_id = "store_id"
revenue = { column = "total", type = "float" }
item_count = { column = "items", type = "int" }
currency = { value = "EUR" }
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _pos_files(tmp_path: Path) -> tuple[Path, Path]:
    return _write(tmp_path / "pos.csv", POS_CSV), _write(tmp_path / "pos.toml", POS_MAPPING)


def _imports(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [
            dict(r._mapping) for r in connection.execute(select(imports).order_by(imports.c.id))
        ]


def _one_line(text: str) -> str:
    """Rich wraps long lines at the terminal width; compare messages without the wrapping."""
    return " ".join(text.split())


def test_pos_csv_with_mapping_stores_order_completed_events(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "tills", "store_pos")
    csv_path, mapping_path = _pos_files(tmp_path)

    summary = import_file(engine, csv_path, source_name="tills", mapping=load_mapping(mapping_path))

    assert summary == ImportSummary(rows=3, stored=3, duplicates=0, rejected=0, rejected_path=None)
    rows = stored(engine)
    assert [(r["message_id"], r["type"], r["event"], r["channel"]) for r in rows] == [
        ("pos-12-R-1001", "track", "Order Completed", "store_pos"),
        ("pos-12-R-1002", "track", "Order Completed", "store_pos"),
        ("pos-14-R-2001", "track", "Order Completed", "store_pos"),
    ]
    assert [(r["user_id"], r["anonymous_id"]) for r in rows] == [
        ("LC-5551", "till-12-R-1001"),
        (None, "till-12-R-1002"),
        ("LC-7777", "till-14-R-2001"),
    ]
    # Local till time (Paris): UTC+1 in March, UTC+2 in July.
    assert [as_utc(r["timestamp"]) for r in rows] == [  # type: ignore[arg-type]
        datetime(2026, 3, 14, 9, 32, tzinfo=UTC),
        datetime(2026, 3, 14, 9, 40, tzinfo=UTC),
        datetime(2026, 7, 1, 16, 5, tzinfo=UTC),
    ]
    payload = orjson.loads(rows[0]["payload"])  # type: ignore[arg-type]
    assert payload["properties"] == {
        "order_id": "R-1001",
        "store_id": "12",
        "revenue": 59.9,
        "item_count": 3,
        "currency": "EUR",
    }
    assert orjson.loads(rows[2]["payload"])["properties"]["revenue"] == 31.0  # type: ignore[arg-type]
    [record] = _imports(engine)
    assert (record["rows"], record["accepted"], record["duplicates"], record["rejected"]) == (
        3, 3, 0, 0,
    )  # fmt: skip
    assert record["sha256"] == hashlib.sha256(csv_path.read_bytes()).hexdigest()
    assert record["file_name"] == str(csv_path.resolve())
    assert record["finished_at"] is not None


def test_importing_the_same_file_again_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "tills", "store_pos")
    csv_path, mapping_path = _pos_files(tmp_path)
    mapping = load_mapping(mapping_path)

    first = import_file(engine, csv_path, source_name="tills", mapping=mapping)
    again = import_file(engine, csv_path, source_name="tills", mapping=mapping)

    assert (first.stored, first.duplicates) == (3, 0)
    assert again == ImportSummary(rows=3, stored=0, duplicates=3, rejected=0, rejected_path=None)
    assert len(stored(engine)) == 3
    assert [(r["accepted"], r["duplicates"]) for r in _imports(engine)] == [(3, 0), (0, 3)]


def test_rows_without_a_message_id_get_the_same_derived_id_every_time(
    engine: Engine, tmp_path: Path
) -> None:
    add_source(engine, "crm", "crm")
    csv_path = _write(tmp_path / "people.csv", "type,userId,traits.email\nidentify,u-1,a@b.c\n")

    import_file(engine, csv_path, source_name="crm")
    # Same content under another name, columns reordered: still the same row.
    moved = _write(tmp_path / "moved.csv", "traits.email,userId,type\na@b.c,u-1,identify\n")
    again = import_file(engine, moved, source_name="crm")

    [row] = stored(engine)
    expected = derived_message_id(
        "crm", {"type": "identify", "userId": "u-1", "traits.email": "a@b.c"}
    )
    assert row["message_id"] == expected
    assert orjson.loads(row["payload"])["traits"] == {"email": "a@b.c"}  # type: ignore[arg-type]
    assert (again.stored, again.duplicates) == (0, 1)


def test_jsonl_lines_are_taken_as_spec_messages(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "crm", "crm")
    lines: list[dict[str, Any]] = [
        {"type": "track", "userId": "u-1", "event": "Deal Won", "messageId": "crm-1",
         "properties": {"amount": 1200}, "timestamp": "2026-02-01T09:00:00+01:00"},
        {"type": "identify", "userId": 42, "traits": {"plan": "pro"}},
        {"type": "page", "anonymousId": "a-9", "name": "Pricing", "context": {"ip": "1.2.3.4"}},
        {"type": "purchase", "userId": "u-1"},
    ]  # fmt: skip
    text = "\n".join(orjson.dumps(line).decode() for line in lines[:2]) + "\n\n"
    text += "\n".join(orjson.dumps(line).decode() for line in lines[2:]) + "\n{not json\n"
    path = _write(tmp_path / "crm.jsonl", text)

    summary = import_file(engine, path, source_name="crm")

    assert (summary.rows, summary.stored, summary.rejected) == (5, 3, 2)
    rows = stored(engine)
    assert [(r["type"], r["user_id"], r["anonymous_id"]) for r in rows] == [
        ("track", "u-1", None),
        ("identify", "42", None),
        ("page", None, "a-9"),
    ]
    assert rows[0]["message_id"] == "crm-1"
    assert as_utc(rows[0]["timestamp"]) == datetime(2026, 2, 1, 8, tzinfo=UTC)  # type: ignore[arg-type]
    assert rows[1]["message_id"] == derived_message_id("crm", lines[1])
    assert orjson.loads(rows[2]["payload"])["context"] == {"ip": "1.2.3.4"}  # type: ignore[arg-type]
    entries = [orjson.loads(line) for line in summary.rejected_path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [(e["line"], e["code"]) for e in entries] == [
        (5, "unknown_type"),
        (6, "invalid_json_row"),
    ]
    assert entries[0]["row"] == lines[3]
    assert entries[1]["row"] == "{not json"
    # Word for word what the HTTP API answers for the same message, with `row 5` for `batch[3]`.
    with pytest.raises(IntakeError) as http:
        normalise(dict(lines[3]), path="row 5", received_at=utc_now())
    assert entries[0]["reason"] == http.value.message


def test_parquet_columns_named_like_fields_are_used_directly(
    engine: Engine, tmp_path: Path
) -> None:
    add_source(engine, "shop", "web")
    table = pa.table(
        {
            "type": ["track", "track"],
            "userId": ["u-1", "u-2"],
            "event": ["Product Viewed", "Product Added"],
            "timestamp": pa.array(
                [datetime(2026, 5, 1, 12, tzinfo=UTC), datetime(2026, 5, 2, 8, 30, tzinfo=UTC)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "properties.price": [19.99, 5.0],
            "properties.sku": ["SKU-1", "SKU-2"],
            "context": [{"locale": "fr-FR"}, {"locale": "de-DE"}],
        }
    )
    path = tmp_path / "views.parquet"
    pq.write_table(table, path, row_group_size=1)

    summary = import_file(engine, path, source_name="shop")

    assert (summary.rows, summary.stored, summary.rejected) == (2, 2, 0)
    rows = stored(engine)
    assert [as_utc(r["timestamp"]) for r in rows] == [  # type: ignore[arg-type]
        datetime(2026, 5, 1, 12, tzinfo=UTC),
        datetime(2026, 5, 2, 8, 30, tzinfo=UTC),
    ]
    payload = orjson.loads(rows[0]["payload"])  # type: ignore[arg-type]
    assert payload["properties"] == {"price": 19.99, "sku": "SKU-1"}
    assert payload["context"] == {"locale": "fr-FR"}


def test_parquet_with_a_mapping_casts_decimals_and_dates(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "tills", "store_pos")
    table = pa.table(
        {
            "card": ["LC-1", "LC-2"],
            "total": pa.array([Decimal("10.50"), Decimal("7.00")], pa.decimal128(10, 2)),
            "day": pa.array([date(2026, 1, 2), date(2026, 1, 3)], pa.date32()),
            "receipt": pa.array([1, 2], pa.int64()),
        }
    )
    path = tmp_path / "sales.parquet"
    pq.write_table(table, path)
    mapping = _write(
        tmp_path / "sales.toml",
        'type = { value = "track" }\nevent = { value = "Order Completed" }\nuserId = "card"\n'
        'messageId = { template = "sale-{receipt}" }\ntimestamp = "day"\n'
        '[properties]\nrevenue = "total"\nreceipt = { column = "receipt", type = "str" }\n',
    )

    import_file(engine, path, source_name="tills", mapping=load_mapping(mapping))

    rows = stored(engine)
    assert [r["message_id"] for r in rows] == ["sale-1", "sale-2"]
    assert as_utc(rows[0]["timestamp"]) == datetime(2026, 1, 2, tzinfo=UTC)  # type: ignore[arg-type]
    payload = orjson.loads(rows[0]["payload"])  # type: ignore[arg-type]
    assert payload["properties"] == {"revenue": 10.5, "receipt": "1"}


def test_rejected_rows_are_listed_with_line_reason_and_row(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "tills", "store_pos")
    mapping = load_mapping(
        _write(
            tmp_path / "m.toml",
            POS_MAPPING.replace(
                'anonymousId = { template = "till-{store_id}-{receipt_no}" }\n', ""
            ),
        )
    )
    csv_path = _write(
        tmp_path / "pos.csv",
        "store_id,receipt_no,loyalty_card,total,items,purchased_at\n"
        '12,"R-1\n001",LC-1,1.00,1,2026-03-14 10:32\n'  # a cell over two lines: rows 2-3
        "12,R-1002,,12.50,1,2026-03-14 10:40\n"  # row 4: no identity
        "12,R-1003,LC-2,abc,1,2026-03-14 10:41\n"  # row 5: not a number
        "12,R-1004,LC-3,2.00,1\n"  # row 6: a value short
        "12,R-1005,LC-4,3.00,1,14/03/2026\n",  # row 7: another time format
    )

    summary = import_file(engine, csv_path, source_name="tills", mapping=mapping)

    assert (summary.rows, summary.stored, summary.rejected) == (5, 1, 4)
    assert summary.rejected_path == tmp_path / "pos.csv.rejected.jsonl"
    entries = [orjson.loads(line) for line in summary.rejected_path.read_text().splitlines()]
    assert [(e["line"], e["code"], e["reason"]) for e in entries] == [
        (4, "missing_identity", "row 4: a message needs a userId or an anonymousId."),
        (5, "invalid_value", "row 5.properties.revenue: column 'total' holds 'abc', not a number."),
        (6, "column_count", "row 6: has 5 values; the header names 6 columns."),
        (7, "invalid_time",
         "row 7.timestamp: '14/03/2026' does not match the time format '%Y-%m-%d %H:%M'."),
    ]  # fmt: skip
    assert entries[0]["row"] == {
        "store_id": "12", "receipt_no": "R-1002", "loyalty_card": "", "total": "12.50",
        "items": "1", "purchased_at": "2026-03-14 10:40",
    }  # fmt: skip
    assert entries[2]["row"] == ["12", "R-1004", "LC-3", "2.00", "1"]
    # Kept among the source's rejected events too, like refusals at the HTTP API.
    assert [(r["code"], r["path"]) for r in rejected(engine)] == [
        ("missing_identity", "row 4"),
        ("invalid_value", "row 5"),
        ("column_count", "row 6"),
        ("invalid_time", "row 7"),
    ]
    assert _imports(engine)[0]["rejected"] == 4


def test_rejected_file_path_can_be_chosen_and_a_clean_run_removes_it(
    engine: Engine, tmp_path: Path
) -> None:
    add_source(engine, "crm", "crm")
    path = _write(tmp_path / "p.csv", "type,userId\nidentify,u-1\nidentify,\n")
    target = tmp_path / "refused.jsonl"
    with pytest.raises(ImportFileError, match="cannot write the rejected rows there"):
        import_file(engine, path, source_name="crm", rejected_path=tmp_path / "no" / "r.jsonl")

    summary = import_file(engine, path, source_name="crm", rejected_path=target)
    assert (summary.rejected, summary.rejected_path) == (1, target)
    assert orjson.loads(target.read_text())["line"] == 3

    _write(path, "type,userId\nidentify,u-1\nidentify,u-2\n")
    fixed = import_file(engine, path, source_name="crm", rejected_path=target)
    assert (fixed.stored, fixed.duplicates, fixed.rejected_path) == (1, 1, None)
    assert not target.exists()


def test_progress_reports_rows_done_after_each_transaction(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_source(engine, "crm", "crm")
    monkeypatch.setattr(bulk_import, "CHUNK_ROWS", 10)
    path = _write(
        tmp_path / "many.csv", "type,userId\n" + "".join(f"identify,u-{i}\n" for i in range(25))
    )
    seen: list[int] = []

    summary = import_file(engine, path, source_name="crm", progress=seen.append)

    assert seen == [10, 20, 25]
    assert summary.stored == 25
    assert bulk_import.count_rows(path) == 25


def test_a_database_failure_part_way_keeps_earlier_batches_and_a_rerun_completes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_source(engine, "crm", "crm")
    monkeypatch.setattr(bulk_import, "CHUNK_ROWS", 10)
    path = _write(
        tmp_path / "many.csv", "type,userId\n" + "".join(f"identify,u-{i}\n" for i in range(25))
    )
    real_append = stream.append
    calls = itertools.count()

    def failing_append(connection: Any, rows: Any, rejections: Any = ()) -> int:
        if next(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_append(connection, rows, rejections)

    monkeypatch.setattr(bulk_import, "append", failing_append)
    with pytest.raises(ImportStoreError) as error:
        import_file(engine, path, source_name="crm")
    assert str(error.value) == (
        "many.csv: rows 12 to 21 could not be stored: server closed the connection. "
        "The rows before were stored; importing the file again stores each row once."
    )
    assert len(stored(engine)) == 10
    [interrupted] = _imports(engine)
    assert (interrupted["rows"], interrupted["accepted"], interrupted["finished_at"]) == (
        10,
        10,
        None,
    )

    monkeypatch.setattr(bulk_import, "append", real_append)
    again = import_file(engine, path, source_name="crm")
    assert (again.stored, again.duplicates) == (15, 10)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("type = [\n", "pos.toml: not valid TOML"),
        ('usrId = "card"', "pos.toml key 'usrId': not a message field; expected one of type, "),
        ('usrId = "card"', "Did you mean 'userId'?"),
        ('type = { value = "purchase" }', "key 'type': unknown message type 'purchase'"),
        (
            'type = "kind"\nanonymousId = "a"\n[properties]\nx = { column = "t", type = "money" }',
            "key 'properties.x': unknown type 'money'; expected one of str, int, float",
        ),
        (
            'type = "kind"\nuserId = { column = "u", value = "x" }',
            "key 'userId': give exactly one of column, value or template.",
        ),
        ('type = "kind"\nuserId = 42', "key 'userId': write a column name"),
        (
            'type = "kind"\nuserId = "u"\nmessageId = { value = "same" }',
            "a constant messageId would make every row the same message",
        ),
        ('type = "kind"\nuserId = { template = "x-{a:>3}" }', "without ! or : formats"),
        (
            'type = "kind"\nuserId = "u"\ntimestamp = { column = "t", timezone = "Mars/Base" }',
            "key 'timestamp': unknown timezone 'Mars/Base'",
        ),
        (
            'type = "kind"\nuserId = "u"\ntimestamp = { column = "t", format = "dd/mm" }',
            "unknown time format 'dd/mm'",
        ),
        (
            'type = "kind"\nuserId = "u"\n[properties]\nn = { column = "n", format = "%d" }',
            "key 'properties.n': format and timezone apply to type = \"timestamp\".",
        ),
        ('type = "kind"\nuserId = "u"\n[csv]\ndelimiter = ";;"', "key 'csv.delimiter'"),
        ('type = "kind"\nuserId = "u"\n[csv]\nencoding = "klingon"', "unknown encoding 'klingon'"),
        ('userId = "u"', "mapping pos.toml: nothing gives the message type"),
        ('type = "kind"', "nothing gives a userId or an anonymousId"),
        ('type = { value = "track" }\nuserId = "u"', "a track message needs event"),
        ('type = "kind"\nuserId = "u"\nproperties = "p"', "key 'properties': expected a table"),
    ],
)
def test_invalid_mappings_are_refused_naming_the_key(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(ImportFileError) as error:
        load_mapping(_write(tmp_path / "pos.toml", text))
    assert fragment in str(error.value)


def test_invalid_toml_and_json_mappings_say_where(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"not valid TOML: .*line 2"):
        load_mapping(_write(tmp_path / "m.toml", 'type = "kind"\nuserId = \n'))
    with pytest.raises(ImportFileError, match=r"m.json: not valid JSON: .*line 1"):
        load_mapping(_write(tmp_path / "m.json", '{"type": '))
    with pytest.raises(ImportFileError, match="no such file"):
        load_mapping(tmp_path / "absent.toml")


def test_json_mappings_work_like_toml(tmp_path: Path) -> None:
    mapping = load_mapping(
        _write(
            tmp_path / "m.json",
            '{"type": {"value": "identify"}, "userId": "id", '
            '"traits": {"vip": {"column": "vip", "type": "bool"}, "address": {"city": "city"}}}',
        )
    )
    message = mapping.message({"id": "7", "vip": "yes", "city": "Lyon"}, "row 2")
    assert message == {
        "type": "identify", "userId": "7", "traits": {"vip": True, "address": {"city": "Lyon"}},
    }  # fmt: skip


def test_a_mapping_naming_a_missing_column_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "tills", "store_pos")
    csv_path, _ = _pos_files(tmp_path)
    mapping = _write(tmp_path / "pos.toml", POS_MAPPING.replace('"total"', '"totl"'))

    with pytest.raises(ImportFileError) as error:
        import_file(engine, csv_path, source_name="tills", mapping=load_mapping(mapping))

    assert str(error.value) == (
        "pos.toml key 'properties.revenue': no column 'totl' in pos.csv. Did you mean 'total'?"
    )
    assert stored(engine) == []
    assert _imports(engine) == []


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("absent.csv", None, "absent.csv: no such file."),
        ("export.xlsx", b"PK", "export.xlsx: cannot tell the format from the name"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("dup.csv", b"type,userId,type\n", "dup.csv: the column 'type' appears twice"),
        (
            "latin.csv",
            b"type,userId\nidentify,u-1\nidentify,Ren\xe9\n",
            "latin.csv: line 3 is not UTF-8 text (invalid continuation byte); is it a CSV",
        ),
        (
            "wide.csv",
            b"type,userId,store\nidentify,u,1\n",
            "wide.csv: column 'store' is not a message field",
        ),
        ("fields.csv", b"userId,event\nu,x\n", "without --mapping, columns are message fields"),
        ("rows.jsonl", b"type,userId\nidentify,u\n", "rows.jsonl: line 1: not JSON"),
        ("array.jsonl", b'[{"type": "identify"}]\n', "line 1: holds list, not an object"),
        ("fake.parquet", b"type,userId\n", "fake.parquet: not a Parquet file"),
    ],
)
def test_files_that_cannot_be_imported_store_nothing(
    engine: Engine, tmp_path: Path, name: str, content: bytes | None, fragment: str
) -> None:
    add_source(engine, "crm", "crm")
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ImportFileError) as error:
        import_file(engine, path, source_name="crm")

    assert fragment in str(error.value)
    assert stored(engine) == []
    assert rejected(engine) == []
    assert _imports(engine) == []


def test_unknown_and_disabled_sources_are_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = _write(tmp_path / "p.csv", "type,userId\nidentify,u-1\n")
    add_source(engine, "crm", "crm")
    with pytest.raises(ImportSourceError, match=r"No source named 'tills' \(sources: crm\)"):
        import_file(engine, path, source_name="tills")
    with engine.begin() as connection:
        source_service.set_enabled(connection, name="crm", enabled=False)
    with pytest.raises(ImportSourceError, match="Source 'crm' is disabled"):
        import_file(engine, path, source_name="crm")
    assert stored(engine) == []
    result = CliRunner().invoke(app, ["import", str(path), "-s", "crm", "--db", database_url])
    assert result.exit_code == 1
    assert "Source 'crm' is disabled" in _one_line(result.stderr)


def test_csv_delimiter_and_encoding_come_from_the_mapping(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "crm", "crm")
    path = tmp_path / "legacy.csv"
    path.write_bytes("id;name\n7;Renée\n".encode("latin-1"))
    mapping = _write(
        tmp_path / "legacy.toml",
        'type = { value = "identify" }\nuserId = "id"\ntraits.name = "name"\n'
        '[csv]\ndelimiter = ";"\nencoding = "latin-1"\n',
    )

    import_file(engine, path, source_name="crm", mapping=load_mapping(mapping))

    [row] = stored(engine)
    assert orjson.loads(row["payload"])["traits"] == {"name": "Renée"}  # type: ignore[arg-type]


def _doc_block(after: str, language: str) -> str:
    """The first `language` code block after the line `after` in docs/import.md."""
    text = (Path(__file__).parents[2] / "docs" / "import.md").read_text()
    rest = text[text.index(after) :]
    start = rest.index(f"```{language}\n") + len(language) + 4
    return rest[start : rest.index("```", start)]


def test_the_documented_crm_example_works(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "crm", "crm")
    contacts = _write(tmp_path / "contacts.csv", _doc_block("## Example: CRM contacts", "csv"))
    toml_mapping = _write(tmp_path / "crm.toml", _doc_block("## Example: CRM contacts", "toml"))
    json_mapping = _write(tmp_path / "crm.json", _doc_block("The same mapping as JSON", "json"))

    summary = import_file(engine, contacts, source_name="crm", mapping=load_mapping(toml_mapping))

    assert (summary.stored, summary.rejected) == (2, 0)
    ana, ben = (orjson.loads(r["payload"]) for r in stored(engine))  # type: ignore[arg-type]
    assert ana["timestamp"] == "2026-03-14T08:12:00Z"
    assert ana["traits"] == {
        "email": "ana@example.com", "firstName": "Ana", "lastName": "Silva", "plan": "gold",
        "emailOptIn": True, "createdAt": "2021-02-02T23:00:00.000Z",
    }  # fmt: skip
    assert ana["context"] == {"app": {"name": "CRM export"}}
    assert "plan" not in ben["traits"]
    assert ben["traits"]["emailOptIn"] is False
    from_json = load_mapping(json_mapping).message({"Contact ID": "C-1", "Opt-in": "no"}, "row 2")
    assert from_json == {"type": "identify", "userId": "C-1", "traits": {"emailOptIn": False}}


def test_the_documented_pos_example_matches_the_tests() -> None:
    assert _doc_block("## Example: point-of-sale receipts", "csv") == POS_CSV
    assert _doc_block("## Example: point-of-sale receipts", "toml") == POS_MAPPING


_examples = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u-1", "u-2", "u-3"]),
            st.sampled_from(["Viewed", "Bought"]),
            st.integers(0, 3),
        ),
        max_size=25,
    )
)
def test_any_rows_imported_twice_store_each_distinct_row_once(
    engine: Engine, tmp_path: Path, rows: list[tuple[str, str, int]]
) -> None:
    name = f"prop-{next(_examples)}"
    add_source(engine, name, "other")
    path = _write(
        tmp_path / f"{name}.csv",
        "type,userId,event,properties.n\n" + "".join(f"track,{u},{e},{n}\n" for u, e, n in rows),
    )

    first = import_file(engine, path, source_name=name)
    again = import_file(engine, path, source_name=name)

    distinct = len(set(rows))
    assert (first.rows, first.stored, first.duplicates) == (
        len(rows),
        distinct,
        len(rows) - distinct,
    )
    assert (again.stored, again.duplicates) == (0, len(rows))
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count())
            .select_from(events.join(sources, sources.c.id == events.c.source_id))
            .where(sources.c.name == name)
        ).scalar_one()
    assert count == distinct


# The command line.


def test_cli_imports_and_prints_a_summary(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    add_source(engine, "tills", "store_pos")
    csv_path, mapping_path = _pos_files(tmp_path)

    args = ["import", str(csv_path), "--source", "tills", "--mapping", str(mapping_path)]
    result = CliRunner().invoke(app, [*args, "--db", database_url])

    assert result.exit_code == 0, result.output
    out = _one_line(result.stdout)
    assert "Imported pos.csv into source tills:" in out
    assert "rows 3 stored 3 duplicates 0" in out
    assert "rejected 0" in out
    assert len(stored(engine)) == 3


def test_cli_refuses_a_bad_mapping_with_exit_code_2(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    add_source(engine, "tills", "store_pos")
    csv_path, _ = _pos_files(tmp_path)
    mapping_path = _write(
        tmp_path / "bad.toml", POS_MAPPING.replace('type = "int"', 'type = "integer"')
    )

    result = CliRunner().invoke(
        app, ["import", str(csv_path), "-s", "tills", "-m", str(mapping_path), "--db", database_url]
    )

    assert result.exit_code == 2
    assert "bad.toml key 'properties.item_count': unknown type 'integer'" in _one_line(
        result.stderr
    )
    assert stored(engine) == []


def test_cli_exit_codes_for_a_missing_file_and_all_rows_rejected(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    add_source(engine, "crm", "crm")
    runner = CliRunner()
    missing = runner.invoke(
        app, ["import", str(tmp_path / "nope.csv"), "-s", "crm", "--db", database_url]
    )
    assert missing.exit_code == 2
    assert "nope.csv: no such file." in _one_line(missing.stderr)

    path = _write(tmp_path / "bad.csv", "type,userId\nidentify,\nidentify,\n")
    refused = runner.invoke(app, ["import", str(path), "-s", "crm", "--db", database_url])
    assert refused.exit_code == 1
    assert "rejected 2 listed in" in _one_line(refused.stdout)


def test_the_installed_command_runs_an_import(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    add_source(engine, "crm", "crm")
    path = _write(tmp_path / "p.jsonl", '{"type": "identify", "userId": "u-1"}\n')

    command = [
        sys.executable,
        "-m",
        "omnicx",
        "import",
        str(path),
        "-s",
        "crm",
        "--db",
        database_url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert "stored" in done.stdout
    assert len(stored(engine)) == 1
