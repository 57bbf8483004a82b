"""What the console shows of a scoring model, on SQLite and PostgreSQL: the histogram counts
every stored score once in the right bucket, profiles per stage, the highest scores, and a
profile's explanation equals the API's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from omnicx.audiences import scoring_store
from omnicx.audiences.score_summary import (
    explain,
    nice_width,
    score_distribution,
    stage_counts,
    top_scores,
)
from omnicx.audiences.tables import audience_scores
from omnicx.profiles.service import ProfileError
from omnicx.store.clock import utc_now
from tests.audiences.live import LiveShop
from tests.profiles.helpers import T0, api, identify, token, track

MODEL = {
    "key": "b2b",
    "name": "B2B",
    "half_life_days": 30,
    "rules": [
        {"id": "demo", "points": 25, "cap": 75, "when": {"event": "Demo Requested"}},
        {"id": "pricing", "points": 5, "when": {"event": "Pricing Viewed"}},
        {"id": "free-mail", "points": -10,
         "when": {"trait": "email", "op": "contains", "value": "@gmail."}},
    ],
    "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 50}],
}  # fmt: skip


@pytest.fixture
def shop(engine: Engine) -> LiveShop:
    shop = LiveShop(engine, lake=False)
    shop.now = T0 + timedelta(days=2)
    with engine.begin() as connection:
        scoring_store.save_model(connection, MODEL, actor="test", allow_new_traits=True)
    messages = []
    for i in range(12):
        user = f"u{i}"
        domain = "gmail.com" if i % 3 == 0 else "acme.example"
        messages.append(identify(user, traits={"email": f"{user}@{domain}"}))
        messages += [track("Demo Requested", user, days=-j) for j in range(i % 5)]
        messages += [track("Pricing Viewed", user, days=-0.5) for _ in range(i % 4)]
    shop.send("web", *messages)
    return shop


def _stored(shop: LiveShop) -> dict[str, float]:
    with shop.engine.connect() as connection:
        model = scoring_store.get_model(connection, "b2b")
        rows = connection.execute(
            select(audience_scores.c.profile_id, audience_scores.c.score).where(
                audience_scores.c.model_id == model.id
            )
        )
        return {r.profile_id: r.score for r in rows}


@pytest.mark.parametrize(
    ("span", "buckets", "width"),
    [(0.0, 20, 1.0), (100.0, 20, 5.0), (95.0, 20, 5.0), (1.0, 20, 0.05), (730.0, 20, 50.0),
     (12.0, 5, 2.5)],
)  # fmt: skip
def test_bucket_widths_are_round(span: float, buckets: int, width: float) -> None:
    assert nice_width(span, buckets) == pytest.approx(width)
    assert span / nice_width(span, buckets) <= buckets


def test_the_histogram_counts_each_score_once_in_its_bucket(shop: LiveShop) -> None:
    scores = _stored(shop)
    assert len(scores) == 12 and len(set(scores.values())) > 4
    with shop.engine.connect() as connection:
        model = scoring_store.get_model(connection, "b2b")
        spread = score_distribution(connection, model.id, buckets=6)
    assert spread.total == 12 and sum(spread.counts) == 12
    assert len(spread.counts) <= 7
    for low, high, n in spread.buckets:
        inside = [s for s in scores.values() if low <= s < high]
        assert n == len(inside), (low, high)
    assert spread.lows[0] <= min(scores.values()) and max(scores.values()) < spread.buckets[-1][1]


def test_stages_and_highest_scores_follow_the_stored_scores(shop: LiveShop) -> None:
    scores = _stored(shop)
    with shop.engine.connect() as connection:
        model = scoring_store.get_model(connection, "b2b")
        per_stage = stage_counts(connection, model.id)
        best = top_scores(connection, model.id, limit=3)
        empty = score_distribution(connection, 999)
    assert sum(per_stage.values()) == 12 and set(per_stage) <= {"subscriber", "lead", "mql"}
    expected = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:3]
    assert [(r.profile_id, r.score) for r in best] == expected
    assert empty.total == 0 and empty.buckets == []


def test_an_explanation_is_the_apis_score(shop: LiveShop, database_url: str) -> None:
    profile = shop.profile_id("user_id", "u4")
    with shop.engine.connect() as connection:
        stored = scoring_store.get_model(connection, "b2b")
        found = explain(connection, stored, profile, shop.now)
        with pytest.raises(ProfileError):
            explain(connection, stored, "no-such-profile", shop.now)
    assert found.profile_id == profile
    assert [p.rule.id for p in found.score.rules] == ["demo"]
    assert [len(p.contributions) for p in found.score.rules] == [4]
    assert found.history and found.history[0][2] == found.score.stage
    assert found.score.stage == "mql" and found.score.total == pytest.approx(75)  # capped
    with api(database_url) as client:
        answer = client.get(
            f"/api/profiles/{profile}/scores", headers=token(shop.engine, "analyst")
        )
        with shop.engine.connect() as connection:
            now = explain(connection, stored, profile, utc_now())  # the API scores now too
    [scored] = answer.json()["scores"]
    assert scored["stage"] == now.score.stage
    assert scored["total"] == pytest.approx(now.score.total, rel=1e-3, abs=1e-6)
    assert [r["rule"] for r in scored["explanation"]["rules"]] == [
        p.rule.id for p in now.score.rules
    ]
