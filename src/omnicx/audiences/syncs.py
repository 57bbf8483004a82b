"""Scheduled syncs: a segment's consented members delivered to a webhook every N minutes.

Each delivery is one HTTP POST of the same CSV an export writes (ad_export: plain members, or
hashed for Google or Meta), signed so the receiver can trust it: `X-Omnicx-Signature:
sha256=HEX` is the HMAC-SHA256 of the body with the sync's secret. The database is never
held while the request is in flight: members are read in one transaction, the outcome is
recorded in another. A failed delivery is recorded with its reason and tried again at the
next run; `SyncScheduler` runs due syncs in the background of the processing stage.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, delete, select, update

from omnicx.audiences.ad_export import write_members_csv, write_platform_csv
from omnicx.audiences.exports import export_members
from omnicx.audiences.segments import SegmentError, get
from omnicx.audiences.tables import audience_syncs
from omnicx.store.clock import as_utc, utc_now

log = logging.getLogger("omnicx.audiences.syncs")

FORMATS: Final = ("members", "google", "meta")
MIN_MINUTES: Final = 5
TIMEOUT_SECONDS: Final = 30.0
CHECK_SECONDS: Final = 30.0
"""How often the scheduler looks for due syncs."""

Post = Callable[..., httpx.Response]


@dataclass(frozen=True, slots=True)
class Sync:
    """A scheduled delivery of a segment to a webhook."""

    id: int
    segment_id: int
    url: str
    format: str
    every_minutes: int
    secret: str
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    last_members: int | None


def _sync(row: Any) -> Sync:
    return Sync(
        row.id, row.segment_id, row.url, row.format, row.every_minutes, row.secret,
        as_utc(row.next_run_at), as_utc(row.last_run_at) if row.last_run_at else None,
        row.last_status, row.last_members,
    )  # fmt: skip


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SegmentError("invalid_url", f"{url!r} is not an http:// or https:// URL.")
    return url


def add_sync(
    connection: Connection, segment: str, *, url: str, format: str = "members", every_minutes: int
) -> Sync:
    """Schedules deliveries of a segment to `url` (the first one at once); returns the sync
    with its signing secret."""
    found = get(connection, segment)
    if format not in FORMATS:
        raise SegmentError(
            "invalid_format", f"Unknown format {format!r}: use {', '.join(FORMATS)}."
        )
    if every_minutes < MIN_MINUTES:
        raise SegmentError("invalid_interval", f"Syncs run at most every {MIN_MINUTES} minutes.")
    now = utc_now()
    inserted = connection.execute(
        audience_syncs.insert().values(
            segment_id=found.id, url=_checked_url(url), format=format,
            every_minutes=every_minutes, secret=secrets.token_hex(32), next_run_at=now,
            created_at=now,
        )
    ).inserted_primary_key  # fmt: skip
    assert inserted is not None
    return sync_by_id(connection, int(inserted[0]))


def sync_by_id(connection: Connection, sync_id: int) -> Sync:
    """A sync; SegmentError `not_found` when there is none."""
    row = connection.execute(select(audience_syncs).where(audience_syncs.c.id == sync_id)).first()
    if row is None:
        raise SegmentError("not_found", f"No sync #{sync_id}.")
    return _sync(row)


def syncs_of(connection: Connection, segment_id: int | None = None) -> list[Sync]:
    """Every sync (of one segment), by id."""
    statement = select(audience_syncs).order_by(audience_syncs.c.id)
    if segment_id is not None:
        statement = statement.where(audience_syncs.c.segment_id == segment_id)
    return [_sync(r) for r in connection.execute(statement)]


def remove_sync(connection: Connection, sync_id: int) -> Sync:
    """Stops a sync."""
    found = sync_by_id(connection, sync_id)
    connection.execute(delete(audience_syncs).where(audience_syncs.c.id == sync_id))
    return found


def signature(secret: str, body: bytes) -> str:
    """The `X-Omnicx-Signature` header value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body(connection: Connection, sync: Sync) -> tuple[bytes, int]:
    out = io.StringIO()
    members = export_members(connection, sync.segment_id)
    if sync.format == "members":
        summary = write_members_csv(members, out)
    else:
        summary = write_platform_csv(
            members, out, platform="google" if sync.format == "google" else "meta"
        )
    return out.getvalue().encode(), summary.written


def run_sync(engine: Engine, sync: Sync, *, post: Post = httpx.post) -> str:
    """Delivers one sync now and records the outcome; returns it ("200 OK", or why not)."""
    with engine.connect() as connection:
        segment = get(connection, sync.segment_id)
        body, members = _body(connection, sync)
    try:
        answer = post(
            sync.url,
            content=body,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "X-Omnicx-Segment": segment.key,
                "X-Omnicx-Format": sync.format,
                "X-Omnicx-Signature": signature(sync.secret, body),
            },
            timeout=TIMEOUT_SECONDS,
        )
        status = f"{answer.status_code} {answer.reason_phrase}".strip()
    except httpx.HTTPError as error:
        status = f"failed: {type(error).__name__}: {error}"[:200]
    now = utc_now()
    with engine.begin() as connection:
        connection.execute(
            update(audience_syncs)
            .where(audience_syncs.c.id == sync.id)
            .values(
                last_run_at=now, last_status=status[:200], last_members=members,
                next_run_at=now + timedelta(minutes=sync.every_minutes),
            )
        )  # fmt: skip
    if not status.startswith("2"):
        log.warning("sync #%d of segment %s to %s: %s", sync.id, segment.key, sync.url, status)
    return status


def run_due(engine: Engine, now: datetime | None = None, *, post: Post = httpx.post) -> int:
    """Runs every sync that is due; returns how many ran."""
    moment = now or utc_now()
    with engine.connect() as connection:
        due = [s for s in syncs_of(connection) if s.next_run_at <= moment]
    ran = 0
    for sync in due:
        if not _claim(engine, sync, moment):
            continue  # another worker took it
        try:
            run_sync(engine, sync, post=post)
            ran += 1
        except SegmentError:
            continue  # its segment was deleted meanwhile
    return ran


def _claim(engine: Engine, sync: Sync, now: datetime) -> bool:
    """Moves a due sync's next run on, unless another worker did first."""
    with engine.begin() as connection:
        claimed = connection.execute(
            update(audience_syncs)
            .where(audience_syncs.c.id == sync.id)
            .where(audience_syncs.c.next_run_at <= now)
            .values(next_run_at=now + timedelta(minutes=sync.every_minutes))
        )
        return bool(claimed.rowcount)


class SyncScheduler:
    """Runs due syncs in a background thread until stopped."""

    def __init__(self, engine: Engine, *, every: float = CHECK_SECONDS) -> None:
        self._engine = engine
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="omnicx-syncs", daemon=True)

    def start(self) -> None:
        """Starts the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread after the delivery in flight, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(TIMEOUT_SECONDS + 5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                run_due(self._engine)
            except Exception:
                log.exception("running segment syncs failed; trying again later")
