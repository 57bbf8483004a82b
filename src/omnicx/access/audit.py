"""The audit log: who changed what, and when, among the admin actions (users, tokens, ...).

Each entry is written in the same transaction as the change it records, so a change that
rolls back leaves no entry and a change that commits always has one. An entry holds no
secret: never a password, a token or a write key.

Actors: `console:EMAIL` (a console user), `api:ROLE:TOKEN NAME` (an API token), `cli`.
Actions are `area.verb`: `users.add`, `users.password`, `users.role`, `users.disable`,
`users.enable`, `tokens.create`, `tokens.revoke`, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from omnicx.access.tables import audit_log
from omnicx.store.clock import as_utc, utc_now

MAX_ENTRIES = 1000
"""The most entries one call of `entries` answers with."""

_ACTOR_LENGTH = 400
_TARGET_LENGTH = 400


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded admin action."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Records that `actor` did `action` on `target`, in the caller's transaction."""
    connection.execute(
        audit_log.insert().values(
            at=as_utc(at) if at is not None else utc_now(),
            actor=actor[:_ACTOR_LENGTH],
            action=action,
            target=target[:_TARGET_LENGTH],
            detail=orjson.dumps(dict(detail or {}), default=str).decode(),
        )
    )


def entries(
    connection: Connection,
    *,
    limit: int = 50,
    before: int | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first, at most `limit` (up to 1000) of them.

    `before`: only entries with a smaller id (pass the last id of a page to get the next).
    `action`: only that action (`users.add`); a name without a dot (`users`) takes its area.
    """
    chosen = (
        select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(limit, MAX_ENTRIES)))
    )
    if before is not None:
        chosen = chosen.where(audit_log.c.id < before)
    if action:
        if "." in action:
            chosen = chosen.where(audit_log.c.action == action)
        else:
            chosen = chosen.where(audit_log.c.action.startswith(f"{action}.", autoescape=True))
    return [
        AuditEntry(
            row.id,
            as_utc(row.at),
            row.actor,
            row.action,
            row.target,
            orjson.loads(row.detail),
        )
        for row in connection.execute(chosen)
    ]
