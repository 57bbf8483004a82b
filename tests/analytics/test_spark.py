"""The Spark path: PySpark in local mode reads a lake written by the real writer, with a
merge and a compaction in its history, and gets the same people and counts as DuckDB."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from omnicx.analytics import writer
from omnicx.analytics.layout import read_manifest, write_manifest
from omnicx.analytics.spark import read_lake
from tests.analytics.lakes import Row, build_lake, reattribute

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

T0 = datetime(2026, 3, 1, 9)


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    if shutil.which("java") is None:
        pytest.fail("the Spark test needs Java (make java installs it)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("omnicx-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_reads_the_lake_as_duckdb_does(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        Row("p1", "Product Viewed", T0, channel="web"),
        Row("p1", "Product Added", T0 + timedelta(hours=1), channel="ios"),
        Row("p2", "Product Viewed", T0 + timedelta(days=1), channel="web", anchor=7),
        Row("p2", "Order Completed", T0 + timedelta(days=2), channel="store_pos", revenue=40.0),
        Row("p3", "Email Opened", T0 + timedelta(days=2), channel="email"),
    ]
    lake_dir = tmp_path / "lake"
    build_lake(lake_dir, rows, batches=3)
    reattribute(lake_dir, {7: "p1"})  # the anonymous visit on day 2 turns out to be p1's
    manifest = writer.compact(lake_dir, read_manifest(lake_dir), days={T0.date()})
    write_manifest(lake_dir, manifest)

    events = read_lake(spark, lake_dir)
    counted = events.groupBy("person").count().withColumnRenamed("count", "n").collect()
    by_person = {r["person"]: r["n"] for r in counted}
    assert by_person == {"p1": 3, "p2": 1, "p3": 1}
    from omnicx.analytics.lake import open_lake

    with open_lake(lake_dir).connect() as db:
        expected = dict(db.execute("SELECT person, count(*) FROM events GROUP BY 1").fetchall())
    assert by_person == expected
    revenue = events.where("event = 'Order Completed'").select("revenue", "day").collect()
    assert [(r["revenue"], r["day"]) for r in revenue] == [(40.0, (T0 + timedelta(days=2)).date())]
