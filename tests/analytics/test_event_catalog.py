"""The lake's catalog of event names and channels: counted from every event file, each file
once (new files added as the lake grows; compacted files counted again)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnicx.analytics import event_catalog, writer
from omnicx.analytics.event_catalog import NameCount, lake_catalog
from omnicx.analytics.lake import open_lake
from omnicx.analytics.layout import read_manifest, write_manifest
from tests.analytics.lakes import Row, build_lake

T = datetime(2026, 3, 10, 9)


def test_names_and_channels_are_counted_most_first(lake_dir: Path) -> None:
    event_catalog.forget()
    lake = build_lake(
        lake_dir,
        [
            Row("ada", "Product Viewed", T),
            Row("ada", "Product Viewed", T + timedelta(days=1), channel="ios"),
            Row("bob", "Order Completed", T + timedelta(days=1), channel="store_pos"),
            Row("bob", None, T, type="identify"),
            Row("cy", "Home", T + timedelta(days=2), type="page"),
        ],
        batches=3,
    )
    found = lake_catalog(lake)
    assert found.events == (
        NameCount("Product Viewed", 2),
        NameCount("Home", 1),
        NameCount("Order Completed", 1),
    )
    assert found.channels == (NameCount("web", 3), NameCount("ios", 1), NameCount("store_pos", 1))
    assert found.has_event("Home") and not found.has_event("home")
    assert found.has_channel("ios") and not found.has_channel("sms")
    assert found.event_names == ["Product Viewed", "Home", "Order Completed"]


def test_an_empty_lake_has_no_names(lake_dir: Path) -> None:
    found = lake_catalog(open_lake(lake_dir))
    assert found.events == () and found.channels == ()


def test_new_and_compacted_files_are_counted_once_each(lake_dir: Path) -> None:
    event_catalog.forget()
    build_lake(lake_dir, [Row("ada", "Product Viewed", T)])
    assert lake_catalog(open_lake(lake_dir)).events == (NameCount("Product Viewed", 1),)
    lake = build_lake(
        lake_dir,
        [Row("bob", "Product Viewed", T), Row("bob", "Product Added", T + timedelta(hours=1))],
    )
    assert lake_catalog(lake).events == (
        NameCount("Product Viewed", 2),
        NameCount("Product Added", 1),
    )
    before = len(lake.manifest.event_files)
    manifest = writer.compact(lake_dir, read_manifest(lake_dir), days=set(lake.manifest.days()))
    write_manifest(lake_dir, manifest)
    compacted = open_lake(lake_dir)
    assert len(compacted.manifest.event_files) < before
    assert lake_catalog(compacted).events == (
        NameCount("Product Viewed", 2),
        NameCount("Product Added", 1),
    )


def test_a_file_is_read_once(lake_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event_catalog.forget()
    lake = build_lake(lake_dir, [Row("ada", "Product Viewed", T)])
    calls: list[int] = []
    counting = event_catalog._count

    def spy(files: list[tuple[str, int]]) -> Any:
        calls.append(len(files))
        return counting(files)

    monkeypatch.setattr(event_catalog, "_count", spy)
    lake_catalog(lake)
    lake_catalog(lake)
    assert calls == [1]


def test_a_reader_that_must_not_wait_gets_the_names_counted_so_far(
    lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_catalog.forget()
    lake = build_lake(lake_dir, [Row("ada", "Product Viewed", T), Row("bob", "Home", T)])
    assert lake_catalog(lake, wait_rows=2).complete  # few enough: counted at once
    event_catalog.forget()
    queued: list[list[tuple[str, int]]] = []
    monkeypatch.setattr(event_catalog, "_count_in_background", queued.append)
    waiting = lake_catalog(lake, wait_rows=1)
    assert not waiting.complete and waiting.events == () and len(queued) == 1
    monkeypatch.undo()
    event_catalog._count_in_background(queued[0])  # the real one, in its thread
    deadline = time.monotonic() + 30
    while not (found := lake_catalog(lake, wait_rows=0)).complete:
        assert time.monotonic() < deadline, "the background count did not finish"
        time.sleep(0.05)
    assert found.event_names == ["Home", "Product Viewed"]
