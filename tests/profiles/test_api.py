"""The customer 360 API: documents, timeline pages, errors and roles."""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.api.app import create_app
from tests.profiles.helpers import Shop, api, identify, page, token, track

ROUTES = [
    ("GET", "/api/profiles/lookup?type=user_id&value=u-1"),
    ("GET", "/api/profiles/{id}"),
    ("GET", "/api/profiles/{id}/events"),
    ("GET", "/api/profiles/{id}/merges"),
    ("GET", "/api/profiles/{id}/conflicts"),
    ("GET", "/api/profiles/{id}/consents"),
    ("PUT", "/api/profiles/{id}/consents"),
    ("POST", "/api/identity/changes/1/unmerge"),
    ("GET", "/api/profiles/{id}/export"),
    ("DELETE", "/api/profiles/{id}?confirm={id}"),
]
ALLOWED = {
    "GET": {"admin", "support", "marketer", "analyst"},
    "PUT": {"admin", "support", "marketer"},
    "POST": {"admin", "support"},
    "export": {"admin"},
    "DELETE": {"admin"},
}
CONSENT = {"channel": "email", "purpose": "marketing", "granted": True}


def _allowed(method: str, path: str) -> set[str]:
    return ALLOWED["export" if path.endswith("/export") else method]


def test_every_route_checks_the_token_and_the_role(engine: Engine, database_url: str) -> None:
    shop = Shop(engine)
    shop.send("web", identify("u-1", traits={"email": "ada@example.com"}))
    profile_id = shop.profile_id("user_id", "u-1")
    tokens = {role: token(engine, role) for role in ("support", "marketer", "analyst")}
    with api(database_url) as client:
        for method, template in ROUTES:
            path = template.replace("{id}", profile_id)
            body = CONSENT if method == "PUT" else None
            missing = client.request(method, path, json=body)
            assert missing.status_code == 401, path
            assert missing.json()["code"] == "unauthorized"
            for role, headers in tokens.items():
                answer = client.request(method, path, json=body, headers=headers)
                if role in _allowed(method, path):
                    assert answer.status_code not in (401, 403), (path, role, answer.text)
                else:
                    assert answer.status_code == 403, (path, role)
                    assert set(answer.json()) == {"code", "message"}
                    assert answer.json()["code"] == "forbidden"


