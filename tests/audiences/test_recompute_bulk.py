"""The bulk recompute (Arrow export + DuckDB) gives the Python path's answer and the live
members, on SQLite and PostgreSQL: the export holds what `load_facts` gives for every profile
(traits of every JSON kind, computed traits with an open cart and RFM scores, consents with
`all`, identities, merged profiles, hits), the reports are equal, `--apply` stores the same
members, events and timers, segments it cannot compile fall back to Python, and random
streams of traits, consents and events keep all of this true (hypothesis)."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, func, insert, select

from omnicx.audiences import hits, recompute_bulk
from omnicx.audiences.batch_sql_arrow import facts_to_arrow
from omnicx.audiences.bulk_export import database, export_facts
from omnicx.audiences.membership import ENTERED, EXITED, Plan, load_facts
from omnicx.audiences.recompute import Report, recompute
from omnicx.audiences.segments import Segment, all_segments
from omnicx.audiences.tables import audience_members, audience_timers
from omnicx.collect.tables import events
from omnicx.identity import service as identity
from omnicx.profiles import service
from omnicx.store.clock import as_utc
from tests.audiences.live import LiveShop
from tests.audiences.test_live_equals_batch import clear
from tests.profiles.helpers import T0, identify, page, track

SEGMENTS: dict[str, dict[str, Any]] = {
    "recent-buyers": {"event": "Order Completed", "within": {"last_days": 7}},
    "big-store-order": {
        "event": "Order Completed",
        "channel": "store_pos",
        "where": [{"property": "total", "op": "gt", "value": 50}],
    },
    "viewers-2": {"event": "Product Viewed", "count": {"op": "gte", "value": 2}},
    # With a trait (any event re-evaluates it): alone, a "did not" condition is not evaluated
    # live for a new profile until it sends the event it watches.
    "known-no-views-1d": {
        "all": [
            {"trait": "tier", "op": "exists"},
            {"event": "Product Viewed", "did": False, "within": {"last_hours": 24}},
        ]
    },
    "gold": {"trait": "tier", "op": "eq", "value": "gold"},
    "adults": {"trait": "age", "op": "gte", "value": 18},
    "tagged-a": {"trait": "tags", "op": "contains", "value": "a"},
    "izmir": {"trait": "city", "op": "eq", "value": "izmir"},
    "has-address": {"trait": "address", "op": "exists"},
    "signed-2025": {"trait": "signup", "op": "between", "value": ["2025-01-01", "2025-12-31"]},
    "buyers": {"computed": "orders", "op": "gte", "value": 1},
    "ltv-50": {"computed": "lifetime_value", "op": "gt", "value": 50},
    "store-users": {"computed": "channels", "op": "contains", "value": "store_pos"},
    "open-cart": {"computed": "open_cart", "op": "exists"},
    "cart-over-10": {"computed": "open_cart.value", "op": "gt", "value": 10},
    "ordered-on-web": {"computed": "last_order.channel", "op": "eq", "value": "web"},
    "champions": {"computed": "rfm.code", "op": "starts_with", "value": "5"},
    "seen-lately": {"computed": "last_seen_at", "op": "gte", "value": "2026-01-02"},
    "email-ok": {"consent": {"channel": "email", "purpose": "marketing"}},
    "sms-ok": {"consent": {"channel": "sms", "purpose": "marketing"}},
    "reachable": {"identity": "email"},
    "anonymous": {"identity": "user_id", "present": False},
    "gold-buyers": {"all": [{"segment": "gold"}, {"segment": "buyers"}]},
    "not-gold-or-cart": {"any": [{"not": {"segment": "gold"}}, {"segment": "open-cart"}]},
}


def varied(shop: LiveShop) -> None:
    """Customers with traits of every JSON kind, orders, carts, consents (own channel and
    `all`), several identifiers, a merge, an anonymous visitor and a future-stamped event."""
    traits_1 = {
        "email": "ada@example.com", "firstName": "Ada", "age": 30, "tier": "gold",
        "tags": ["a", "b"], "address": {"city": "Izmir"}, "city": "İzmir", "score": 1.5,
        "signup": "2025-05-01", "emailOptIn": True, "nothing": None,
    }  # fmt: skip
    shop.send("crm", identify("u1", traits=traits_1, days=0.1))
    shop.send(
        "web",
        track("Order Completed", "u1", {"order_id": "A", "total": 80}, days=0.2),
        track("Product Added", "u1", {"product_id": "p1", "price": 12.5, "quantity": 2}, days=0.45),
        track("Product Viewed", "u1", days=0.25),
        track("Product Viewed", "u1", days=0.26),
    )
    shop.send("store_pos", track("Order Completed", "u1", {"order_id": "B", "total": 60}, days=0.4))
    shop.send("crm", identify("u2", traits={"tier": "silver", "age": "17", "smsOptIn": "no"}))
    shop.send("web", page("Home", anonymous_id="a1", days=0.1))
    shop.send("web", track("Product Viewed", anonymous_id="a1", days=0.15))
    shop.send("web", identify("u2", anonymous_id="a1", traits={"email": "bo@example.com"}))
    shop.send("web", track("Product Viewed", anonymous_id="a2", days=5))  # from the future
    shop.send(
        "crm",
        identify("u3", traits={"tier": "gold", "tags": "a", "age": 18.0, "phone": "+905321112233"}),
    )
    shop.send("email", track("Order Completed", "u3", {"order_id": "C", "total": 5}, days=0.05))
    with shop.engine.begin() as connection:
        service.set_consent(
            connection, service.lookup(connection, "user_id", "u2"), channel="all",
            purpose="marketing", granted=True, actor="test",
        )  # fmt: skip
    shop.advance(hours=12)


@pytest.fixture
def shop(engine: Engine) -> LiveShop:
    shop = LiveShop(engine, lake=False)
    for key, definition in SEGMENTS.items():
        shop.define(key, definition)
    varied(shop)
    return shop


def _exported(shop: LiveShop, held: dict[int, str]) -> tuple[pa.Table, pa.Table]:
    db = database()
    with shop.engine.connect() as connection:
        facts = export_facts(connection, db, held=held)
    db.close()
    return facts.people, facts.hits


def _python_facts(shop: LiveShop, held: dict[int, str]) -> tuple[pa.Table, pa.Table]:
    with shop.engine.connect() as connection:
        ids = identity.profile_ids(connection)
        keys = list(hits.registered(connection))
        stored = {
            p: [held[s] for s in segments if s in held]
            for p, segments in _stored(connection).items()
        }
        facts = load_facts(connection, ids, keys, memberships=stored)
    return facts_to_arrow(facts)


def _stored(connection: Connection) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for row in connection.execute(select(audience_members)):
        found.setdefault(row.profile_id, []).append(row.segment_id)
    return found


def _rows(people: pa.Table) -> dict[str, dict[str, Any]]:
    """People by id, trait texts read back as values (stored JSON and json.dumps may spell a
    value differently), lists sorted."""
    found = {}
    for row in people.to_pylist():
        traits = {name: json.loads(text) for name, text in row.pop("traits")}
        row["traits"] = {k: v for k, v in traits.items() if v is not None}
        for name in ("identities", "consents", "memberships", "channels"):
            row[name] = sorted(row[name] or [])
        found[row.pop("person_id")] = row
    return found


def _hits(table: pa.Table) -> Counter[tuple[str, str, Any]]:
    return Counter(
        zip(*(table.column(n).to_pylist() for n in ("person_id", "key", "ts")), strict=True)
    )


def assert_export_equals_load_facts(shop: LiveShop) -> None:
    with shop.engine.connect() as connection:
        held = {s.id: s.key for s in all_segments(connection)}
    people, found_hits = _exported(shop, held)
    expected_people, expected_hits = _python_facts(shop, held)
    found, expected = _rows(people), _rows(expected_people)
    assert set(found) == set(expected)
    for person, row in expected.items():
        assert found[person] == row, person
    assert _hits(found_hits) == _hits(expected_hits)


def test_the_export_holds_what_load_facts_gives(shop: LiveShop) -> None:
    assert_export_equals_load_facts(shop)
    people, _ = _exported(shop, {})
    assert people.num_rows == 4  # u1, u2 (with a1), u3, a2
    rows = _rows(people)
    assert any(r["open_cart"] == "@opaque" for r in rows.values())
    assert any(r["rfm.code"] for r in rows.values())
    assert any("sms/marketing" in r["consents"] for r in rows.values())  # `all` is later


def _report(report: Report) -> tuple[Any, ...]:
    return report.profiles, report.members, report.live, report.entered, report.exited


def assert_paths_agree(shop: LiveShop, keys: list[str] | None = None) -> Report:
    with shop.engine.connect() as connection:
        bulk = recompute(connection, now=shop.now, keys=keys)
        python = recompute(connection, now=shop.now, keys=keys, bulk=False)
        raw = recompute(connection, now=shop.now, keys=keys, from_events=True)
    assert _report(bulk) == _report(python) == _report(raw)
    differ = {k: (bulk.entered[k], bulk.exited[k]) for k in bulk.members if not bulk.agrees}
    assert bulk.agrees, {k: v for k, v in differ.items() if any(v)}
    return bulk


def test_bulk_python_and_live_members_are_the_same(shop: LiveShop) -> None:
    report = assert_paths_agree(shop)
    assert report.profiles == 4
    assert all(report.members[k] > 0 for k in ("gold", "buyers", "open-cart", "email-ok"))
    assert_paths_agree(shop, ["gold-buyers", "buyers", "sms-ok"])  # gold read from storage
    shop.advance(days=8)  # windows slide, the future event counts
    assert_paths_agree(shop)


def _break(engine: Engine, now: datetime) -> set[str]:
    """Members the live path would not have (a gold member taken out, someone put in
    `adults`) and no timers; returns the profiles changed."""
    with engine.begin() as connection:
        segments = {s.key: s.id for s in all_segments(connection)}

        def members(key: str) -> set[str]:
            return set(
                connection.execute(
                    select(audience_members.c.profile_id).where(
                        audience_members.c.segment_id == segments[key]
                    )
                ).scalars()
            )

        gold = min(members("gold"))
        other = min(set(identity.profile_ids(connection)) - members("adults"))
        connection.execute(
            delete(audience_members)
            .where(audience_members.c.segment_id == segments["gold"])
            .where(audience_members.c.profile_id == gold)
        )
        connection.execute(
            insert(audience_members).values(
                segment_id=segments["adults"], profile_id=other, entered_at=now
            )
        )
        connection.execute(delete(audience_timers))
    return {gold, other}


def _state(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as connection:
        members = sorted(
            (r.segment_id, r.profile_id) for r in connection.execute(select(audience_members))
        )
        timers = sorted(
            (r.profile_id, as_utc(r.due_at)) for r in connection.execute(select(audience_timers))
        )
        moved = connection.execute(
            select(events.c.event, func.count())
            .where(events.c.event.in_([ENTERED, EXITED]))
            .group_by(events.c.event)
        ).all()
    return members, timers, dict(moved)


def test_apply_stores_what_the_python_path_stores(shop: LiveShop) -> None:
    before = _state(shop.engine)
    changed = _break(shop.engine, shop.now)
    with shop.engine.begin() as connection:
        report = recompute(connection, now=shop.now, apply=True)
    assert not report.agrees
    assert report.entered["gold"] == 1 and report.exited["adults"] == 1
    bulk = _state(shop.engine)
    assert _break(shop.engine, shop.now) == changed
    # A microsecond later: the same instant would give the events the same messageIds,
    # which the intake drops as repeats.
    with shop.engine.begin() as connection:
        recompute(connection, now=shop.now + timedelta(microseconds=1), apply=True, bulk=False)
    python = _state(shop.engine)
    assert bulk[0] == python[0] == before[0]
    # The Python path sets every profile's timer; the bulk path those of the profiles it
    # changed (the others keep the live path's: the same, as `before` shows).
    assert {t for t in bulk[1] if t[0] in changed} == {t for t in python[1] if t[0] in changed}
    assert set(python[1]) == set(before[1])
    emitted = {e: bulk[2].get(e, 0) - before[2].get(e, 0) for e in (ENTERED, EXITED)}
    assert emitted == {ENTERED: 1, EXITED: 1}
    assert {e: python[2].get(e, 0) - bulk[2].get(e, 0) for e in (ENTERED, EXITED)} == emitted
    with shop.engine.connect() as connection:
        assert recompute(connection, now=shop.now).agrees


def test_a_segment_the_bulk_path_cannot_compile_is_evaluated_by_python(
    shop: LiveShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = recompute_bulk._compiles

    def refusing(segment: Segment, now: Any) -> bool:
        return segment.key != "gold" and original(segment, now)

    monkeypatch.setattr(recompute_bulk, "_compiles", refusing)
    with shop.engine.connect() as connection:
        plan_keys = [s.key for s in all_segments(connection)]
        in_bulk, left = recompute_bulk.split(Plan.of(all_segments(connection)), shop.now)
    assert {s.key for s in left} == {"gold", "gold-buyers", "not-gold-or-cart"}
    assert len(in_bulk) + len(left) == len(plan_keys)
    assert_paths_agree(shop)
    _break(shop.engine, shop.now)
    with shop.engine.begin() as connection:
        recompute(connection, now=shop.now, apply=True)
    with shop.engine.connect() as connection:
        assert recompute(connection, now=shop.now, bulk=False).agrees


# Random streams: traits of every JSON kind, opt-ins, orders, carts, views, links, time.
JSON_SCALARS = st.one_of(
    st.sampled_from(["gold", "GOLD", " gold ", "İzmir", "izmir", "18", "2025-06-01", "yes", ""]),
    st.text(max_size=5),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)
JSON_VALUES = st.one_of(
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["city", "a", "İ"]), JSON_SCALARS, max_size=2),
)
USERS = ["u1", "u2", "u3"]
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("traits"),
            st.sampled_from(USERS),
            st.dictionaries(
                st.sampled_from(["tier", "age", "tags", "city", "address", "signup"]),
                JSON_VALUES,
                max_size=3,
            ),
        ),
        st.tuples(
            st.just("opt-in"),
            st.sampled_from(USERS),
            st.dictionaries(
                st.sampled_from(["emailOptIn", "smsOptIn"]),
                st.sampled_from([True, False, "no"]),
                min_size=1,
            ),
        ),
        st.tuples(st.just("order"), st.sampled_from(USERS), st.integers(0, 100)),
        st.tuples(st.just("cart"), st.sampled_from(USERS), st.integers(1, 3)),
        st.tuples(st.just("view"), st.sampled_from([*USERS, "a1"]), st.integers(-30, 2)),
        st.tuples(st.just("link"), st.sampled_from(USERS), st.just("a1")),
        st.tuples(st.just("wait"), st.just(""), st.integers(1, 48)),
    ),
    min_size=1,
    max_size=12,
)


def _message(shop: LiveShop, step: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    kind, who, what = step
    days = (shop.now - T0).total_seconds() / 86400
    if kind in ("traits", "opt-in"):
        return "crm", identify(who, traits=what, days=days)
    if kind == "order":
        return "web", track("Order Completed", who, {"total": what}, days=days)
    if kind == "cart":
        added = {"product_id": "p", "price": 4.5, "quantity": what}
        return "web", track("Product Added", who, added, days=days)
    if kind == "link":
        return "web", identify(who, anonymous_id=what, days=days)
    person = {"anonymous_id": who} if who.startswith("a") else {"user_id": who}
    return "web", track("Product Viewed", days=days + what / 24, **person)


@settings(
    max_examples=max(2, int(os.environ.get("OMNICX_PROPERTY_EXAMPLES", "40")) // 8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=steps)
def test_random_streams_export_and_evaluate_like_the_python_path(
    engine: Engine, stream: list[tuple[Any, ...]]
) -> None:
    clear(engine)
    shop = LiveShop(engine, lake=False)
    for key, definition in SEGMENTS.items():
        shop.define(key, definition)
    note(f"stream: {stream}")
    for step in stream:
        if step[0] == "wait":
            shop.advance(hours=step[2])
        else:
            shop.send_all([_message(shop, step)])
    shop.advance(hours=1)
    assert_export_equals_load_facts(shop)
    assert_paths_agree(shop)
