"""The lake consumer on SQLite and PostgreSQL: events reach the lake through the real intake
and processing stage, attributed to the profile their person holds now; merges, unmerges
and erasures show without rewriting the lake; a repeated batch writes nothing twice; a
rebuild gives the same lake."""

from __future__ import annotations

from pathlib import Path

import duckdb
from sqlalchemy import Engine

from omnicx.analytics import maintenance
from omnicx.analytics.consumer import CONSUMER_NAME, LakeWriter
from omnicx.analytics.lake import open_lake
from omnicx.collect.processing import StreamConsumer, checkpoint, process_available, read_events
from omnicx.identity import service as identity
from omnicx.pipeline import stream_consumers
from omnicx.profiles import privacy, service
from tests.profiles.helpers import Shop, identify, page, track


def _attributed(lake_dir: Path) -> dict[str, tuple[str, str | None]]:
    """message id -> (person, event name) as the lake reports them."""
    with open_lake(lake_dir).connect() as db:
        rows = db.execute("SELECT message_id, person, event FROM all_events").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _people(lake_dir: Path) -> int:
    with open_lake(lake_dir).connect() as db:
        found = db.execute("SELECT count(DISTINCT person) FROM all_events").fetchone()
    assert found is not None
    return int(found[0])


def _browse_then_buy(shop: Shop) -> None:
    shop.send(
        "web",
        page("Home", anonymous_id="a-1", days=0),
        track("Product Viewed", anonymous_id="a-1", properties={"sku": "L-1"}, days=0.1),
    )
    shop.send(
        "store_pos",
        track(
            "Order Completed", "u-1", {"order_id": "R-1", "total": 80, "currency": "eur"}, days=1
        ),
    )


