"""The lake's people files: stored person keys, the clash flag, and lakes of format 1 (no
stored keys) read as they are and upgraded when the writer next writes people."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from omnicx.analytics import writer
from omnicx.analytics.funnels import funnel
from omnicx.analytics.lake import open_lake
from omnicx.analytics.layout import person_key, read_manifest, write_manifest
from omnicx.analytics.paths import paths
from tests.analytics.lakes import Row, build_lake, reattribute

T = datetime(2026, 3, 10, 9)
STEPS = ["Product Viewed", "Product Added", "Order Completed"]


def _rows() -> list[Row]:
    hour = timedelta(hours=1)
    return [
        Row("ada", "Product Viewed", T, channel="web"),
        Row("ada", "Product Added", T + hour, channel="ios"),
        Row("anon", "Product Viewed", T + 2 * hour, channel="web", anchor=7),
        Row("ada", "Order Completed", T + 3 * hour, channel="store_pos", revenue=50.0),
        Row("bob", "Product Viewed", T, channel="email"),
        Row("bob", "Product Added", T + hour, channel="web"),
        Row("cy", "Product Viewed", T + hour, channel="sms"),
    ]


def _answers(lake_dir: Path) -> tuple[object, ...]:
    lake = open_lake(lake_dir)
    with lake.connect() as db:
        people = db.execute(
            "SELECT person, count(*), count(DISTINCT person_key) FROM events GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return (
        people,
        funnel(lake, STEPS, breakdown="channel").to_dict(),
        paths(lake).to_dict(),
    )


def _as_format_1(lake_dir: Path) -> None:
    """Rewrites a lake as omnicx wrote it before people files carried person keys."""
    manifest = read_manifest(lake_dir)
    for path in manifest.people_files:
        table = pq.read_table(lake_dir / path)
        pq.write_table(table.drop_columns(["person_key"]), lake_dir / path)
    write_manifest(lake_dir, replace(manifest, format=1))


def test_people_files_store_each_profiles_key(tmp_path: Path) -> None:
    build_lake(tmp_path, _rows())
    reattribute(tmp_path, {7: "ada"})
    manifest = read_manifest(tmp_path)
    rows = [pq.read_table(tmp_path / p).to_pylist() for p in manifest.people_files]
    assert all(r["person_key"] == person_key(r["profile_id"]) for file in rows for r in file)
    assert not manifest.person_keys_clash
    with open_lake(tmp_path).connect() as db:
        keys = dict(db.execute("SELECT DISTINCT person, person_key FROM events").fetchall())
    assert keys == {p: person_key(p) for p in ("ada", "bob", "cy")}


def test_a_person_without_a_profile_has_no_key(tmp_path: Path) -> None:
    build_lake(tmp_path, _rows())
    reattribute(tmp_path, {7: None})
    manifest = read_manifest(tmp_path)
    newest = pq.read_table(tmp_path / manifest.people_files[-1]).to_pylist()
    assert newest == [{"anchor": 7, "profile_id": None, "seq": 2, "person_key": None}]
    with open_lake(tmp_path).connect() as db:
        assert db.execute("SELECT count(*) FROM events WHERE anchor = 7").fetchone() == (0,)


def test_a_key_two_profiles_share_is_flagged_and_reports_number_people(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_lake(tmp_path / "keyed", _rows())
    reattribute(tmp_path / "keyed", {7: "ada"})
    expected = _answers(tmp_path / "keyed")
    # "cy" and "dan" share a key, in different files: found when the second is written.
    monkeypatch.setattr(writer, "person_key", lambda p: 1 if p in ("cy", "dan") else person_key(p))
    build_lake(tmp_path / "clash", _rows())
    assert not read_manifest(tmp_path / "clash").person_keys_clash
    reattribute(tmp_path / "clash", {7: "ada", 8: "dan"})
    assert read_manifest(tmp_path / "clash").person_keys_clash
    assert _answers(tmp_path / "clash") == expected
    # The flag stays through a compaction while the clash remains.
    manifest = writer.compact(tmp_path / "clash", read_manifest(tmp_path / "clash"), days=set())
    assert len(manifest.people_files) == 1 and manifest.person_keys_clash


def test_a_compaction_without_a_clash_clears_the_flag(tmp_path: Path) -> None:
    build_lake(tmp_path, _rows())
    reattribute(tmp_path, {7: "ada"})
    expected = _answers(tmp_path)
    write_manifest(tmp_path, replace(read_manifest(tmp_path), person_keys_clash=True))
    assert _answers(tmp_path) == expected  # people numbered per connection
    manifest = writer.compact(tmp_path, read_manifest(tmp_path), days=set())
    assert len(manifest.people_files) == 1 and not manifest.person_keys_clash


def test_a_format_1_lake_is_read_and_upgraded_when_people_are_next_written(
    tmp_path: Path,
) -> None:
    current, old = tmp_path / "current", tmp_path / "old"
    for lake_dir in (current, old):
        build_lake(lake_dir, _rows(), batches=2)
    _as_format_1(old)
    assert read_manifest(old).format == 1
    assert _answers(old) == _answers(current)
    for lake_dir in (current, old):
        reattribute(lake_dir, {7: "ada"})
    upgraded = read_manifest(old)
    assert upgraded.format == 2 and len(upgraded.people_files) == 2
    merged = pq.read_table(old / upgraded.people_files[0]).to_pylist()
    assert all(r["person_key"] == person_key(r["profile_id"]) for r in merged)
    assert _answers(old) == _answers(current)


def test_a_lake_of_an_unknown_format_says_to_rebuild(tmp_path: Path) -> None:
    build_lake(tmp_path, _rows())
    write_manifest(tmp_path, replace(read_manifest(tmp_path), format=99))
    with pytest.raises(ValueError, match="omnicx lake rebuild"):
        read_manifest(tmp_path)
