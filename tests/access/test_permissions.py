"""One policy for the admin API and the console: every /api route asks for a permission, and
admits exactly the roles holding it.

The routes are found by walking the real application's routes and their dependencies, so a
new route is checked without being listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access.permissions import PERMISSIONS, allows, permissions_of, roles_with
from omnicx.access.service import ROLES, AccessError
from omnicx.api.app import create_app
from omnicx.api.auth import permission_required_by, require_permission
from omnicx.console.security import (
    permission_required_by as console_permission_required_by,
)
from omnicx.settings import Settings
from tests.access.helpers import bearer, make_token

ANY_TOKEN = {"/api/whoami"}
"""The /api routes open to every valid token, with no permission."""


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    permissions: tuple[str, ...]


def _route_contexts(app: FastAPI) -> Iterator[Any]:
    try:  # FastAPI >= 0.160 nests included routers; this lists their routes flat
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    yield from iter_route_contexts(app.routes)


def _permissions(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        found = permission_required_by(dependency.call)
        if found is not None:
            yield found
        yield from _permissions(dependency)


def api_routes() -> list[ApiRoute]:
    """Every route under /api, each method apart, with the permissions it asks for."""
    app = create_app()
    routes: list[ApiRoute] = []
    for route in _route_contexts(app):
        path = route.path or ""
        if not path.startswith("/api/"):
            continue
        permissions = tuple(dict.fromkeys(_permissions(route.dependant)))
        routes.extend(ApiRoute(method, path, permissions) for method in sorted(route.methods))
    return routes


ROUTES = api_routes()


def test_the_walk_finds_the_routes() -> None:
    paths = {route.path for route in ROUTES}
    assert {"/api/whoami", "/api/profiles/{profile_id}", "/api/segments"} <= paths
    assert len(ROUTES) > 40


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_api_route_asks_for_one_permission(route: ApiRoute) -> None:
    if route.path in ANY_TOKEN:
        assert route.permissions == ()
    else:
        assert len(route.permissions) == 1, f"{route.method} {route.path}: {route.permissions}"


def _request(client: TestClient, route: ApiRoute, token: str) -> Any:
    path = re.sub(r"\{[^}]+\}", "1", route.path)
    # A well-formed body (JSON syntax errors are answered before authentication).
    body: dict[str, Any] | None = {} if route.method in ("POST", "PUT", "PATCH") else None
    return client.request(route.method, path, headers=bearer(token), json=body)


ON_THE_API = [p for p in PERMISSIONS if any(p in route.permissions for route in ROUTES)]


def _console_permissions() -> set[str]:
    """The permissions the console's routes ask for (tests/console checks each route's roles)."""
    found: set[str] = set()
    for route in _route_contexts(create_app()):
        if (route.path or "").startswith("/console") and hasattr(route, "dependant"):
            for dependency in _dependencies(route.dependant):
                asked = console_permission_required_by(dependency.call)
                if asked:
                    found.add(asked)
    return found


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_every_permission_guards_something() -> None:
    """A permission no API route and no console page asks for would be a promise in
    docs/roles.md that nothing keeps."""
    unused = set(PERMISSIONS) - set(ON_THE_API) - _console_permissions()
    # Guards no route: it decides what pages show (masking, ui.personal in macros.html), and
    # tests/console/test_customers.py checks the roles without it see personal data masked.
    assert unused == {"profiles.personal_data"}, unused


def test_routes_ask_only_for_known_permissions() -> None:
    assert {p for route in ROUTES for p in route.permissions} == set(ON_THE_API)
    assert ON_THE_API


@pytest.mark.parametrize("permission", ON_THE_API)
def test_routes_admit_exactly_the_roles_holding_their_permission(
    permission: str, database_url: str, engine: Engine
) -> None:
    guarded = [route for route in ROUTES if permission in route.permissions]
    tokens = {role: make_token(engine, role=role)[1] for role in ROLES}
    app = create_app(Settings(database_url=database_url, run_processing=False))
    with TestClient(app) as client:
        for route in guarded:
            for role, token in tokens.items():
                response = _request(client, route, token)
                where = f"{route.method} {route.path} as {role}: {response.status_code}"
                if role in roles_with(permission):
                    assert response.status_code not in (401, 403), where
                    assert response.status_code < 500, where
                else:
                    assert response.status_code == 403, where
                    message = response.json()["message"]
                    assert f"this needs the permission {permission} (" in message, where
                    assert message.endswith(f"; your token has {role}"), where


def test_whoami_admits_every_role(database_url: str, engine: Engine) -> None:
    app = create_app(Settings(database_url=database_url, run_processing=False))
    with TestClient(app) as client:
        for role in ROLES:
            response = client.get("/api/whoami", headers=bearer(make_token(engine, role=role)[1]))
            assert response.json()["role"] == role


def test_the_403_names_the_permission_and_the_roles(database_url: str, engine: Engine) -> None:
    app = create_app(Settings(database_url=database_url, run_processing=False))
    _id, analyst = make_token(engine, role="analyst")
    _id, support = make_token(engine, role="support")
    with TestClient(app) as client:
        create = client.post("/api/segments", headers=bearer(analyst), json={})
        erase = client.delete("/api/profiles/1", headers=bearer(support))
    assert create.json() == {
        "code": "forbidden",
        "message": "this needs the permission audiences.write (roles admin or marketer); "
        "your token has analyst",
    }
    assert erase.json()["message"] == (
        "this needs the permission profiles.privacy (role admin); your token has support"
    )


def test_require_permission_is_one_dependency_per_permission() -> None:
    assert require_permission("profiles.read") is require_permission("profiles.read")
    assert permission_required_by(require_permission("audiences.write")) == "audiences.write"
    assert permission_required_by(object()) is None
    with pytest.raises(AccessError, match="Unknown permission"):
        require_permission("profiles.fly")


def test_the_policy_itself() -> None:
    assert permissions_of("admin") == frozenset(PERMISSIONS)
    for permission, (roles, what) in PERMISSIONS.items():
        assert what
        assert set(roles) <= set(ROLES) - {"admin"}, permission
        assert roles_with(permission)[0] == "admin"
        for role in ROLES:
            assert allows(role, permission) == (permission in permissions_of(role))
