"""`omnicx report retention|lifecycle|churn|channels|multichannel`: tables, JSON, CSV, errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from omnicx.cli.main import app
from tests.analytics.lakes import build_lake
from tests.analytics.test_channels import _rows

runner = CliRunner()


@pytest.fixture
def lake(tmp_path: Path) -> str:
    path = tmp_path / "shop-lake"
    build_lake(path, _rows(), batches=2)
    return str(path)


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["report", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_retention_table_json_and_csv(lake: str) -> None:
    code, table = _run("retention", "--lake", lake, "--by", "first-channel")
    assert code == 0, table
    assert "First-time retention by month" in table
    assert "month 1" in table and "month 2" not in table  # only what some cohort reached
    assert "2026-01-01" in table and "100.0%" in table and "support" in table
    code, text = _run("retention", "--lake", lake, "--periods", "1", "--format", "json")
    assert code == 0, text
    document = orjson.loads(text)
    assert [(c["cohort"], c["size"], c["retained"]) for c in document["cohorts"]] == [
        ("2026-01-01", 1, [1, 1]),
        ("2026-02-01", 2, [2, None]),
    ]
    code, text = _run(
        "retention", "--lake", lake, "--periods", "1", "--kind", "recurring", "-f", "csv"
    )
    assert code == 0, text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0] == {
        "cohort": "2026-01-01",
        "size": "1",
        "retained_0": "1",
        "retained_1": "1",
        "rate_0": "1.0",
        "rate_1": "1.0",
    }
    assert rows[1]["size"] == "3" and rows[1]["retained_1"] == ""


def test_lifecycle_table_json_and_csv(lake: str) -> None:
    code, table = _run("lifecycle", "--lake", lake)
    assert code == 0, table
    assert "Lifecycle by month" in table and "resurrecting" in table
    code, text = _run("lifecycle", "--lake", lake, "--format", "json", "--period", "week")
    assert code == 0, text
    weeks = orjson.loads(text)["periods"]
    assert weeks[0]["period"] == "2026-01-05" and weeks[0]["new"] == 1
    code, text = _run("lifecycle", "--lake", lake, "--format", "csv")
    assert code == 0, text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["period"], r["new"], r["returning"]) for r in rows] == [
        ("2026-01-01", "1", "0"),
        ("2026-02-01", "2", "1"),
    ]


def test_churn_table_json_and_csv(lake: str) -> None:
    args = ("churn", "--lake", lake, "--inactive-after", "1w", "--as-of", "2026-02-09")
    code, table = _run(*args)
    assert code == 0, table
    assert "3 people, 1 churned (33.3%) after 7 days" in table
    assert "web: Page Viewed" in table and "100.0%" in table
    code, text = _run(*args, "--format", "json")
    document = orjson.loads(text)
    assert (document["people"], document["churned"]) == (3, 1)
    code, text = _run(*args, "--touches", "2", "--format", "csv")
    assert code == 0, text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [
        {
            "rank": "1",
            "last_touches": "web: Order Completed → web: Page Viewed",
            "churned": "1",
            "churned_share": "1.0",
            "retained": "0",
            "retained_share": "0.0",
            "lift": "",
            "churn_rate": "1.0",
        }
    ]
    code, table = _run("churn", "--lake", lake)
    assert code == 0 and "Nobody churned" in table


def test_channels_table_json_and_csv(lake: str) -> None:
    code, table = _run("channels", "--lake", lake)
    assert code == 0, table
    for words in ("Channels", "By month", "Support times (hours)", "22.20", "-50.0%"):
        assert words in table, words
    code, text = _run("channels", "--lake", lake, "--format", "json")
    document = orjson.loads(text)
    web = next(c for c in document["channels"] if c["channel"] == "web")
    assert (web["reach"], web["converted"], web["revenue"]) == (2, 1, 100.0)
    code, text = _run("channels", "--lake", lake, "--format", "csv", "--period", "week")
    assert code == 0, text
    rows = list(csv.DictReader(io.StringIO(text)))
    totals = [r for r in rows if r["period"] == ""]
    assert [r["channel"] for r in totals] == ["email", "store", "support", "web"]
    assert totals[2]["resolution_h_median"] == "15.0"


def test_multichannel_table_json_and_csv(lake: str) -> None:
    code, table = _run("multichannel", "--lake", lake)
    assert code == 0, table
    assert "2 customers, 50.0% of them on more than one channel" in table
    assert "By channels used" in table and "By touchpoints" in table and "5-9" in table
    code, text = _run("multichannel", "--lake", lake, "--format", "json", "--channel-cap", "2")
    document = orjson.loads(text)
    assert [(g["group"], g["people"]) for g in document["by_channels"]] == [("1", 1), ("2+", 2)]
    code, text = _run("multichannel", "--lake", lake, "-f", "csv", "--touchpoints", "1,3")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["by"], r["group"], r["customers"]) for r in rows] == [
        ("channels", "1", "1"),
        ("channels", "2", "0"),
        ("channels", "3", "1"),
        ("channels", "4+", "0"),
        ("touchpoints", "1-2", "0"),
        ("touchpoints", "3+", "2"),
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("retention", "--period", "year"), "--period 'year' is not a period"),
        (("retention", "--kind", "every"), "--kind 'every' is not a kind"),
        (("retention", "--by", "source"), "--by 'source' cannot split cohorts"),
        (("retention", "--periods", "0"), "--periods must be from 1 to 120"),
        (("retention", "--from", "2026-13-01"), "--from '2026-13-01' is not a date"),
        (("lifecycle", "--event", ""), "--event is empty"),
        (("lifecycle", "--where", "colour=red"), "cannot filter on 'colour'"),
        (("churn", "--inactive-after", "3 months"), "--inactive-after '3 months' is not a"),
        (("churn", "--touches", "4"), "--touches must be 1, 2 or 3"),
        (("churn", "--as-of", "yesterday"), "--as-of 'yesterday' is not a date"),
        (("channels", "--period", "hour"), "--period 'hour' is not a period"),
        (("multichannel", "--touchpoints", "5,1"), "--touchpoints '5,1' cannot be used"),
        (("multichannel", "--channel-cap", "1"), "--channel-cap must be from 2 to 20"),
    ],
)
def test_bad_options_are_named(lake: str, args: tuple[str, ...], words: str) -> None:
    code, output = _run(*args, "--lake", lake)
    assert code == 2, output
    assert words in " ".join(output.split()), output
