"""Every analytics route checks the token before anything else: a caller without one gets
401, never a 422 about its parameters, and the lake is not even opened for them (a broken
or busy lake is nobody's business but its readers')."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from omnicx.api.app import create_app
from omnicx.settings import Settings
from tests.profiles.helpers import api, token


def _analytics_gets() -> list[str]:
    app = create_app(Settings(database_url="sqlite://", run_processing=False))
    try:  # FastAPI >= 0.160 nests included routers; this lists their routes flat
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        routes = [route for route in app.routes if isinstance(route, APIRoute)]
    return sorted(
        path
        for route in routes
        if (path := route.path or "").startswith("/api/analytics")
        and "GET" in route.methods
        and "{" not in path
    )


ROUTES = _analytics_gets()


def test_there_are_analytics_routes_to_check() -> None:
    assert {"/api/analytics/paths", "/api/analytics/attribution"} <= set(ROUTES)


@pytest.mark.parametrize("path", ROUTES)
def test_no_token_is_refused_before_parameters_are_read(
    database_url: str, lake_dir: Path, path: str
) -> None:
    # A lake this omnicx cannot read: opening it fails, so a route that opened it before
    # checking the token would answer an error other than 401.
    (lake_dir / "_manifest.json").write_text('{"format": 999}')
    bad = {"start": "not-a-date", "by": "nonsense", "where": "???", "model": "nope"}
    with api(database_url) as client:
        answer = client.get(path, params=bad)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["code"] == "unauthorized"


def test_a_reader_still_gets_the_parameter_error(engine: Engine, database_url: str) -> None:
    with api(database_url) as client:
        answer = client.get(
            "/api/analytics/paths",
            params={"start": "not-a-date"},
            headers=token(engine, "analyst"),
        )
        assert answer.status_code == 422, answer.text
