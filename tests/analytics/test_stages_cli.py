"""`omnicx report stages` (table, JSON, CSV; periods, flows, moves, one person; bad options)
and `omnicx stages settings|configure` on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnicx.cli.main import app as omnicx
from omnicx.cli.stages import app as stages_app
from tests.analytics.lakes import Row, build_lake

T0 = datetime(2026, 1, 5, 12)
runner = CliRunner()
SMALL = """
[churn]
after_days = 30
from = "buyer"

[[stages]]
name = "visitor"
rules = [{}]

[[stages]]
name = "buyer"
rules = [{ events = ["Order Completed"] }]
"""


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no omnicx.db here: the built-in model applies
    monkeypatch.delenv("OMNICX_DATABASE_URL", raising=False)
    monkeypatch.delenv("OMNICX_LAKE_DIR", raising=False)
    build_lake(
        tmp_path / "lake",
        [
            Row("ada", "Home", day(0), type="page"),
            Row("ada", "Order Completed", day(1)),
            Row("ada", "Order Completed", day(9), channel="store"),
            Row("bo", "Product Viewed", day(8), channel="app"),
        ],
    )
    return tmp_path / "lake"


def report(lake: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(omnicx, ["report", "stages", *args, "--lake", str(lake)])
    return result.exit_code, result.output


def test_the_table_lists_every_stage_with_people_share_and_entries(lake: Path) -> None:
    code, output = report(lake)
    assert code == 0, output
    assert "Journey stages as of 2026-01-14 12:00" in output
    lines = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
    assert lines["retention"].split("│")[2].strip() == "1"
    assert lines["consideration"].split("│")[2].strip() == "1"
    assert lines["total"].split("│")[2].strip() == "2"
    assert not (lake.parent / "omnicx.db").exists()  # reading the model created no database


def test_json_holds_the_whole_report(lake: Path) -> None:
    code, output = report(lake, "--format", "json", "--from", "2026-01-12", "--period", "week")
    assert code == 0, output
    body = json.loads(output)
    assert body["start"] == "2026-01-12" and body["period"] == "week"
    assert {c["stage"]: c["entered"] for c in body["counts"]}["retention"] == 1
    assert body["flows"]["links"] == [
        {"source": "start:new", "target": "end:consideration", "people": 1},
        {"source": "start:purchase", "target": "end:retention", "people": 1},
    ]


def test_csv_of_counts_periods_flows_and_moves(lake: Path) -> None:
    code, output = report(lake, "-f", "csv")
    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    assert rows[0] == {"stage": "awareness", "people": "0", "share": "0.0", "entered": "2"}
    assert {r["stage"]: r["people"] for r in rows}["retention"] == "1"

    code, output = report(lake, "-f", "csv", "--period", "day", "--from", "2026-01-13")
    assert code == 0, output
    days = list(csv.DictReader(io.StringIO(output)))
    assert [d["period"] for d in days] == ["2026-01-13", "2026-01-14"]
    assert (days[0]["purchase"], days[0]["retention"], days[1]["retention"]) == ("1", "0", "1")

    code, output = report(lake, "-f", "csv", "--flows", "--from", "2026-01-12")
    assert output.splitlines() == ["from,to,people", "new,consideration,1", "purchase,retention,1"]

    code, output = report(lake, "-f", "csv", "--moves")
    assert "awareness,purchase,1" in output.splitlines()
    assert "new,awareness,2" in output.splitlines()


def test_one_person_and_a_person_the_lake_does_not_know(lake: Path) -> None:
    code, output = report(lake, "--person", "ada")
    assert code == 0, output
    assert "Stages of ada: retention as of 2026-01-14 12:00" in output
    assert "2026-01-06T12:00:00Z" in output  # purchase
    code, output = report(lake, "--person", "ada", "-f", "json")
    assert json.loads(output)["reached"]["retention"] == "2026-01-14T12:00:00Z"
    code, output = report(lake, "--person", "zed")
    assert code == 1
    assert "No stage for the profile 'zed'" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "year"], "'year' is not one of"),
        (["--from", "12/01/2026"], "--from '12/01/2026' is not a date: write YYYY-MM-DD."),
        (["--where", "colour=red"], "cannot filter on 'colour'"),
        (["--flows", "--moves"], "--flows and --moves cannot be combined: choose one view."),
        (["--person", "ada", "--period", "week"], "--period and --person cannot be combined"),
        (["--settings", "missing.toml"], "--settings: cannot read missing.toml"),
    ],
)
def test_a_bad_option_exits_2_naming_it(lake: Path, args: list[str], message: str) -> None:
    code, output = report(lake, *args)
    assert code == 2
    assert message in " ".join(output.split())


def test_a_model_file_instead_of_the_stored_one(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "small.toml").write_text(SMALL)
    code, output = report(lake, "--settings", str(tmp_path / "small.toml"), "-f", "json")
    assert code == 0, output
    assert json.loads(output)["stages"] == ["visitor", "buyer", "churned"]
    (tmp_path / "bad.toml").write_text('[[stages]]\nname = "x"\nrules = [{ count = 0 }]\n')
    code, output = report(lake, "--settings", str(tmp_path / "bad.toml"))
    assert code == 2
    assert "key 'stages[1].rules[1].count'" in output
    (tmp_path / "empty.toml").write_text("stages = []\n")
    code, output = report(lake, "--settings", str(tmp_path / "empty.toml"))
    assert code == 2
    assert "([[stages]] tables)" in output  # printed as written, not read as markup


def test_configure_stores_the_model_reports_use(
    lake: Path, tmp_path: Path, database_url: str
) -> None:
    db = ["--db", database_url]
    shown = runner.invoke(stages_app, ["settings", *db])
    assert shown.exit_code == 0, shown.output
    assert "No stage model stored: the built-in model applies" in shown.output
    assert 'name = "advocacy"' in shown.output

    (tmp_path / "small.toml").write_text(SMALL)
    stored = runner.invoke(stages_app, ["configure", str(tmp_path / "small.toml"), *db])
    assert stored.exit_code == 0, stored.output
    assert "Stored stage model version 1" in stored.output
    again = runner.invoke(stages_app, ["configure", str(tmp_path / "small.toml"), *db])
    assert "already in force; nothing stored" in again.output

    shown = runner.invoke(stages_app, ["settings", *db])
    assert "Stage model version 1" in shown.output and 'name = "buyer"' in shown.output
    as_json = runner.invoke(stages_app, ["settings", "--json", *db])
    assert json.loads(as_json.output)["churn"] == {"after_days": 30, "from": "buyer"}

    code, output = report(lake, "-f", "json", *db)
    assert code == 0, output
    assert {c["stage"]: c["people"] for c in json.loads(output)["counts"]} == {
        "visitor": 1, "buyer": 1, "churned": 0,
    }  # fmt: skip

    (tmp_path / "bad.toml").write_text(SMALL.replace("after_days = 30", "after_days = -1"))
    refused = runner.invoke(stages_app, ["configure", str(tmp_path / "bad.toml"), *db])
    assert refused.exit_code == 2
    assert "key 'churn.after_days'" in refused.output and "Nothing was stored." in refused.output
    missing = runner.invoke(stages_app, ["configure", str(tmp_path / "nope.toml"), *db])
    assert missing.exit_code == 2 and "cannot read" in missing.output
