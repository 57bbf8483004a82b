"""The segments API on SQLite and PostgreSQL: defining, changing, deleting, members, a
profile's segments, roles, errors that name the problem, and schemathesis against the
documented schema of every audiences route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send

from omnicx.api.app import create_app
from tests.audiences.live import LiveShop
from tests.profiles.helpers import api, identify, token, track

VIP = {"trait": "tier", "op": "eq", "value": "gold"}


def test_define_list_change_and_delete_a_segment(engine: Engine, database_url: str) -> None:
    shop = LiveShop(engine)
    shop.send("web", identify("u1", traits={"tier": "gold"}), identify("u2", traits={"tier": "x"}))
    marketer = token(engine, "marketer")
    with api(database_url) as client:
        created = client.post(
            "/api/segments",
            headers=marketer,
            json={"key": "vip", "name": "VIP", "definition": VIP, "description": "Gold tier"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["key"], body["ready"], body["members"]) == ("vip", False, 0)
        assert body["text"] == 'trait tier = "gold"'
        shop.process()  # the processing stage evaluates it for everyone

        [listed] = client.get("/api/segments", headers=marketer).json()["segments"]
        assert (listed["ready"], listed["members"]) == (True, 1)
        members = client.get("/api/segments/vip/members", headers=marketer).json()
        assert [m["profile_id"] for m in members["members"]] == [shop.profile_id("user_id", "u1")]
        mine = client.get(
            f"/api/profiles/{shop.profile_id('user_id', 'u1')}/segments", headers=marketer
        ).json()
        assert [s["segment"] for s in mine["segments"]] == ["vip"]

        changed = client.put(
            "/api/segments/vip",
            headers=marketer,
            json={"definition": {"trait": "tier", "op": "in", "value": ["gold", "x"]}},
        )
        assert (changed.status_code, changed.json()["version"]) == (200, 2)
        shop.process()
        assert client.get("/api/segments/vip", headers=marketer).json()["members"] == 2

        assert client.delete("/api/segments/vip", headers=marketer).status_code == 204
        missing = client.get("/api/segments/vip", headers=marketer)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_errors_name_the_problem(engine: Engine, database_url: str) -> None:
    LiveShop(engine).send("web", identify("u1", traits={"tier": "gold"}))
    marketer = token(engine, "marketer")
    with api(database_url) as client:

        def post(**body: Any) -> Any:
            return client.post("/api/segments", headers=marketer, json=body)

        unknown = post(key="a", name="A", definition={"trait": "teir", "op": "eq", "value": 1})
        assert unknown.status_code == 422
        assert unknown.json()["code"] == "invalid_definition"
        [error] = unknown.json()["errors"]
        assert error["field"] == "definition.trait"
        assert "tier" in error["message"]  # the suggestion
        window = post(key="a", name="A", definition={"event": "X", "within": {"last_days": 0}})
        assert window.json()["errors"][0]["field"] == "definition.within.last_days"
        assert post(key="Bad Key", name="A", definition=VIP).json()["code"] == "invalid_key"
        assert post(key="vip", name="VIP", definition=VIP).status_code == 201
        taken = post(key="vip", name="VIP", definition=VIP)
        assert (taken.status_code, taken.json()["code"]) == (409, "exists")
        assert post(key="vip2", name="B", definition={"segment": "vip"}).status_code == 201
        cycle = client.put(
            "/api/segments/vip", headers=marketer, json={"definition": {"segment": "vip2"}}
        )
        assert cycle.status_code == 422
        assert "vip" in cycle.json()["message"]
        in_use = client.delete("/api/segments/vip", headers=marketer)
        assert (in_use.status_code, in_use.json()["code"]) == (409, "in_use")
        checked = client.post(
            "/api/segments/check", headers=marketer, json={"definition": {"identity": "email"}}
        )
        assert checked.json()["text"] == "has email"


def test_roles(engine: Engine, database_url: str) -> None:
    with api(database_url) as client:
        analyst = token(engine, "analyst")
        assert client.get("/api/segments", headers=analyst).status_code == 200
        refused = client.post(
            "/api/segments",
            headers=analyst,
            json={"key": "v", "name": "V", "definition": VIP, "allow_new_traits": True},
        )
        assert refused.status_code == 403
        assert client.get("/api/segments").status_code == 401


def test_members_are_paged(engine: Engine, database_url: str) -> None:
    shop = LiveShop(engine)
    shop.send("web", *(track("Order Completed", f"u{n}", {"total": n}) for n in range(7)))
    shop.define("buyers", {"event": "Order Completed"})
    reader = token(engine, "support")
    seen: list[str] = []
    cursor = None
    with api(database_url) as client:
        while True:
            params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = client.get("/api/segments/buyers/members", headers=reader, params=params)
            seen += [m["profile_id"] for m in page.json()["members"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen)


def test_routes_are_documented() -> None:
    paths = create_app().openapi()["paths"]
    ours = [
        operation
        for operations in paths.values()
        for operation in operations.values()
        if "audiences" in operation.get("tags", ())
    ]
    assert len(ours) == 16
    for operation in ours:
        assert operation["summary"] and operation["description"]
        assert {"401", "403", "422"} <= set(operation["responses"])


@pytest.fixture
def schema(engine: Engine, database_url: str) -> Iterator[tuple[BaseSchema, dict[str, str]]]:
    LiveShop(engine).send("web", identify("u1", traits={"tier": "gold"}))
    headers = token(engine, "admin")
    with api(database_url) as client:
        app = client.app

        async def without_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":  # the TestClient ran it already
                return
            await app(scope, receive, send)

        found = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan)
        yield found.include(tag="audiences"), headers


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_audiences_routes_keep_their_documented_promises(
    schema: tuple[BaseSchema, dict[str, str]], mode: GenerationMode
) -> None:
    found, headers = schema
    operations = [r.ok() for r in found.get_all_operations() if isinstance(r, Ok)]
    assert len(operations) == 16
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode)

        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case: Any) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        call()
