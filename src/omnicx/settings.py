"""Run-time settings, read from the environment (`OMNICX_*`) with documented defaults.

Every setting here is listed in docs/configuration.md; a test keeps the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from omnicx.api.forwarded import Network, parse_networks
from omnicx.store.config import resolve_database_url


def _networks_env(name: str, default: str) -> tuple[Network, ...]:
    try:
        return parse_networks(os.environ.get(name, default), name=name)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}.") from None


def _count_env(name: str) -> int | None:
    """A count of 1 or more from the environment; None when unset (the default applies)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    count = _int_env(name, 0)
    if count < 1:
        raise SystemExit(f"{name} must be 1 or more, not {raw!r}.")
    return count


@dataclass(frozen=True)
class Settings:
    """Everything a running omnicx needs to know about its environment."""

    database_url: str = field(default_factory=resolve_database_url)
    max_body_bytes: int = field(
        default_factory=lambda: _int_env("OMNICX_MAX_BODY_BYTES", 4 * 1024 * 1024)
    )
    max_message_bytes: int = field(
        default_factory=lambda: _int_env("OMNICX_MAX_MESSAGE_BYTES", 32 * 1024)
    )
    max_pending_events: int = field(
        default_factory=lambda: _int_env("OMNICX_MAX_PENDING_EVENTS", 200_000)
    )
    write_key_cache_seconds: int = field(
        default_factory=lambda: _int_env("OMNICX_WRITE_KEY_CACHE_SECONDS", 2)
    )
    public_url: str | None = field(default_factory=lambda: os.environ.get("OMNICX_PUBLIC_URL"))
    log_format: str = field(default_factory=lambda: os.environ.get("OMNICX_LOG_FORMAT", "text"))
    log_level: str = field(default_factory=lambda: os.environ.get("OMNICX_LOG_LEVEL", "INFO"))
    run_processing: bool = field(
        default_factory=lambda: os.environ.get("OMNICX_RUN_PROCESSING", "1") != "0"
    )
    processing_workers: int | None = field(
        default_factory=lambda: _count_env("OMNICX_PROCESSING_WORKERS")
    )
    """Processing processes per server process; None: the database's default
    (`processing_workers_for`)."""
    processing_wake: str | None = field(
        default_factory=lambda: os.environ.get("OMNICX_PROCESSING_WAKE") or None
    )
    """The socket a server process wakes the processing stage through, when the stage runs
    in another process tree (set by `omnicx serve --workers N` for its server processes)."""
    trusted_proxies: tuple[Network, ...] = field(
        default_factory=lambda: _networks_env("OMNICX_TRUSTED_PROXIES", "127.0.0.1,::1")
    )


DEFAULT_PROCESSING_WORKERS = 2
"""Processing processes on PostgreSQL unless told otherwise: identity resolution in one while
profiles, the lake and audiences run in the other (docs/performance.md)."""


def processing_workers_for(requested: int | None, dialect: str) -> int:
    """How many processing processes to run on a database (`dialect`: SQLAlchemy's name).

    `requested`, else 2 on PostgreSQL. Always 1 on SQLite: it has one writer lock and every
    transaction begins IMMEDIATE, so a second process would only wait for the first.
    """
    if dialect == "sqlite":
        return 1
    return requested if requested is not None else DEFAULT_PROCESSING_WORKERS


SETTING_ENV_VARS = (
    "OMNICX_DATABASE_URL",
    "OMNICX_MAX_BODY_BYTES",
    "OMNICX_MAX_MESSAGE_BYTES",
    "OMNICX_MAX_PENDING_EVENTS",
    "OMNICX_WRITE_KEY_CACHE_SECONDS",
    "OMNICX_PUBLIC_URL",
    "OMNICX_LOG_FORMAT",
    "OMNICX_LOG_LEVEL",
    "OMNICX_RUN_PROCESSING",
    "OMNICX_PROCESSING_WORKERS",
    "OMNICX_PROCESSING_WAKE",
    "OMNICX_TRUSTED_PROXIES",
    "OMNICX_SECRET_KEY",
    "OMNICX_LAKE_DIR",
)
"""The environment variables omnicx reads; docs/configuration.md documents each."""
