"""Where the database lives: `--db`, then `OMNICX_DATABASE_URL`, then a SQLite file here."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SQLITE_FILE = "omnicx.db"
DATABASE_URL_ENV = "OMNICX_DATABASE_URL"


def resolve_database_url(explicit: str | None = None) -> str:
    """Returns the database URL to use, normalised for SQLAlchemy."""
    url = (
        explicit
        or os.environ.get(DATABASE_URL_ENV)
        or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"
    )
    return normalise_url(url)


def normalise_url(url: str) -> str:
    """Maps the URL forms users type (`postgresql://`, `postgres://`) to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
