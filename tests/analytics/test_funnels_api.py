"""The funnel API: `/api/analytics/funnel` and `/api/analytics/funnel/dropped`, GET and POST,
roles, the answers' shape, CSV, and clear 422 answers for what cannot be used."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.analytics.lakes import Row, build_lake
from tests.profiles.helpers import api, token

T = datetime(2026, 3, 10, 9)
STEPS = ["Product Viewed", "Product Added", "Order Completed[channel=store_pos]"]


@pytest.fixture
def shop(lake_dir: Path) -> Path:
    """The server's lake: Ada converts across three channels, Bob stops at the cart, Cy at
    the view."""
    build_lake(
        lake_dir,
        [
            Row("ada", "Product Viewed", T, channel="web"),
            Row("ada", "Product Added", T + timedelta(hours=1), channel="app"),
            Row("ada", "Order Completed", T + timedelta(days=2), channel="store_pos"),
            Row("bob", "Product Viewed", T, channel="app"),
            Row("bob", "Product Added", T + timedelta(hours=3), channel="app"),
            Row("cy", "Product Viewed", T, channel="web"),
        ],
    )
    return lake_dir


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/analytics/funnel", None),
    ("POST", "/api/analytics/funnel", {"steps": STEPS}),
    ("GET", "/api/analytics/funnel/dropped", None),
    ("POST", "/api/analytics/funnel/dropped", {"steps": STEPS, "dropped": 2}),
]


def _query(**more: Any) -> dict[str, Any]:
    return {"step": STEPS, "dropped": 2, **more}


def test_every_route_needs_a_token_and_a_reader_role(
    engine: Engine, database_url: str, shop: Path
) -> None:
    headers = {role: token(engine, role) for role in ("support", "marketer", "analyst", "admin")}
    with api(database_url) as client:
        for method, path, body in ROUTES:
            params = _query() if method == "GET" else None
            missing = client.request(method, path, params=params, json=body)
            assert missing.status_code == 401, path
            assert missing.json()["code"] == "unauthorized"
            for role, header in headers.items():
                answer = client.request(method, path, params=params, json=body, headers=header)
                if role == "support":
                    assert answer.status_code == 403, (path, role)
                    assert answer.json()["code"] == "forbidden"
                else:
                    assert answer.status_code == 200, (path, role, answer.text)


def test_get_and_post_answer_people_per_step(engine: Engine, database_url: str, shop: Path) -> None:
    headers = token(engine, "marketer")
    with api(database_url) as client:
        got = client.get("/api/analytics/funnel", params={"step": STEPS}, headers=headers)
        posted = client.post("/api/analytics/funnel", json={"steps": STEPS}, headers=headers)
    assert got.status_code == posted.status_code == 200, got.text
    assert got.json() == posted.json()
    body = got.json()
    assert [(s["step"], s["count"]) for s in body["steps"]] == [
        ("Product Viewed", 3),
        ("Product Added", 2),
        ("Order Completed[channel=store_pos]", 1),
    ]
    assert [s["dropped"] for s in body["steps"]] == [0, 1, 1]
    assert body["time_to_convert"]["median_seconds"] == 2 * 86400
    assert body["breakdown"] is None
    assert (body["ordering"], body["window_seconds"]) == ("ordered", 30 * 86400)


def test_breakdown_window_and_scope_parameters(
    engine: Engine, database_url: str, shop: Path
) -> None:
    headers = token(engine, "analyst")
    body = {"steps": STEPS, "window": "1d", "breakdown": "channel", "attribution": "first"}
    with api(database_url) as client:
        answer = client.post("/api/analytics/funnel", json=body, headers=headers)
        scoped = client.get(
            "/api/analytics/funnel",
            params={"step": STEPS[:2], "where": "channel=app", "start": "2026-03-10"},
            headers=headers,
        )
    groups = answer.json()["breakdown"]["groups"]
    # Ada's store order came two days after her view: outside a one-day window.
    assert [(g["value"], [s["count"] for s in g["steps"]]) for g in groups] == [
        ("web", [2, 1, 0]),
        ("app", [1, 1, 0]),
    ]
    assert [s["count"] for s in scoped.json()["steps"]] == [1, 1]


def test_dropped_people_as_json_or_csv(engine: Engine, database_url: str, shop: Path) -> None:
    headers = token(engine, "marketer")
    with api(database_url) as client:
        as_json = client.get("/api/analytics/funnel/dropped", params=_query(), headers=headers)
        as_csv = client.get(
            "/api/analytics/funnel/dropped", params=_query(format="csv"), headers=headers
        )
        accepted = client.post(
            "/api/analytics/funnel/dropped",
            json={"steps": STEPS, "dropped": 3},
            headers={**headers, "Accept": "text/csv"},
        )
    assert as_json.json() == {
        "step": 2,
        "step_name": "Product Added",
        "previous_step_name": "Product Viewed",
        "count": 1,
        "people": [{"profile_id": "cy", "reached_at": "2026-03-10T09:00:00Z"}],
    }
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines() == ["profile_id,reached_at", "cy,2026-03-10T09:00:00Z"]
    assert "funnel-dropped-step-2.csv" in as_csv.headers["content-disposition"]
    assert accepted.text.splitlines() == ["profile_id,reached_at", "bob,2026-03-10T12:00:00Z"]


@pytest.mark.parametrize(
    ("method", "path", "request_args", "message"),
    [
        ("GET", "/api/analytics/funnel", {"params": {"step": ["A"]}}, "2 to 20 steps; 1 given"),
        ("GET", "/api/analytics/funnel", {"params": {}}, "2 to 20 steps; 0 given"),
        (
            "GET",
            "/api/analytics/funnel",
            {"params": {"step": STEPS, "window": "soon"}},
            "window: 'soon' is not a duration",
        ),
        (
            "POST",
            "/api/analytics/funnel",
            {"json": {"steps": STEPS, "ordering": "sorted"}},
            "unknown ordering 'sorted'",
        ),
        (
            "POST",
            "/api/analytics/funnel",
            {"json": {"steps": STEPS, "breakdown": "weather"}},
            "cannot break down by 'weather'",
        ),
        (
            "POST",
            "/api/analytics/funnel",
            {"json": {"steps": STEPS, "exclusions": ["Refund@3-1"]}},
            "the exclusion 'Refund@3-1'",
        ),
        (
            "GET",
            "/api/analytics/funnel",
            {"params": {"step": STEPS, "where": "colour=red"}},
            "cannot filter on 'colour'",
        ),
        (
            "GET",
            "/api/analytics/funnel/dropped",
            {"params": _query(dropped=1)},
            "the step must be 2 to 3; 1 given",
        ),
        (
            "GET",
            "/api/analytics/funnel/dropped",
            {"params": _query(format="xml")},
            "'xml' is not a format here",
        ),
    ],
)
def test_what_cannot_be_used_is_a_422_naming_it(
    engine: Engine,
    database_url: str,
    shop: Path,
    method: str,
    path: str,
    request_args: dict[str, Any],
    message: str,
) -> None:
    headers = token(engine, "marketer")
    with api(database_url) as client:
        answer = client.request(method, path, headers=headers, **request_args)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_query"
    assert message in answer.json()["message"]
