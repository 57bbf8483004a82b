"""Privacy requests: export everything, erase everything, and keep erased people out."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from omnicx.access import audit
from omnicx.cli.main import app as cli
from omnicx.collect.tables import events, rejected_events
from omnicx.profiles.privacy import erase_person
from omnicx.profiles.tables import (
    profile_consent_history,
    profile_consents,
    profile_stats,
    profile_trait_observations,
    profile_traits,
)
from tests.profiles.helpers import T0, Shop, api, identify, page, token, track

ADA = [
    ("user_id", "u-1"),
    ("anonymous_id", "a-1"),
    ("email", "ada@example.com"),
    ("phone", "+905321234567"),
]


def _ada(shop: Shop) -> None:
    shop.send(
        "web",
        page("Home", anonymous_id="a-1", days=1),
        identify("u-1", "a-1", {"email": "ADA@example.com", "phone": "+90 532 123 45 67"}, days=2),
        track("Order Completed", "u-1", {"order_id": "A", "revenue": 10}, days=3),
    )
    shop.send("crm", identify("u-1", traits={"emailOptIn": True, "firstName": "Ada"}, days=4))
    shop.send("web", page("Home", "u-2", days=1))  # someone else


def test_export_holds_everything(engine: Engine, database_url: str) -> None:
    shop = Shop(engine)
    _ada(shop)
    profile_id = shop.profile_id("email", "ada@example.com")
    with api(database_url) as client:
        answer = client.get(f"/api/profiles/{profile_id}/export", headers=token(engine, "admin"))
    assert answer.status_code == 200, answer.text
    exported = answer.json()
    assert exported["format"] == "omnicx.person-export/1"
    profile = exported["profile"]
    assert profile["id"] == profile_id
    assert {(t, i["value"]) for t, found in profile["identities"].items() for i in found} == set(
        ADA
    )
    assert profile["traits"]["firstName"]["value"] == "Ada"
    assert profile["computed"]["orders"] == 1
    assert [c["purpose"] for c in profile["consents"]] == ["marketing"]
    assert {o["name"] for o in exported["trait_observations"]} == {
        "email",
        "phone",
        "emailOptIn",
        "firstName",
    }
    assert [h["signal"] for h in exported["consent_history"]] == ["traits.emailOptIn"]
    assert len(exported["events"]) == 4
    assert {e["message"]["type"] for e in exported["events"]} == {"page", "identify", "track"}
    assert "identity_changes" in exported and "identity_conflicts" in exported
    orjson.dumps(exported)


def test_erasure_leaves_nothing_findable_and_keeps_the_person_out(
    engine: Engine, database_url: str
) -> None:
    shop = Shop(engine)
    _ada(shop)
    profile_id = shop.profile_id("email", "ada@example.com")
    with engine.begin() as connection:  # a message refused at intake that names her
        connection.execute(
            rejected_events.insert().values(
                source_id=None,
                received_at=T0,
                code="invalid_field",
                reason="test",
                path="batch[0]",
                payload='{"userId": "u-1", "traits": {"email": "ADA@example.com"}}',
            )
        )
    admin = token(engine, "admin")
    with api(database_url) as client:
        refused = client.delete(f"/api/profiles/{profile_id}", headers=admin)
        assert (refused.status_code, refused.json()["code"]) == (400, "confirmation_required")
        answer = client.delete(f"/api/profiles/{profile_id}?confirm={profile_id}", headers=admin)
        assert answer.status_code == 200, answer.text
        deleted = answer.json()["deleted"]
        assert deleted["events"] == 4 and deleted["identifiers"] == 4
        assert deleted["rejected_messages"] == 1
        assert deleted["traits"] == 4 and deleted["computed_traits"] == 1
        for type_name, value in ADA:
            found = client.get(
                "/api/profiles/lookup", params={"type": type_name, "value": value}, headers=admin
            )
            assert found.status_code == 404, (type_name, value)
        assert client.get(f"/api/profiles/{profile_id}", headers=admin).status_code == 404
    with engine.connect() as connection:
        logged = audit.entries(connection, action="profiles.erase")
        assert [(e.target, e.actor.split(":")[:2]) for e in logged] == [
            (profile_id, ["api", "admin"])
        ]
        assert _count(connection, events) == 1  # u-2's page
        assert _count(connection, rejected_events) == 0
        for table in (profile_traits, profile_trait_observations, profile_consents):
            assert _count(connection, table) == 0
        assert _count(connection, profile_consent_history) == 0
        assert _count(connection, profile_stats) == 1
    # An SDK retry and a re-import naming her are dropped, not stored again.
    shop.send_all(
        [
            ("web", track("Product Viewed", "u-1", days=9)),
            ("crm", identify(None, "x-9", {"email": "ada@example.com"}, days=9)),
        ]
    )
    with engine.connect() as connection:
        assert _count(connection, events) == 1
        assert _count(connection, profile_trait_observations) == 0
    with api(database_url) as client:
        for type_name, value in ADA:
            found = client.get(
                "/api/profiles/lookup", params={"type": type_name, "value": value}, headers=admin
            )
            assert found.status_code == 404


def _count(connection: object, table: object) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar())  # type: ignore[attr-defined]


def test_the_cli_shows_exports_and_erases(
    engine: Engine, database_url: str, tmp_path: object
) -> None:
    shop = Shop(engine)
    _ada(shop)
    runner = CliRunner()
    shown = runner.invoke(cli, ["profile", "show", "email:ADA@example.com", "--db", database_url])
    assert shown.exit_code == 0, shown.output
    for expected in (
        "Identities",
        "ada@example.com",
        "firstName",
        "crm",
        "preferred channel",
        "Latest events",
    ):
        assert expected in shown.output, expected
    as_json = runner.invoke(cli, ["profile", "show", "user_id:u-1", "--json", "--db", database_url])
    assert orjson.loads(as_json.stdout)["traits"]["firstName"]["value"] == "Ada"
    for reference, words in [
        ("shoe:42", "Unknown identifier type"),
        ("email:nobody@example.com", "No profile"),
    ]:
        failed = runner.invoke(cli, ["profile", "show", reference, "--db", database_url])
        assert failed.exit_code == 1 and words in failed.output, failed.output
    out = tmp_path / "ada.json"  # type: ignore[operator]
    exported = runner.invoke(
        cli, ["profile", "export", "phone:+905321234567", "--out", str(out), "--db", database_url]
    )
    assert exported.exit_code == 0, exported.output
    assert len(orjson.loads(out.read_bytes())["events"]) == 4
    erased = runner.invoke(cli, ["profile", "erase", "user_id:u-1", "--yes", "--db", database_url])
    assert erased.exit_code == 0, erased.output
    assert "4 events" in erased.output
    gone = runner.invoke(cli, ["profile", "show", "user_id:u-1", "--db", database_url])
    assert gone.exit_code == 1


def test_events_of_others_that_named_the_person_go_too(engine: Engine) -> None:
    shop = Shop(engine)
    _ada(shop)
    # Her e-mail address typed into someone else's session: attributed to u-2, naming Ada.
    shop.send("web", identify("u-2", traits={"email": "ada@example.com", "city": "Oslo"}, days=5))
    other = shop.profile("user_id", "u-2")
    assert other.computed.events == 2 and other.traits["city"].value == "Oslo"
    ada = shop.profile_id("user_id", "u-1")
    with engine.begin() as connection:
        erase_person(connection, ada, actor="test")
    other = shop.profile("user_id", "u-2")
    assert other.computed.events == 1 and other.traits == {}