def test_lookup_answers_the_document_and_maps_identity_errors(
    engine: Engine, database_url: str
) -> None:
    shop = Shop(engine)
    shop.send(
        "web",
        identify("u-1", "a-1", {"email": "Ada@Example.com", "firstName": "Ada"}, days=1),
        track("Order Completed", "u-1", {"order_id": "A", "revenue": 12}, days=2),
    )
    # One e-mail address typed for six different accounts: it identifies nobody.
    shop.send("web", *(identify(f"s-{n}", traits={"email": "info@shop.example"}) for n in range(7)))
    headers = token(engine, "support")
    with api(database_url) as client:
        answer = client.get(
            "/api/profiles/lookup",
            params={"type": "email", "value": " ADA@example.com"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"id", "merged_from", "identities", "traits", "computed", "consents"}
        assert [i["value"] for i in body["identities"]["email"]] == ["ada@example.com"]
        assert body["identities"]["anonymous_id"][0]["first_seen_at"] == "2026-01-02T12:00:00Z"
        assert body["traits"]["firstName"]["source"] == "web"
        assert body["computed"]["orders"] == 1
        assert body["computed"]["rfm"]["code"] == "111"
        assert client.get(f"/api/profiles/{body['id']}", headers=headers).json() == body
        for params, status, code in [
            ({"type": "email", "value": "nobody@example.com"}, 404, "not_found"),
            ({"type": "email", "value": "info@shop.example"}, 409, "shared"),
            ({"type": "shoe_size", "value": "42"}, 422, "unknown_type"),
            ({"type": "email", "value": "not an address"}, 422, "invalid_value"),
            ({"type": "user_id", "value": "null"}, 422, "blocked_value"),
            ({"type": "email"}, 422, "invalid_request"),
        ]:
            answer = client.get("/api/profiles/lookup", params=params, headers=headers)
            assert (answer.status_code, answer.json()["code"]) == (status, code), params
            assert answer.json()["message"]
        missing = client.get("/api/profiles/no-such-profile", headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_an_old_id_answers_with_the_profile_it_was_merged_into(
    engine: Engine, database_url: str
) -> None:
    shop = Shop(engine)
    shop.send("web", page("Home", anonymous_id="a-1"))
    old = shop.profile_id("anonymous_id", "a-1")
    shop.send("crm", identify("u-1", traits={"x": 1}))
    shop.send("web", identify("u-1", "a-1", days=1))
    current = shop.profile_id("user_id", "u-1")
    assert shop.profile_id("anonymous_id", "a-1") == current
    headers = token(engine, "analyst")
    with api(database_url) as client:
        body = client.get(f"/api/profiles/{old}", headers=headers).json()
        if old != current:
            assert (body["id"], body["merged_from"]) == (current, old)
        events = client.get(f"/api/profiles/{old}/events", headers=headers).json()
        assert events["profile_id"] == current and len(events["events"]) == 3


def test_the_timeline_pages_without_gaps_or_repeats(engine: Engine, database_url: str) -> None:
    shop = Shop(engine)
    # 30 events over 3 channels, with ties on the timestamp.
    shop.send("web", *(page(f"P{n}", "u-1", days=n // 3) for n in range(12)))
    shop.send("email", *(track("Email Opened", "u-1", days=n // 2) for n in range(10)))
    shop.send("sms", *(track("SMS Link Clicked", "u-1", days=n) for n in range(8)))
    profile_id = shop.profile_id("user_id", "u-1")
    headers = token(engine, "support")
    with api(database_url) as client:

        def everything(**params: object) -> list[dict[str, object]]:
            seen: list[dict[str, object]] = []
            cursor = None
            while True:
                query = {"limit": 7, **params, **({"cursor": cursor} if cursor else {})}
                answer = client.get(
                    f"/api/profiles/{profile_id}/events", params=query, headers=headers
                )
                assert answer.status_code == 200, answer.text
                page_ = answer.json()
                assert len(page_["events"]) <= 7
                seen.extend(page_["events"])
                cursor = page_["next_cursor"]
                if cursor is None:
                    return seen

        events = everything()
        assert len(events) == 30 and len({e["id"] for e in events}) == 30
        keys = [(e["timestamp"], e["id"]) for e in events]
        assert keys == sorted(keys, reverse=True)
        assert events[0]["message"]["type"] in ("track", "page")
        assert {e["channel"] for e in everything(channel=["email", "sms"])} == {"email", "sms"}
        assert len(everything(channel="email,sms")) == 18
        assert len(everything(type="page")) == 12
        assert len(everything(type=["SMS Link Clicked"], channel="sms")) == 8
        bad = client.get(f"/api/profiles/{profile_id}/events?cursor=nonsense", headers=headers)
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


def test_routes_are_documented_in_openapi() -> None:
    paths = create_app().openapi()["paths"]
    ours = {  # the audiences domain's /api/profiles/{id}/segments and /scores are its own
        p: ops
        for p, ops in paths.items()
        if p.startswith(("/api/profiles", "/api/identity"))
        and not any("audiences" in o.get("tags", ()) for o in ops.values())
    }
    assert len(ours) == 12  # 8 of the profiles, 4 of the matching job (review_api.py)
    for operations in ours.values():
        for operation in operations.values():
            assert operation["summary"] and operation["description"]
            assert {"401", "403", "422"} <= set(operation["responses"])
    assert "409" in paths["/api/profiles/lookup"]["get"]["responses"]
    assert "400" in paths["/api/profiles/{profile_id}"]["delete"]["responses"]
