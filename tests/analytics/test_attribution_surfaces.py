"""`GET /api/analytics/attribution` and `omnicx report attribution`: answers, roles, bad
input."""

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
from tests.analytics.test_attribution import shop
from tests.profiles.helpers import token

ROUTE = "/api/analytics/attribution"


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hand-computed shop of test_attribution, as the server's lake."""
    path = tmp_path / "lake"
    build_lake(path, shop())
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(path))
    return path


def test_attribution_answers_an_analyst(client: TestClient, sqlite_engine: Engine) -> None:
    answer = client.get(
        ROUTE,
        params=[("model", "first_touch"), ("model", "markov"), ("half_life_days", "1")],
        headers=token(sqlite_engine, "analyst"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["conversions"], body["revenue"], body["journeys_without_conversion"]) == (
        4,
        170.0,
        1,
    )
    assert body["models"] == ["first_touch", "markov"]
    assert body["half_life_days"] == 1.0
    first = {c["channel"]: c["credit"]["first_touch"] for c in body["channels"]}
    assert first == {
        "web": {"conversions": 2.0, "revenue": 120.0},
        "app": {"conversions": 1.0, "revenue": 50.0},
        "store": {"conversions": 1.0, "revenue": 0.0},
        "email": {"conversions": 0.0, "revenue": 0.0},
    }
    assert sum(c["credit"]["markov"]["conversions"] for c in body["channels"]) == pytest.approx(4)
    assert all(c["removal_effect"] is not None for c in body["channels"])


def test_attribution_of_another_event_in_a_range(client: TestClient, sqlite_engine: Engine) -> None:
    answer = client.get(
        ROUTE,
        params={
            "conversion": "Email Opened",
            "model": "last_touch",
            "lookback_days": 0.5,
            "end": "2026-03-01",
        },
        headers=token(sqlite_engine, "marketer"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # dan opened an e-mail on March 1 with no touchpoint before: its own channel; ann's
    # e-mail of March 2 is out of the range.
    assert body["conversions"] == 1
    assert [(c["channel"], c["credit"]["last_touch"]["conversions"]) for c in body["channels"]] == [
        ("email", 1.0)
    ]
    assert body["conversion_probability"] is None  # Markov was not asked for


def test_attribution_needs_a_reader_token(client: TestClient, sqlite_engine: Engine) -> None:
    missing = client.get(ROUTE)
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    support = client.get(ROUTE, headers=token(sqlite_engine, "support"))
    assert support.status_code == 403
    assert support.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "u_shaped"}, "unknown model 'u_shaped': choose from first_touch"),
        ({"lookback_days": 0}, "lookback_days must be more than 0"),
        ({"half_life_days": -2}, "half_life_days must be more than 0"),
        ({"lookback_days": 1e9}, "at most 36600"),
        ({"markov_order": 7}, "order must be 1 to 4, not 7"),
        ({"conversion": ""}, "name the conversion event"),
        ({"where": "total"}, "cannot read the filter"),
    ],
)
def test_attribution_rejects_bad_parameters(
    client: TestClient,
    sqlite_engine: Engine,
    params: dict[str, object],
    message: str,
) -> None:
    answer = client.get(ROUTE, params=params, headers=token(sqlite_engine, "analyst"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_query"
    assert message in answer.json()["message"]


def run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", "attribution", *arguments], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_cli_shows_the_models_side_by_side(lake: Path) -> None:
    code, out, _ = run("--lake", str(lake), "--half-life", "1d")
    assert code == 0
    assert "Credit for Order Completed by channel (conversions; 4 conversions)" in out
    header = next(line for line in out.splitlines() if "channel" in line and "linear" in line)
    for column in (
        "first touch",
        "last touch",
        "linear",
        "time decay",
        "position based",
        "markov",
        "removal effect",
    ):
        assert column in header
    web = next(line for line in out.splitlines() if " web " in line)
    assert "2.17" in web  # linear: 1/2 + 2/3 + 1


def test_cli_json_and_csv(lake: Path) -> None:
    code, out, _ = run("--lake", str(lake), "--model", "linear", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["models"] == ["linear"]
    assert document["conversion_probability"] is None
    web = next(c for c in document["channels"] if c["channel"] == "web")
    assert web["credit"]["linear"]["revenue"] == pytest.approx(50 + 100 / 3 + 20)
    code, out, _ = run(
        "--lake",
        str(lake),
        "--model",
        "linear",
        "--model",
        "last_touch",
        "--measure",
        "revenue",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["channel", "linear", "last_touch"]
    assert {r["channel"]: float(r["last_touch"]) for r in rows} == {
        "web": 70.0,
        "email": 100.0,
        "store": 0.0,
        "app": 0.0,
    }


def test_cli_lookback_and_range(lake: Path) -> None:
    code, out, _ = run(
        "--lake",
        str(lake),
        "--lookback",
        "2w",
        "--from",
        "2026-04-10",
        "--model",
        "first_touch",
        "--format",
        "csv",
    )
    assert code == 0
    # ann's second order: its web visit was 30 days before, beyond a two-week lookback.
    assert list(csv.reader(io.StringIO(out))) == [["channel", "first_touch"], ["store", "1.0"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lookback", "30 days"], "--lookback: '30 days' is not a duration"),
        (["--half-life", "0d"], "--half-life must be longer than 0"),
        (["--lookback", "99999999999d"], "--lookback '99999999999d' is far too long"),
        (["--lookback", "40000d"], "lookback window must be at most 36600 days"),
        (["--markov-order", "9"], "order must be 1 to 4, not 9"),
        (["--to", "2026-13-01"], "--to '2026-13-01' is not a date"),
        (["--model", "u_shaped"], "'u_shaped' is not one of"),
    ],
)
def test_cli_rejects_bad_options(lake: Path, arguments: list[str], message: str) -> None:
    code, _, err = run("--lake", str(lake), *arguments)
    assert code == 2
    assert message in " ".join(err.split())
