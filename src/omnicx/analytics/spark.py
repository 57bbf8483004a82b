"""Reading the event lake with Apache Spark, for when one machine is no longer enough.

The lake is plain Parquet; what Spark needs to know is which files make it up now (the
manifest, not a directory listing, which may hold files a compaction is replacing) and how
events are attributed to people (the people files, newest row per anchor). `read_lake`
gives the same `events` rows DuckDB's view gives:

    from pyspark.sql import SparkSession
    from omnicx.analytics.spark import read_lake
    spark = SparkSession.builder.getOrCreate()
    events = read_lake(spark, "/data/omnicx-lake")
    events.groupBy("channel").agg(F.countDistinct("person")).show()

PySpark is not a dependency of omnicx: install it where Spark runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omnicx.analytics.layout import read_manifest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_lake(spark: SparkSession, lake_dir: str | Path) -> DataFrame:
    """The lake's events of known people, each with `person` (its current profile id) and
    `day`, as a Spark DataFrame."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    directory = Path(lake_dir)
    manifest = read_manifest(directory)
    if not manifest.event_files or not manifest.people_files:
        raise ValueError(f"the lake at {directory} holds no events yet")
    events = spark.read.parquet(*[str(directory / f.path) for f in manifest.event_files])
    people = spark.read.parquet(*[str(directory / p) for p in manifest.people_files])
    newest = Window.partitionBy("anchor").orderBy(F.col("seq").desc())
    current = (
        people.withColumn("rank", F.row_number().over(newest))
        .where(F.col("rank") == 1)
        .where(F.col("profile_id").isNotNull())
        .select("anchor", F.col("profile_id").alias("person"))
    )
    return events.join(current, "anchor").withColumn("day", F.to_date("ts"))
