"""The journey stages API: who may call what, the report, a profile's history (following a
merge), the stage model read and replaced, and every bad parameter answered with a 422."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from omnicx.analytics.stage_settings import DEFAULT_DOCUMENT
from omnicx.api.app import create_app
from omnicx.identity.tables import identifiers, identity_profiles
from omnicx.settings import Settings
from tests.access.helpers import bearer, make_token
from tests.analytics.lakes import Row, build_lake

T0 = datetime(2026, 1, 5, 12)
SMALL = {
    "churn": {"after_days": 30, "from": "buyer"},
    "stages": [
        {"name": "visitor", "rules": [{}]},
        {"name": "buyer", "rules": [{"events": ["Order Completed"]}]},
    ],
}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@contextmanager
def client(database_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("OMNICX_LAKE_DIR", str(lake))
    with TestClient(create_app(Settings(database_url=database_url, run_processing=False))) as c:
        yield c


def headers(engine: Engine, role: str) -> dict[str, str]:
    return bearer(make_token(engine, role)[1])


@pytest.fixture
def lake(tmp_path: Path) -> Path:
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


ROUTES = [
    ("GET", "/api/analytics/stages", {"admin", "marketer", "analyst"}),
    ("GET", "/api/analytics/stages/ada", {"admin", "marketer", "analyst"}),
    ("GET", "/api/analytics/stages/settings", {"admin", "marketer", "analyst"}),
    ("PUT", "/api/analytics/stages/settings", {"admin", "marketer"}),
]


def test_every_route_needs_a_token_and_a_role(
    engine: Engine, database_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = {role: headers(engine, role) for role in ("admin", "support", "marketer", "analyst")}
    with client(database_url, lake, monkeypatch) as api:
        for method, path, allowed in ROUTES:
            body = SMALL if method == "PUT" else None
            missing = api.request(method, path, json=body)
            assert missing.status_code == 401, path
            assert missing.json()["code"] == "unauthorized"
            for role, auth in tokens.items():
                answer = api.request(method, path, json=body, headers=auth)
                if role in allowed:
                    assert answer.status_code == 200, (path, role, answer.text)
                else:
                    assert answer.status_code == 403, (path, role)
                    assert answer.json()["code"] == "forbidden"


def test_the_report_counts_people_per_stage_and_the_flows(
    engine: Engine, database_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = headers(engine, "analyst")
    with client(database_url, lake, monkeypatch) as api:
        answer = api.get(
            "/api/analytics/stages",
            params={"start": "2026-01-12", "period": "week"},
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["as_of"] == "2026-01-14T12:00:00Z"  # the newest event
        counts = {c["stage"]: (c["people"], c["entered"]) for c in body["counts"]}
        assert counts["retention"] == (1, 1)  # ada's second order on the 14th
        assert counts["consideration"] == (1, 1)  # bo, on the 13th
        assert body["total"] == 2
        assert body["stages"][-1] == "churned"
        assert [(p["period"], p["stage"]) for p in body["periods"] if p["people"]] == [
            ("2026-01-12", "consideration"),
            ("2026-01-12", "retention"),
        ]
        links = {(x["source"], x["target"]): x["people"] for x in body["flows"]["links"]}
        assert links == {
            ("start:new", "end:consideration"): 1,
            ("start:purchase", "end:retention"): 1,
        }
        assert {"from": "purchase", "to": "retention", "people": 1} in body["transitions"]
        assert body["flows"]["nodes"][0] == {
            "id": "start:new", "side": "start", "stage": "new", "people": 1,
        }  # fmt: skip

        web = api.get("/api/analytics/stages", params={"where": "channel=web"}, headers=auth)
        assert {c["stage"]: c["people"] for c in web.json()["counts"]}["purchase"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "year"}, "period 'year' is not one of day, week, month"),
        ({"where": "colour=red"}, "cannot filter on 'colour'"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "ends (2026-01-01) before it starts"),
    ],
)
def test_bad_parameters_answer_422_naming_them(
    engine: Engine,
    database_url: str,
    lake: Path,
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
    message: str,
) -> None:
    with client(database_url, lake, monkeypatch) as api:
        answer = api.get(
            "/api/analytics/stages", params=params, headers=headers(engine, "marketer")
        )
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_query"
    assert message in answer.json()["message"]


def test_a_profile_history_follows_a_merge_and_404s_for_nobody(
    engine: Engine, database_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:  # "old" was merged into "ada"
        connection.execute(
            insert(identity_profiles),
            [
                {"id": "ada", "created_at": now, "updated_at": now, "merged_into": None},
                {"id": "old", "created_at": now, "updated_at": now, "merged_into": "ada"},
            ],
        )
        connection.execute(
            insert(identifiers).values(
                type="email",
                value="ada@example.com",
                profile_id="ada",
                shared=False,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
    auth = headers(engine, "marketer")
    with client(database_url, lake, monkeypatch) as api:
        answer = api.get("/api/analytics/stages/ada", headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["profile_id"] == "ada" and body["stage"] == "retention"
        assert [(h["stage"], h["entered_at"]) for h in body["history"]] == [
            ("awareness", "2026-01-05T12:00:00Z"),
            ("purchase", "2026-01-06T12:00:00Z"),
            ("retention", "2026-01-14T12:00:00Z"),
        ]
        assert body["since"] == "2026-01-14T12:00:00Z"
        early = api.get("/api/analytics/stages/ada", params={"end": "2026-01-10"}, headers=auth)
        assert early.json()["stage"] == "purchase"
        merged = api.get("/api/analytics/stages/old", headers=auth)
        assert merged.status_code == 200 and merged.json()["profile_id"] == "ada"
        nobody = api.get("/api/analytics/stages/nobody", headers=auth)
        assert nobody.status_code == 404
        assert nobody.json() == {
            "code": "not_found",
            "message": "No stage for the profile 'nobody': the lake holds no event of it that "
            "a stage rule counts.",
        }


def test_the_stage_model_is_read_replaced_and_checked(
    engine: Engine, database_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marketer, analyst = headers(engine, "marketer"), headers(engine, "analyst")
    with client(database_url, lake, monkeypatch) as api:
        built_in = api.get("/api/analytics/stages/settings", headers=analyst).json()
        assert built_in["version"] == 0 and built_in["document"] == DEFAULT_DOCUMENT
        assert built_in["model"]["churn"] == {"after_days": 90, "from": "purchase"}

        stored = api.put("/api/analytics/stages/settings", json=SMALL, headers=marketer)
        assert stored.status_code == 200, stored.text
        assert stored.json()["version"] == 1
        assert stored.json()["model"]["stages"][1] == {
            "name": "buyer", "rules": [{"events": ["Order Completed"]}],
        }  # fmt: skip
        again = api.put("/api/analytics/stages/settings", json=SMALL, headers=marketer)
        assert again.json()["version"] == 1  # the same model: no new version

        report = api.get("/api/analytics/stages", headers=analyst).json()
        assert report["stages"] == ["visitor", "buyer", "churned"]
        assert {c["stage"]: c["people"] for c in report["counts"]} == {
            "visitor": 1, "buyer": 1, "churned": 0,
        }  # fmt: skip

        bad = {"stages": [{"name": "visitor", "rules": [{"count": 0}]}]}
        refused = api.put("/api/analytics/stages/settings", json=bad, headers=marketer)
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_settings"
        assert "key 'stages[1].rules[1].count'" in refused.json()["message"]
        not_an_object = api.put("/api/analytics/stages/settings", json=[1], headers=marketer)
        assert not_an_object.status_code == 422
        assert api.get("/api/analytics/stages/settings", headers=analyst).json()["version"] == 1


def test_the_routes_are_in_the_openapi_document(database_url: str) -> None:
    paths = create_app(Settings(database_url=database_url, run_processing=False)).openapi()["paths"]
    assert {"get"} <= set(paths["/api/analytics/stages"])
    assert {"get", "put"} <= set(paths["/api/analytics/stages/settings"])
    assert {"get"} <= set(paths["/api/analytics/stages/{profile_id}"])
