"""`omnicx demo` end to end on SQLite and PostgreSQL: real app, real imports, ground truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omnicx.collect import sources
from omnicx.collect.processing import lag
from omnicx.demo.sender import DeliveryError
from omnicx.demo.service import DEMO_CHANNELS
from omnicx.identity import service as identity
from omnicx.pipeline import stream_consumers
from tests.collect.helpers import rejected
from tests.demo.helpers import owners, read_truth, run_small, stored_events


def test_demo_loads_every_channel_and_matches_its_truth(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    report = run_small(engine, database_url, tmp_path)

    stored = stored_events(engine)
    assert len(stored) == report.total_events == report.stored_new
    assert rejected(engine) == []
    channels = {row["channel"] for row in stored}
    assert len(channels) >= 8, channels
    assert channels <= set(DEMO_CHANNELS)
    assert report.imports["store_pos"].stored > 0
    assert report.imports["crm"].stored > 0

    truth = read_truth(tmp_path / "truth.jsonl")
    assert len(truth) == report.people == 60
    people_of = owners(truth)
    shared = {value for person in truth for values in person["shared"].values() for value in values}
    channels_of: dict[str, set[str]] = defaultdict(set)
    for row in stored:
        for value in (row["user_id"], row["anonymous_id"]):
            if value is None:
                continue
            people = people_of.get(value, set())
            assert people, f"{value} ({row['channel']}) belongs to nobody in the truth"
            assert len(people) == 1 or value in shared, f"{value} used by {people}, not shared"
            for person in people:
                channels_of[person].add(row["channel"])
    assert any({"web", "store_pos", "email"} <= seen for seen in channels_of.values())
    assert sum(len(seen) > 1 for seen in channels_of.values()) == report.multichannel


def test_the_demo_returns_with_every_event_processed(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # The imports come after the in-process server stopped, and it stops with processing
    # behind: the demo processes the rest, so profiles, segments and the lake are whole.
    report = run_small(engine, database_url, tmp_path, customers=30)
    assert report.processed is not None and report.processed > 0
    assert set(lag(engine, stream_consumers()).values()) == {0}
    with engine.connect() as connection:
        crm_ids = [row["user_id"] for row in stored_events(engine) if row["channel"] == "crm"]
        assert crm_ids and all(identity.lookup(connection, "crm_id", u) for u in crm_ids)


def test_the_same_seed_stores_nothing_twice(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    first = run_small(engine, database_url, tmp_path / "first", customers=30)
    ids = {row["message_id"] for row in stored_events(engine)}

    again = run_small(engine, database_url, tmp_path / "again", customers=30)

    assert again.stored_new == 0
    assert again.total_events == first.total_events
    assert {row["message_id"] for row in stored_events(engine)} == ids
    for name in ("truth.jsonl", "store_pos_receipts.csv", "crm_customers.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_another_seed_is_other_people(engine: Engine, database_url: str, tmp_path: Path) -> None:
    run_small(engine, database_url, tmp_path / "a", customers=10, seed=1)
    other = run_small(engine, database_url, tmp_path / "b", customers=10, seed=2)

    assert other.stored_new == other.total_events


def test_a_refused_batch_stops_the_demo_with_the_server_message(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    run_small(engine, database_url, tmp_path / "first", customers=5)
    with engine.begin() as connection:
        sources.set_enabled(connection, name="web", enabled=False)

    with pytest.raises(DeliveryError, match=r"403.*disabled"):
        run_small(engine, database_url, tmp_path / "again", customers=20, seed=3)
