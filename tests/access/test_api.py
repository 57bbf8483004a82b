"""The admin API's authentication through the real application: 401, 403, 200, revocation."""

from __future__ import annotations

import time
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access import service
from omnicx.api import auth
from omnicx.api.app import create_app
from omnicx.api.auth import Caller, require_role
from omnicx.settings import Settings
from tests.access.helpers import bearer, make_token
from tests.collect.helpers import add_source, basic, running_app

probe = APIRouter()


@probe.get("/api/test/support-desk")
def support_desk(caller: Annotated[Caller, Depends(require_role("admin", "support"))]) -> str:
    return caller.role


@probe.get("/api/test/reports")
def reports(
    caller: Annotated[Caller, Depends(require_role("marketer", "analyst"))], kind: str, days: int
) -> str:
    return f"{kind} {days}"


def _with_probe(database_url: str) -> FastAPI:
    app = create_app(Settings(database_url=database_url, run_processing=False))
    app.include_router(probe)
    return app


def test_whoami_answers_with_the_tokens_role_and_name(database_url: str, engine: Engine) -> None:
    _id, token = make_token(engine, role="analyst", name="weekly report")
    with running_app(database_url) as client:
        response = client.get("/api/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"role": "analyst", "name": "weekly report"}


@pytest.mark.parametrize(
    ("headers", "phrase"),
    [
        ({}, "No API token"),
        ({"Authorization": "Basic dXNlcjo="}, "Malformed"),
        ({"Authorization": "Bearer"}, "Malformed"),
        ({"Authorization": "Bearer a b"}, "Malformed"),
        ({"Authorization": "Bearer ocx_" + "A" * 43}, "unknown or revoked"),
        ({"Authorization": "Bearer not-a-token"}, "unknown or revoked"),
    ],
)
def test_missing_malformed_or_unknown_tokens_get_401(
    database_url: str, headers: dict[str, str], phrase: str
) -> None:
    with running_app(database_url) as client:
        response = client.get("/api/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "unauthorized"
    assert phrase in body["message"]


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("support", 200), ("marketer", 403), ("analyst", 403)],
)
def test_roles_are_checked(database_url: str, engine: Engine, role: str, status: int) -> None:
    _id, token = make_token(engine, role=role)
    with TestClient(_with_probe(database_url)) as client:
        response = client.get("/api/test/support-desk", headers=bearer(token))
    assert response.status_code == status
    if status == 200:
        assert response.json() == role
    else:
        assert response.json() == {
            "code": "forbidden",
            "message": f"this needs the role admin or support; your token has {role}",
        }


def test_admin_may_call_every_route(database_url: str, engine: Engine) -> None:
    _id, token = make_token(engine, role="admin")
    with TestClient(_with_probe(database_url)) as client:
        response = client.get("/api/test/reports?kind=funnel&days=7", headers=bearer(token))
        assert response.json() == "funnel 7"
        _id, support = make_token(engine, role="support")
        refused = client.get("/api/test/reports?kind=funnel&days=7", headers=bearer(support))
    assert refused.status_code == 403
    assert "admin, marketer or analyst" in refused.json()["message"]


def test_validation_errors_name_the_field(database_url: str, engine: Engine) -> None:
    _id, token = make_token(engine, role="analyst")
    with TestClient(_with_probe(database_url)) as client:
        response = client.get("/api/test/reports?days=soon", headers=bearer(token))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert "query.kind: field required" in body["message"]
    assert "query.days: input should be a valid integer" in body["message"]
    assert {e["field"] for e in body["errors"]} == {"query.kind", "query.days"}


def test_authentication_comes_before_validation(database_url: str) -> None:
    with TestClient(_with_probe(database_url)) as client:
        response = client.get("/api/test/reports")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_unknown_api_routes_answer_json(database_url: str) -> None:
    with running_app(database_url) as client:
        missing = client.get("/api/nothing-here")
        wrong_method = client.post("/api/whoami")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert "/api/nothing-here" in missing.json()["message"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


def test_revoked_tokens_are_refused_within_the_cache_bound(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "TOKEN_CACHE_SECONDS", 0.5)
    token_id, token = make_token(engine, role="support")
    with running_app(database_url) as client:
        assert client.get("/api/whoami", headers=bearer(token)).status_code == 200
        with engine.begin() as connection:
            service.revoke_token(connection, token_id=token_id)
        time.sleep(0.5)
        response = client.get("/api/whoami", headers=bearer(token))
    assert response.status_code == 401


def test_token_lookups_are_cached(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = auth.authenticate

    def counting(connection: object, plaintext: str) -> Caller | None:
        calls.append(plaintext)
        return real(connection, plaintext)  # type: ignore[arg-type]

    monkeypatch.setattr(auth, "authenticate", counting)
    _id, token = make_token(engine, role="support")
    with running_app(database_url) as client:
        for _ in range(5):
            assert client.get("/api/whoami", headers=bearer(token)).status_code == 200
    assert len(calls) == 1


def test_openapi_declares_the_bearer_scheme(database_url: str) -> None:
    with running_app(database_url) as client:
        spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    whoami = spec["paths"]["/api/whoami"]["get"]
    assert whoami["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(whoami["responses"])
    assert "security" not in spec["paths"]["/v1/track"]["post"]


def test_collection_api_is_untouched(database_url: str, engine: Engine) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        accepted = client.post(
            "/v1/track", json={"userId": "u1", "event": "Viewed"}, headers=basic(key)
        )
        refused = client.post("/v1/track", json={"userId": "u1", "event": "Viewed"})
        settings = client.get("/v1/projects/nokey/settings")
    assert accepted.json() == {"success": True}
    assert refused.status_code == 401
    assert refused.json()["code"] == "missing_write_key"
    assert settings.status_code == 404
    assert "detail" in settings.json()
