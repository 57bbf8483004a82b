"""The API of retention, lifecycle, churn, channels and multichannel: roles, answers, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from omnicx.analytics.lake import open_lake
from omnicx.analytics.retention import retention
from omnicx.analytics.scope import Scope
from tests.analytics.lakes import build_lake
from tests.analytics.test_channels import _rows
from tests.profiles.helpers import api, token

ROUTES = ("retention", "lifecycle", "churn", "channels", "multichannel")


@pytest.fixture
def shop_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "shop-lake"
    build_lake(path, _rows(), batches=2)
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(path))
    return path


def test_every_route_needs_a_reader(engine: Engine, database_url: str, shop_lake: Path) -> None:
    support, analyst = token(engine, "support"), token(engine, "analyst")
    marketer = token(engine, "marketer")
    with api(database_url) as client:
        for route in ROUTES:
            path = f"/api/analytics/{route}"
            assert client.get(path).status_code == 401, path
            refused = client.get(path, headers=support)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden", path
            for headers in (analyst, marketer):
                assert client.get(path, headers=headers).status_code == 200, path


def test_answers_are_the_reports_documents(
    engine: Engine, database_url: str, shop_lake: Path
) -> None:
    headers = token(engine, "analyst")
    with api(database_url) as client:
        grid = client.get(
            "/api/analytics/retention",
            params={"period": "month", "by": "first_channel", "periods": 2},
            headers=headers,
        ).json()
        direct = retention(open_lake(shop_lake), Scope(), by_first_channel=True, periods=2)
        assert grid == direct.to_dict()
        # ada started in January; bo and cy in February (bo's January e-mail was passive),
        # the lake's last month, so nothing after it is known yet.
        assert [(c["cohort"], c["first_channel"], c["retained"]) for c in grid["cohorts"]] == [
            ("2026-01-01", "web", [1, 1, None]),
            ("2026-02-01", "email", [1, None, None]),
            ("2026-02-01", "support", [1, None, None]),
        ]
        lifecycle = client.get(
            "/api/analytics/lifecycle", params={"start": "2026-02-01"}, headers=headers
        ).json()
        assert lifecycle["periods"] == [
            {
                "period": "2026-02-01",
                "new": 2,
                "returning": 1,
                "resurrecting": 0,
                "dormant": 0,
                "active": 3,
                "quick_ratio": None,
            }
        ]
        churn = client.get(
            "/api/analytics/churn",
            params={"inactive_after": "1w", "as_of": "2026-02-09"},
            headers=headers,
        ).json()
        # Up to February 9: ada (last seen February 1) is the only one gone for 7 days.
        assert (churn["people"], churn["churned"], churn["inactive_after_days"]) == (3, 1, 7)
        assert churn["points"][0]["touches"] == [{"channel": "web", "event": "Page Viewed"}]
        channels = client.get(
            "/api/analytics/channels",
            params={"where": "channel=support", "response_event": "Ticket Resolved"},
            headers=headers,
        ).json()
        assert [c["channel"] for c in channels["channels"]] == ["support"]
        times = channels["channels"][0]["support"]
        assert (times["responded"], times["first_response_median_hours"]) == (2, 15.0)
        value = client.get(
            "/api/analytics/multichannel",
            params={"channel_cap": 2, "touchpoints": "1,3"},
            headers=headers,
        ).json()
        assert [(g["group"], g["people"]) for g in value["by_channels"]] == [("1", 1), ("2+", 2)]
        assert [(g["group"], g["customers"]) for g in value["by_touchpoints"]] == [
            ("1-2", 0),
            ("3+", 2),
        ]
        assert value["multichannel"]["customer_share"] == 0.5


@pytest.mark.parametrize(
    ("route", "params", "words"),
    [
        ("retention", {"period": "year"}, "period must be one of day, week, month"),
        ("retention", {"kind": "every"}, "kind must be one of first_time, recurring"),
        ("retention", {"by": "source"}, "by must be first_channel"),
        ("retention", {"periods": 0}, "periods must be from 1 to 120"),
        ("retention", {"start_event": " "}, "start_event must name an event"),
        ("retention", {"where": "colour=red"}, "cannot filter on 'colour'"),
        ("lifecycle", {"start": "2026-03-01", "end": "2026-02-01"}, "ends (2026-02-01) before"),
        ("lifecycle", {"period": "quarter"}, "period must be one of"),
        ("churn", {"inactive_after": "3 months"}, "inactive_after must be a number of days"),
        ("churn", {"inactive_after": "0d"}, "inactive_after must be a number of days"),
        ("churn", {"touches": 4}, "touches must be from 1 to 3"),
        ("churn", {"limit": 0}, "limit must be from 1 to 1000"),
        ("channels", {"period": "hour"}, "period must be one of"),
        ("channels", {"conversion_event": ""}, "conversion_event must name an event"),
        ("multichannel", {"touchpoints": "0,5"}, "touchpoints must be rising whole numbers"),
        ("multichannel", {"touchpoints": "1,x"}, "touchpoints must be rising whole numbers"),
        ("multichannel", {"channel_cap": 1}, "channel_cap must be from 2 to 20"),
    ],
)
def test_bad_parameters_are_named(
    engine: Engine,
    database_url: str,
    shop_lake: Path,
    route: str,
    params: dict[str, object],
    words: str,
) -> None:
    with api(database_url) as client:
        answer = client.get(
            f"/api/analytics/{route}", params=params, headers=token(engine, "analyst")
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_query"
    assert words in answer.json()["message"]


def test_an_empty_lake_answers_empty_reports(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(tmp_path / "nothing-yet"))
    with api(database_url) as client:
        headers = token(engine, "analyst")
        for route in ROUTES:
            answer = client.get(f"/api/analytics/{route}", headers=headers)
            assert answer.status_code == 200, route
        assert client.get("/api/analytics/retention", headers=headers).json()["cohorts"] == []
        churn = client.get("/api/analytics/churn", headers=headers).json()
        assert (churn["as_of"], churn["people"]) == (None, 0)
