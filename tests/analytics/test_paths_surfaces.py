"""`GET /api/analytics/paths` and `omnicx report paths`: answers, roles, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.cli.main import app as cli
from tests.analytics.lakes import build_lake
from tests.analytics.test_paths import journeys
from tests.profiles.helpers import token


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hand-counted journeys of test_paths, as the server's lake."""
    path = tmp_path / "lake"
    build_lake(path, journeys())
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(path))
    return path


def test_paths_answer_a_marketer(client: TestClient, sqlite_engine: Engine) -> None:
    answer = client.get(
        "/api/analytics/paths",
        params={"from_step": "web", "depth": 2},
        headers=token(sqlite_engine, "marketer"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["people"] == 3
    assert body["paths"] == [
        {"path": ["web", "email"], "people": 2},
        {"path": ["web", "store"], "people": 1},
    ]
    assert body["links"][0] == {"source": "1: web", "target": "2: email", "value": 2}
    assert body["matrix"]["names"] == ["app", "email", "store", "web"]


def test_paths_by_event_with_repeats_and_a_date_range(
    client: TestClient, sqlite_engine: Engine
) -> None:
    answer = client.get(
        "/api/analytics/paths",
        params={
            "by": "event",
            "collapse_repeats": "false",
            "start": "2026-03-01",
            "end": "2026-03-01",
            "where": "channel!=email",
            "top": 1,
        },
        headers=token(sqlite_engine, "analyst"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # March 1 without e-mail: ann web web; bob app web web; cat web store (order on the 1st).
    assert body["people"] == 3
    assert body["paths"] == [{"path": ["App Opened", "Page Viewed", "Page Viewed"], "people": 1}]


def test_paths_need_a_reader_token(client: TestClient, sqlite_engine: Engine) -> None:
    missing = client.get("/api/analytics/paths")
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    support = client.get("/api/analytics/paths", headers=token(sqlite_engine, "support"))
    assert support.status_code == 403
    assert support.json()["code"] == "forbidden"
    admin = client.get("/api/analytics/paths", headers=token(sqlite_engine, "admin"))
    assert admin.status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"by": "source"}, "by must be one of channel, event, not 'source'"),
        ({"from_step": "web", "to_step": "store"}, "not both"),
        ({"depth": 0}, "depth must be 1 to 20"),
        ({"top": 5000}, "top paths must be 1 to 1000"),
        ({"start": "2026-03-05", "end": "2026-03-01"}, "ends (2026-03-01) before it starts"),
        ({"where": "colour=red"}, "cannot filter on 'colour'"),
    ],
)
def test_paths_reject_bad_parameters(
    client: TestClient, sqlite_engine: Engine, params: dict[str, object], message: str
) -> None:
    answer = client.get(
        "/api/analytics/paths", params=params, headers=token(sqlite_engine, "analyst")
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_query"
    assert message in answer.json()["message"]


def run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", "paths", *arguments])
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_the_top_paths_as_a_table(lake: Path) -> None:
    code, out, _ = run("--lake", str(lake))
    assert code == 0
    assert "Top channel paths: 4 people with a path" in out
    assert "web → email → store" in out
    assert "app → web → store" in out


def test_cli_json_is_the_whole_document(lake: Path) -> None:
    code, out, _ = run(
        "--lake", str(lake), "--to-step", "store", "--depth", "2", "--format", "json"
    )
    assert code == 0
    document = json.loads(out)
    assert document["to_step"] == "store"
    assert document["paths"] == [
        {"path": ["email", "store"], "people": 2},
        {"path": ["web", "store"], "people": 1},
    ]
    assert [n["id"] for n in document["nodes"]] == ["-1: email", "-1: web", "0: store"]


@pytest.mark.parametrize(
    ("show", "header", "first"),
    [
        ("paths", ["path", "people", "share"], ["web → email → store", "2", "0.5"]),
        ("links", ["source", "target", "people"], ["1: web", "2: email", "2"]),
        (
            "transitions",
            ["from", "to", "transitions", "people", "share"],
            ["email", "store", "2", "2", "1.0"],
        ),
        ("matrix", ["from \\ to", "app", "email", "store", "web"], ["app", "0", "0", "0", "1"]),
    ],
)
def test_cli_csv_shows_each_part(
    lake: Path, show: str, header: list[str], first: list[str]
) -> None:
    code, out, _ = run("--lake", str(lake), "--show", show, "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == header
    assert rows[1] == first


def test_cli_keeps_repeats_when_asked(lake: Path) -> None:
    code, out, _ = run("--lake", str(lake), "--keep-repeats", "--format", "csv")
    assert code == 0
    assert "app → web → web → store" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from-step", "web", "--to-step", "store"], "give --from-step or --to-step, not both"),
        (["--depth", "0"], "--depth must be 1 to 20, not 0"),
        (["--top", "0"], "--top must be 1 to 1000, not 0"),
        (["--from", "March"], "--from 'March' is not a date"),
        (["--where", "colour=red"], "cannot filter on 'colour'"),
    ],
)
def test_cli_rejects_bad_options(lake: Path, arguments: list[str], message: str) -> None:
    code, _, err = run("--lake", str(lake), *arguments)
    assert code == 2
    assert message in " ".join(err.split())


def test_cli_rejects_an_unknown_choice(lake: Path) -> None:
    code, _, err = run("--lake", str(lake), "--by", "source")
    assert code == 2
    assert "'source' is not one of" in " ".join(err.split())
