"""`omnicx report funnel`: the table, JSON and CSV forms, --dropped, and bad options."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnicx.cli.main import app
from tests.analytics.lakes import Row, build_lake

T = datetime(2026, 3, 10, 9)
STEPS = ["Product Viewed", "Product Added", "Order Completed[channel=store_pos]"]
runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    build_lake(
        path,
        [
            Row("ada", "Product Viewed", T, channel="web"),
            Row("ada", "Product Added", T + timedelta(hours=1), channel="app"),
            Row("ada", "Order Completed", T + timedelta(days=2), channel="store_pos"),
            Row("bob", "Product Viewed", T, channel="app"),
            Row("bob", "Product Added", T + timedelta(hours=3), channel="app"),
            Row("cy", "Product Viewed", T, channel="web"),
            Row("cy", "Support Ticket", T + timedelta(hours=1), channel="phone"),
        ],
    )
    return path


def _run(shop: Path, *arguments: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["report", "funnel", *arguments, "--lake", str(shop)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_json_counts_people_per_step(shop: Path) -> None:
    code, output = _run(shop, *STEPS, "--format", "json")
    assert code == 0, output
    document = json.loads(output)
    assert [(s["step"], s["count"]) for s in document["steps"]] == [
        ("Product Viewed", 3),
        ("Product Added", 2),
        ("Order Completed[channel=store_pos]", 1),
    ]
    assert document["window_seconds"] == 30 * 86400


def test_the_table_shows_conversion_drop_off_and_time(shop: Path) -> None:
    code, output = _run(shop, *STEPS, "--window", "7d", "--breakdown", "channel")
    assert code == 0, output
    assert "Funnel (ordered, window 7d)" in output
    added = [line.split("│")[1:-1] for line in output.splitlines() if "Product Added" in line]
    # all, then web (Ada, Cy), then app (Bob): people, conversion, from previous, dropped, time.
    assert [[cell.strip() for cell in row] for row in added] == [
        ["all", "Product Added", "2", "66.7%", "66.7%", "1", "2h"],
        ["web", "Product Added", "1", "50.0%", "50.0%", "1", "1h"],
        ["app", "Product Added", "1", "100.0%", "100.0%", "0", "3h"],
    ]
    assert "Median time to convert 2d, over 1 person who reached the last step." in output
    assert "│ 2d–7d           │      1 │" in output


def test_csv_has_one_row_per_group_and_step(shop: Path) -> None:
    code, output = _run(
        shop, *STEPS, "--breakdown", "channel", "--attribution", "last", "--format", "csv"
    )
    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [(r["breakdown"], r["step"], r["count"]) for r in rows if r["index"] == "3"] == [
        ("all", "Order Completed[channel=store_pos]", "1"),
        ("app", "Order Completed[channel=store_pos]", "0"),
        ("store_pos", "Order Completed[channel=store_pos]", "1"),
        ("web", "Order Completed[channel=store_pos]", "0"),
    ]
    assert rows[1]["median_seconds_from_previous"] == "7200.0"


def test_exclusions_and_strict_ordering(shop: Path) -> None:
    code, output = _run(shop, *STEPS, "--exclude", "Support Ticket", "--format", "json")
    assert code == 0, output
    document = json.loads(output)
    assert ([s["count"] for s in document["steps"]], document["excluded"]) == ([2, 2, 1], 1)
    code, output = _run(
        shop, "Product Viewed", "Product Added", "--ordering", "strict", "--format", "json"
    )
    assert [s["count"] for s in json.loads(output)["steps"]] == [3, 2]


def test_dropped_lists_the_people_in_every_format(shop: Path) -> None:
    code, output = _run(shop, *STEPS, "--dropped", "3", "--format", "csv")
    assert code == 0, output
    assert output.splitlines() == ["profile_id,reached_at", "bob,2026-03-10T12:00:00Z"]
    code, output = _run(shop, *STEPS, "--dropped", "2", "--format", "json")
    assert json.loads(output)["people"] == [
        {"profile_id": "cy", "reached_at": "2026-03-10T09:00:00Z"}
    ]
    code, output = _run(shop, *STEPS, "--dropped", "2")
    assert "1 person reached 'Product Viewed' but not 'Product Added'." in output
    assert "cy" in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Product Viewed"], "a funnel needs 2 to 20 steps; 1 given"),
        ([*STEPS, "--window", "a month"], "--window: 'a month' is not a duration"),
        ([*STEPS, "--ordering", "sorted"], "unknown ordering 'sorted'"),
        ([*STEPS, "--breakdown", "weather"], "cannot break down by 'weather'"),
        ([*STEPS, "--breakdown", "channel", "--attribution", "step:9"], "use step:1 to step:3"),
        ([*STEPS, "--exclude", "Refund@0-2"], "the exclusion 'Refund@0-2'"),
        ([*STEPS, "--dropped", "1"], "the step must be 2 to 3; 1 given"),
        ([*STEPS, "--dropped", "2", "--breakdown", "channel"], "takes no --breakdown"),
        ([*STEPS, "--from", "yesterday"], "--from 'yesterday' is not a date"),
        ([*STEPS, "--where", "colour=red"], "cannot filter on 'colour'"),
        (["Product Viewed", "Order[channel]"], "cannot read the filter 'channel'"),
    ],
)
def test_a_bad_option_exits_2_saying_what_is_wrong(
    shop: Path, arguments: list[str], message: str
) -> None:
    code, output = _run(shop, *arguments)
    assert code == 2, output
    assert message in " ".join(output.split())
