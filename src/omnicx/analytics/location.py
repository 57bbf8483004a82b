"""Where the event lake lives: `OMNICX_LAKE_DIR`, else beside the SQLite file, else here."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

LAKE_DIR_ENV = "OMNICX_LAKE_DIR"


def resolve_lake_dir(database_url: str, explicit: str | Path | None = None) -> Path:
    """The lake directory for a database: `explicit`, `$OMNICX_LAKE_DIR`, `NAME-lake` beside
    a SQLite file `NAME.db`, or `omnicx-lake` in the current directory (PostgreSQL)."""
    chosen = explicit or os.environ.get(LAKE_DIR_ENV)
    if chosen:
        return Path(chosen)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        return database.with_name(f"{database.stem}-lake")
    return Path.cwd() / "omnicx-lake"
