"""The lake writer's compaction merges a day's files with files of about their size: a day that
keeps receiving small batches has its events rewritten a few times, not at every eighth batch."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from omnicx.analytics import writer
from omnicx.analytics.lake import open_lake
from omnicx.analytics.layout import read_manifest, write_manifest
from tests.analytics.lakes import Row, build_lake

DAY = datetime(2026, 3, 10, 9)


def _append_and_compact(lake_dir: Path, count: int, *, per_batch: int = 1) -> None:
    """`count` batches of `per_batch` events on one day, compacted after each as the lake
    consumer does."""
    for _ in range(count):
        first = read_manifest(lake_dir).events_through + 1
        rows = [
            Row(f"p{n}", "Page Viewed", DAY + timedelta(seconds=n))
            for n in range(first, first + per_batch)
        ]
        build_lake(lake_dir, rows)
        write_manifest(lake_dir, writer.compact(lake_dir, read_manifest(lake_dir)))


def _files(lake_dir: Path) -> list[tuple[str, int]]:
    return sorted((f.path, f.rows) for f in read_manifest(lake_dir).event_files)


def test_eight_small_files_of_a_day_become_one(tmp_path: Path) -> None:
    _append_and_compact(tmp_path, 7)
    assert [rows for _, rows in _files(tmp_path)] == [1] * 7
    _append_and_compact(tmp_path, 1)
    assert [rows for _, rows in _files(tmp_path)] == [8]


def test_a_merged_file_is_not_merged_again_with_the_next_small_files(tmp_path: Path) -> None:
    _append_and_compact(tmp_path, 8)
    [(merged, _)] = _files(tmp_path)
    _append_and_compact(tmp_path, 8)
    files = _files(tmp_path)
    assert [rows for _, rows in files] == [8, 8]
    assert merged in {path for path, _ in files}  # the first eight events were not rewritten


def test_eight_merged_files_become_one_of_the_next_tier(tmp_path: Path) -> None:
    _append_and_compact(tmp_path, 64)
    assert [rows for _, rows in _files(tmp_path)] == [64]
    _append_and_compact(tmp_path, 9)
    assert sorted(rows for _, rows in _files(tmp_path)) == [1, 8, 64]


def test_every_event_is_kept_once_through_the_tiers(tmp_path: Path) -> None:
    _append_and_compact(tmp_path, 30, per_batch=3)
    with open_lake(tmp_path).connect() as db:
        ids = [row[0] for row in db.execute("SELECT event_id FROM events ORDER BY 1").fetchall()]
    assert ids == list(range(1, 91))


def test_compacting_named_days_merges_all_their_small_files(tmp_path: Path) -> None:
    _append_and_compact(tmp_path, 12)
    assert sorted(rows for _, rows in _files(tmp_path)) == [1, 1, 1, 1, 8]
    write_manifest(tmp_path, writer.compact(tmp_path, read_manifest(tmp_path), days={DAY.date()}))
    assert [rows for _, rows in _files(tmp_path)] == [12]