def test_events_reach_the_lake_with_their_profile(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    lake = open_lake(lake_dir)
    assert lake.manifest.rows() == 3
    anonymous = shop.profile_id("anonymous_id", "a-1")
    known = shop.profile_id("user_id", "u-1")
    assert anonymous != known
    with lake.connect() as db:
        rows = db.execute(
            "SELECT person, channel, source, type, event, revenue, currency "
            "FROM all_events ORDER BY ts"
        ).fetchall()
    assert rows == [
        (anonymous, "web", "web", "page", "Home", None, None),
        (anonymous, "web", "web", "track", "Product Viewed", None, None),
        (known, "store_pos", "store_pos", "track", "Order Completed", 80.0, "EUR"),
    ]


def test_a_merge_shows_without_rewriting_event_files(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    before = {f.path for f in open_lake(lake_dir).manifest.event_files}
    assert _people(lake_dir) == 2

    shop.send("web", identify("u-1", "a-1", days=2))  # signs in on the web: one person
    lake = open_lake(lake_dir)
    assert before <= {f.path for f in lake.manifest.event_files}  # appended, none rewritten
    merged = shop.profile_id("user_id", "u-1")
    assert {person for person, _ in _attributed(lake_dir).values()} == {merged}
    assert _people(lake_dir) == 1


def test_an_unmerge_splits_the_lake_back(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    shop.send("web", identify("u-1", "a-1", days=2))
    merged = shop.profile_id("user_id", "u-1")
    with engine.connect() as connection:
        merge = next(c for c in identity.changes_of(connection, merged) if c.kind == "merged")
    with engine.begin() as connection:
        service.unmerge(connection, merge.id, actor="test")
    shop.process()
    anonymous = shop.profile_id("anonymous_id", "a-1")
    known = shop.profile_id("user_id", "u-1")
    assert anonymous != known
    by_event = {event: person for person, event in _attributed(lake_dir).values()}
    assert by_event["Home"] == anonymous and by_event["Product Viewed"] == anonymous
    assert by_event["Order Completed"] == known


def test_an_erased_person_leaves_the_lake(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    shop.send("web", track("Product Viewed", anonymous_id="a-2", properties={"sku": "X"}, days=3))
    known = shop.profile_id("user_id", "u-1")
    with engine.begin() as connection:
        privacy.erase_person(connection, known, actor="test")
    shop.process()
    lake = open_lake(lake_dir)
    with lake.connect() as db:
        left = db.execute("SELECT event, properties FROM lake_raw ORDER BY ts").fetchall()
    # The order and its properties are gone from the files themselves, not just hidden.
    assert [e for e, _ in left] == ["Home", "Product Viewed", "Product Viewed"]
    assert all("R-1" not in (p or "") for _, p in left)
    on_disk = [str(p) for p in lake_dir.rglob("*.parquet") if "events" in p.parts]
    with duckdb.connect() as db:
        found = db.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE contains(properties, 'R-1')", [on_disk]
        ).fetchone()
    assert found == (0,)  # no file left behind for the grace time holds it either


def test_a_repeated_batch_writes_nothing_twice(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    shop.send("web", track("Cart Viewed", anonymous_id="a-1", days=2), process=False)
    # The lake writes a batch, then the transaction that would move its checkpoint is lost
    # (a crash between the manifest and the commit): the batch comes again.
    process_available(engine, _upstream_consumers())
    with engine.connect() as connection:
        transaction = connection.begin()
        position = checkpoint(connection, CONSUMER_NAME)
        batch = read_events(connection, after=position, limit=100)
        assert len(batch) == 1
        LakeWriter(lake_dir).handle(connection, batch)
        transaction.rollback()
    shop.process()
    with open_lake(lake_dir).connect() as db:
        counted = db.execute("SELECT count(*), count(DISTINCT event_id) FROM lake_raw").fetchone()
    assert counted == (4, 4)


def _upstream_consumers() -> list[StreamConsumer]:
    return [c for c in stream_consumers() if not isinstance(c, LakeWriter)]


def test_a_rebuild_gives_the_same_lake(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    shop.send("web", identify("u-1", "a-1", days=2))
    shop.send(
        "email", track("Email Opened", "u-1", days=3), track("Email Delivered", "u-1", days=2.9)
    )
    incremental = _attributed(lake_dir)
    files_before = len(open_lake(lake_dir).manifest.event_files)
    manifest = maintenance.rebuild(engine, lake_dir)
    assert _attributed(lake_dir) == incremental
    assert manifest.generation == 1 and len(manifest.event_files) <= files_before
    # Processing carries on after the rebuild.
    shop.send("web", track("Cart Viewed", "u-1", days=4))
    assert len(_attributed(lake_dir)) == len(incremental) + 1
    status = maintenance.status(engine, lake_dir)
    assert status.events == len(incremental) + 1 and status.lag == 0


def test_compaction_keeps_every_event(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    for n in range(12):  # twelve batches on one day: twelve small files, then compaction
        shop.send("web", track("Product Viewed", anonymous_id=f"a-{n}", days=0.01 * n))
    lake = open_lake(lake_dir)
    assert len(lake.manifest.event_files) < 12
    assert lake.manifest.rows() == 12
    maintenance.compact_all(engine, lake_dir)
    lake = open_lake(lake_dir)
    assert len(lake.manifest.event_files) == 1 and len(lake.manifest.people_files) == 1
    assert len(_attributed(lake_dir)) == 12 and _people(lake_dir) == 12


def test_an_identity_rebuild_starts_the_lake_again(engine: Engine, lake_dir: Path) -> None:
    shop = Shop(engine)
    _browse_then_buy(shop)
    shop.send("web", identify("u-1", "a-1", days=2))
    before = _attributed(lake_dir)
    downstream = [c.name for c in stream_consumers()][2:]  # after identity
    assert CONSUMER_NAME in downstream
    with engine.begin() as connection:
        identity.rebuild(connection, downstream=downstream, actor="test")
    shop.process()
    lake = open_lake(lake_dir)
    assert lake.manifest.generation == 1
    assert lake.manifest.rows() == len(before) == 4
    after = _attributed(lake_dir)
    assert _grouping(after) == _grouping(before)  # the same people
    with open_lake(lake_dir).connect() as db:
        by_id = dict(db.execute("SELECT event_id, person FROM all_events").fetchall())
    with engine.connect() as connection:
        assert by_id == identity.profiles_of_events(connection, list(by_id))


def _grouping(attributed: dict[str, tuple[str, str | None]]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for message, (person, _) in attributed.items():
        groups.setdefault(person, set()).add(message)
    return {frozenset(g) for g in groups.values()}
