"""analytics.scratch: one DuckDB database per process, a connection of its own per task."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from omnicx.analytics import scratch as scratch_module
from omnicx.analytics.scratch import scratch


def test_what_a_task_registers_or_creates_is_its_own_and_goes_with_it() -> None:
    with scratch() as first, scratch() as second:
        first.register("fresh", pa.table({"x": [1, 2]}))
        first.execute("CREATE TEMP TABLE gone AS SELECT 3 AS x")
        assert first.execute("SELECT sum(x) FROM fresh").fetchall() == [(3,)]
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT * FROM fresh")
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT * FROM gone")
    with scratch() as later, pytest.raises(duckdb.CatalogException):
        later.execute("SELECT * FROM gone")


def test_a_forked_process_starts_its_own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    with scratch():
        pass
    started = scratch_module._database
    assert started is not None
    monkeypatch.setattr(scratch_module.os, "getpid", lambda: started[0] + 1)
    with scratch() as connection:
        assert connection.execute("SELECT 1").fetchall() == [(1,)]
    assert scratch_module._database is not None
    assert scratch_module._database[1] is not started[1]
