"""A DuckDB connection for a moment's work on Arrow tables and Parquet files.

Starting a DuckDB database costs 25–40 ms on a 2-core machine; a lake batch used to start
four (checking person keys, merging a day's files, merging people files, looking anchors
up), which was a sixth of the lake consumer's time on live traffic. The process keeps one
in-memory database and hands out a new connection to it (`cursor()`, some microseconds)
each time: tables registered and TEMP objects created on it are its own and go with it.
"""

from __future__ import annotations

import os
import threading

import duckdb

_lock = threading.Lock()
_database: tuple[int, duckdb.DuckDBPyConnection] | None = None


def scratch() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's in-memory DuckDB database (close it, or use it as
    a context manager). Nothing it creates should outlive it: create TEMP objects only."""
    global _database
    with _lock:
        # A process forked from one that had started the database starts its own: DuckDB's
        # threads do not survive a fork.
        if _database is None or _database[0] != os.getpid():
            _database = (os.getpid(), duckdb.connect())
        return _database[1].cursor()
