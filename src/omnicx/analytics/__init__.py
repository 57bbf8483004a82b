"""Journey analytics: an event lake (Parquet, partitioned by day) and the analyses on it.

The processing stage keeps the lake up to date (`consumer.LakeWriter`); every analysis reads
a snapshot of it through DuckDB (`lake.open_lake`), with each event attributed to the profile
its person holds now, so a merge or an unmerge shows at once without rewriting the lake.
"""
