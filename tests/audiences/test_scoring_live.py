"""Lead scores kept live by the processing stage, on SQLite and PostgreSQL: points from events
and traits, decay moving the stage down with no event, stage-change events on the timeline,
two models side by side, the explanation and history through the API, bad models refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from omnicx.audiences import scoring_store
from tests.audiences.live import LiveShop
from tests.profiles.helpers import api, identify, token, track

B2B: dict[str, Any] = {
    "key": "b2b",
    "name": "B2B leads",
    "half_life_days": 10,
    "rules": [
        {"id": "demo", "points": 30, "cap": 60, "when": {"event": "Demo Requested"}},
        {
            "id": "director",
            "points": 15,
            "when": {"trait": "title", "op": "contains", "value": "Director"},
        },
    ],
    "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 40}],
}
RETAIL: dict[str, Any] = {
    "key": "retail",
    "name": "Shoppers",
    "rules": [{"id": "order", "points": 10, "when": {"event": "Order Completed"}}],
    "stages": [{"stage": "customer", "min": 10}],
}


@pytest.fixture
def shop(engine: Engine) -> LiveShop:
    found = LiveShop(engine)
    with engine.begin() as connection:
        scoring_store.save_model(connection, B2B, actor="test", allow_new_traits=True)
        scoring_store.save_model(connection, RETAIL, actor="test", allow_new_traits=True)
    found.process()
    return found


def stage_events(shop: LiveShop, user: str) -> list[tuple[str, str, str]]:
    return [
        (p["model"], p["from_stage"], p["to_stage"])
        for name, p in shop.timeline("user_id", user)
        if name == "Lead Stage Changed"
    ]


def test_scores_move_with_events_and_decay(shop: LiveShop, database_url: str) -> None:
    shop.send("web", identify("u1", traits={"title": "Sales Director"}))
    assert stage_events(shop, "u1") == [("b2b", "subscriber", "lead")]  # 15 points
    shop.send("web", track("Demo Requested", "u1"))
    assert stage_events(shop, "u1")[-1] == ("b2b", "lead", "mql")  # 45 points
    # The demo's 30 points halve every 10 days: below 40 (15 + 25) after ~2.6 days.
    shop.advance(days=3)
    assert stage_events(shop, "u1")[-1] == ("b2b", "mql", "lead")
    shop.send("store_pos", track("Order Completed", "u1", {"total": 5}))
    assert ("retail", "subscriber", "customer") in stage_events(shop, "u1")

    with api(database_url) as client:
        answer = client.get(
            f"/api/profiles/{shop.profile_id('user_id', 'u1')}/scores",
            headers=token(shop.engine, "marketer"),
        )
    assert answer.status_code == 200, answer.text
    scores = {s["model"]: s for s in answer.json()["scores"]}
    assert scores["b2b"]["stage"] == "lead"
    demo = next(r for r in scores["b2b"]["explanation"]["rules"] if r["rule"] == "demo")
    # Asked now (the real clock, months after the test's events): the demo's points are gone.
    assert [e["points"] for e in demo["events"]] == [30]
    assert demo["points"] < 0.01
    assert "director" in scores["b2b"]["text"]
    assert scores["retail"]["total"] == 10
    assert [h["stage"] for h in scores["b2b"]["history"]][:1] == ["lead"]


def test_a_new_model_scores_everyone_without_stage_events(engine: Engine) -> None:
    shop = LiveShop(engine)
    shop.send("web", track("Order Completed", "u1"), track("Order Completed", "u2"))
    with engine.begin() as connection:
        scoring_store.save_model(connection, RETAIL, actor="test")
    shop.process()
    with engine.connect() as connection:
        scores = scoring_store.stored_scores(connection, [shop.profile_id("user_id", "u1")])
    assert [s.stage for s in scores.values()] == ["customer"]
    assert stage_events(shop, "u1") == []


def test_bad_models_are_refused_with_their_paths(engine: Engine, database_url: str) -> None:
    marketer = token(engine, "marketer")
    bad = {**RETAIL, "rules": [{"id": "order", "points": 0, "when": {"event": "X"}}]}
    with api(database_url) as client:
        refused = client.put("/api/scoring-models/retail", headers=marketer, json=bad)
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_model"
        assert refused.json()["errors"][0]["field"].startswith("body.rules[0].points")
        stored = client.put("/api/scoring-models/retail", headers=marketer, json=RETAIL)
        assert stored.status_code == 200, stored.text
        assert stored.json()["ready"] is False
        listed = client.get("/api/scoring-models", headers=marketer).json()["models"]
        assert [m["key"] for m in listed] == ["retail"]
        assert client.delete("/api/scoring-models/retail", headers=marketer).status_code == 204
        assert client.get("/api/scoring-models/retail", headers=marketer).status_code == 404
