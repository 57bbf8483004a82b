"""Time helpers: omnicx stores every instant in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Returns the current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Returns `value` in UTC; a naive value (SQLite hands those back) is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """Formats an instant as ISO 8601 in UTC with millisecond precision and a `Z`."""
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
