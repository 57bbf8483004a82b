"""`omnicx segments ...` on SQLite and PostgreSQL: what an operator sees and the exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.cli.segments import app
from tests.audiences.live import LiveShop
from tests.profiles.helpers import identify, track

runner = CliRunner()


def test_define_see_and_delete_a_segment(engine: Engine, database_url: str) -> None:
    shop = LiveShop(engine)
    shop.send("web", identify("u1", traits={"tier": "gold", "email": "ada@example.com"}))
    db = ["--db", database_url]
    created = runner.invoke(
        app,
        [
            "create",
            "vip",
            "--name",
            "VIP",
            "-d",
            '{"trait": "tier", "op": "eq", "value": "gold"}',
            *db,
        ],
    )
    assert created.exit_code == 0, created.output
    assert 'Created segment vip: trait tier = "gold"' in created.output
    shop.process()

    listed = orjson.loads(runner.invoke(app, ["list", "--json", *db]).output)
    assert [(s["key"], s["members"], s["ready"]) for s in listed] == [("vip", 1, True)]
    shown = runner.invoke(app, ["show", "vip", *db])
    assert "Members: 1" in shown.output
    members = runner.invoke(app, ["members", "vip", "--format", "csv", *db])
    assert members.output.splitlines()[0] == "profile_id,entered_at"
    assert members.output.splitlines()[1].startswith(shop.profile_id("user_id", "u1"))
    of = orjson.loads(runner.invoke(app, ["of", "email:ada@example.com", "--json", *db]).output)
    assert [s["segment"] for s in of["segments"]] == ["vip"]

    agreed = runner.invoke(app, ["recompute", *db])
    assert agreed.exit_code == 0, agreed.output
    assert "Live and batch members agree exactly." in agreed.output

    assert runner.invoke(app, ["delete", "vip", *db]).exit_code == 2  # no --yes
    deleted = runner.invoke(app, ["delete", "vip", "--yes", *db])
    assert deleted.exit_code == 0
    assert orjson.loads(runner.invoke(app, ["list", "--json", *db]).output) == []


def test_bad_definitions_are_refused_with_their_paths(engine: Engine, database_url: str) -> None:
    LiveShop(engine).send("web", track("Order Completed", "u1"))
    db = ["--db", database_url]
    definition = {
        "all": [
            {"event": "Order Completed", "count": {"op": "gte", "value": -1}},
            {"trait": "nope", "op": "eq", "value": 1},
        ]
    }
    text = orjson.dumps(definition).decode()
    refused = runner.invoke(app, ["create", "x", "--name", "X", "-d", text, *db])
    assert refused.exit_code == 2
    assert "all[0].count.value" in refused.output
    assert "all[1].trait" in refused.output
    assert "nothing was stored" in refused.output
    not_json = runner.invoke(app, ["check", "-d", "{oops", *db])
    assert not_json.exit_code == 2
    assert "JSON" in not_json.output
    assert runner.invoke(app, ["show", "missing", *db]).exit_code == 1
    assert runner.invoke(app, ["create", "x", "--name", "X", *db]).exit_code == 2  # no definition


def test_export_lookalikes_and_personas(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from omnicx.cli.main import app as omnicx

    shop = LiveShop(engine)
    ads = {"consent": {"categoryPreferences": {"Advertising": True}}}
    shop.send(
        "web",
        identify("u1", traits={"email": "ada@example.com"}, context=ads),
        identify("u2", traits={"email": "bob@example.com"}),
        *(track("Product Viewed", f"v{n}", days=n % 3) for n in range(20)),
    )
    shop.define("emails", {"identity": "email"})
    db = ["--db", database_url]
    out = tmp_path / "google.csv"
    done = runner.invoke(
        omnicx, ["segments", "export", "emails", "--format", "google", "-o", str(out), *db]
    )
    assert done.exit_code == 0, done.output
    assert out.read_text().splitlines()[0] == "Email,Phone"
    assert len(out.read_text().splitlines()) == 2  # bob did not consent
    assert "1 members written; left out: 1 without advertising consent" in done.output
    bad = runner.invoke(omnicx, ["segments", "export", "emails", "--format", "tiktok", *db])
    assert bad.exit_code == 2
    found = runner.invoke(omnicx, ["segments", "lookalikes", "emails", "--n", "3", "--json", *db])
    assert found.exit_code == 0, found.output
    assert len(orjson.loads(found.output)) == 3
    personas = runner.invoke(omnicx, ["personas", "--k", "2", "--json", *db])
    assert personas.exit_code == 0, personas.output
    assert sum(p["size"] for p in orjson.loads(personas.output)) == 22
    too_few = runner.invoke(omnicx, ["personas", "--db", "sqlite:///" + str(tmp_path / "empty.db")])
    assert too_few.exit_code == 3
    assert "at least 20 are needed" in too_few.output
