"""`omnicx lake status|files|compact|rebuild` and `GET /api/analytics/lake`, on SQLite and
PostgreSQL, over a lake the real processing stage wrote."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.analytics.lake import open_lake
from omnicx.cli.main import app
from tests.profiles.helpers import Shop, api, identify, token, track

runner = CliRunner()


def _shop(engine: Engine) -> Shop:
    shop = Shop(engine)
    for day in range(3):
        for n in range(3):  # three batches a day: three small files a day
            shop.send(
                "web",
                track("Product Viewed", anonymous_id=f"a-{n}", properties={"sku": n}, days=day),
            )
    shop.send("ios", identify("u-1", "a-0", days=3))
    return shop


def test_status_files_compact_rebuild(engine: Engine, database_url: str, lake_dir: Path) -> None:
    _shop(engine)
    options = ["--db", database_url, "--lake", str(lake_dir)]

    shown = runner.invoke(app, ["lake", "status", *options])
    assert shown.exit_code == 0, shown.output
    assert "│ events                │ 10 " in shown.output
    assert "4 (2026-01-01 … 2026-01-04)" in shown.output
    assert "processing lag        │ 0 events" in shown.output

    listed = runner.invoke(app, ["lake", "files", *options])
    files = orjson.loads(listed.stdout)
    assert len(files["events"]) == 10 and all(Path(f).exists() for f in files["events"])

    compacted = runner.invoke(app, ["lake", "compact", *options])
    assert compacted.exit_code == 0, compacted.output
    assert "into 4 (10 events over 4 days)" in " ".join(compacted.output.split())
    assert len(open_lake(lake_dir).manifest.event_files) == 4

    rebuilt = runner.invoke(app, ["lake", "rebuild", *options])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "10 events over 4 days in 4 files" in " ".join(rebuilt.output.split())
    lake = open_lake(lake_dir)
    assert lake.manifest.generation == 1
    with lake.connect() as db:
        people = db.execute("SELECT count(DISTINCT person) FROM all_events").fetchone()
    assert people == (3,)  # a-0 signed in as u-1: one person, with a-1 and a-2


def test_status_api(engine: Engine, database_url: str) -> None:
    _shop(engine)
    with api(database_url) as client:
        answer = client.get("/api/analytics/lake", headers=token(engine, "analyst"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["events"] == 10 and body["days"] == 4 and body["lag"] == 0
        assert body["first_day"] == "2026-01-01" and body["last_day"] == "2026-01-04"
        assert client.get("/api/analytics/lake").status_code == 401
        forbidden = client.get("/api/analytics/lake", headers=token(engine, "support"))
        assert forbidden.status_code == 403
