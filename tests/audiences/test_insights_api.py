"""Personas, lookalikes and ad-platform exports through the API, on SQLite and PostgreSQL,
from profiles built by the real processing stage."""

from __future__ import annotations

import csv
import hashlib
import io

from sqlalchemy import Engine

from tests.audiences.live import LiveShop
from tests.profiles.helpers import api, identify, token, track

ADS_YES = {"consent": {"categoryPreferences": {"Advertising": True}}}
ADS_NO = {"consent": {"categoryPreferences": {"Advertising": False}}}


def _shop(engine: Engine) -> LiveShop:
    """Twelve store regulars (many orders, in store) and twelve web browsers (no orders)."""
    shop = LiveShop(engine)
    sent = []
    for n in range(12):
        sent += [("store_pos", track("Order Completed", f"s{n}", {"total": 40 + n}, days=d))
                 for d in range(5)]  # fmt: skip
        sent += [("web", track("Product Viewed", f"w{n}", days=d)) for d in range(2)]
    shop.send_all(sent)
    return shop


def test_personas_tell_store_regulars_from_web_browsers(engine: Engine, database_url: str) -> None:
    _shop(engine)
    with api(database_url) as client:
        answer = client.get("/api/personas", headers=token(engine, "analyst"), params={"k": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["profiles"] == 24
    assert sorted(p["size"] for p in body["personas"]) == [12, 12]
    by_orders = {
        p["id"]: next(d["value"] for d in p["distinctive"] if d["feature"] == "orders")
        for p in body["personas"]
        if any(d["feature"] == "orders" for d in p["distinctive"])
    }
    assert sorted(by_orders.values()) in ([0.0, 5.0], [5.0])  # the regulars' 5 orders stand out
    assert all(p["description"] for p in body["personas"])


def test_lookalikes_are_outside_the_segment_and_like_it(engine: Engine, database_url: str) -> None:
    shop = _shop(engine)
    cheaper = {
        "event": "Order Completed",
        "where": [{"property": "total", "op": "lt", "value": 46}],
    }
    shop.define("few-regulars", cheaper)
    members = {shop.profile_id("user_id", f"s{n}") for n in range(6)}
    regulars = {shop.profile_id("user_id", f"s{n}") for n in range(6, 12)}
    with api(database_url) as client:
        answer = client.get(
            "/api/segments/few-regulars/lookalikes",
            headers=token(engine, "marketer"),
            params={"n": 6},
        )
    assert answer.status_code == 200, answer.text
    found = [row["profile_id"] for row in answer.json()["lookalikes"]]
    assert set(found) == regulars  # the other store regulars, not the web browsers
    assert not set(found) & members


def test_exports_leave_out_who_did_not_consent_and_hash_for_ad_platforms(
    engine: Engine, database_url: str
) -> None:
    shop = LiveShop(engine)
    shop.send(
        "web",
        identify("u1", traits={"email": "Ada@Example.com", "phone": "+90 532 123 45 67"}, context=ADS_YES),  # noqa: E501
        identify("u2", traits={"email": "bob@example.com"}, context=ADS_NO),
        identify("u3", traits={"email": "cem@example.com"}),
    )  # fmt: skip
    shop.define("everyone", {"identity": "email"})
    marketer = token(engine, "marketer")
    with api(database_url) as client:
        plain = client.get("/api/segments/everyone/export", headers=marketer)
        google = client.get(
            "/api/segments/everyone/export", headers=marketer, params={"format": "google"}
        )
        meta = client.get(
            "/api/segments/everyone/export", headers=marketer, params={"format": "meta"}
        )
        refused = client.get("/api/segments/everyone/export", headers=token(engine, "analyst"))
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"].startswith("text/csv")
    assert plain.headers["x-omnicx-skipped-consent"] == "2"
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert [r["email"] for r in rows] == ["ada@example.com"]

    sha = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    [google_row] = list(csv.DictReader(io.StringIO(google.text)))
    assert google_row["Email"] == sha("ada@example.com")
    assert google_row["Phone"] == sha("+905321234567")
    [meta_row] = list(csv.DictReader(io.StringIO(meta.text)))
    assert meta_row["phone"] == sha("905321234567")
    assert refused.status_code == 403
