"""The audit log: every change of users and tokens is recorded; newest first, by cursor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from omnicx.access import audit, service, users
from omnicx.access.tables import audit_log
from omnicx.store.clock import utc_now
from tests.access.helpers import PASSWORD


def _entries(engine: Engine, **kwargs: object) -> list[audit.AuditEntry]:
    with engine.connect() as connection:
        return audit.entries(connection, **kwargs)  # type: ignore[arg-type]


def test_every_change_is_recorded_with_who_did_it(engine: Engine) -> None:
    with engine.begin() as connection:
        users.add_user(connection, "Root@Example.com", role="admin", password=PASSWORD, actor="cli")
        users.add_user(
            connection,
            "alice@example.com",
            role="support",
            password=PASSWORD,
            name="Alice",
            actor="console:root@example.com",
        )
        users.set_role(
            connection, "alice@example.com", "marketer", actor="console:root@example.com"
        )
        users.set_password(
            connection, "alice@example.com", "new password 123", actor="console:root@example.com"
        )
        users.disable_user(connection, "alice@example.com", actor="api:admin:ops token")
        users.enable_user(connection, "alice@example.com", actor="cli")
        token, plaintext = service.create_token(
            connection, role="analyst", name="reports", actor="console:root@example.com"
        )
        service.revoke_token(connection, token_id=token.id, actor="cli")
    found = _entries(engine)
    assert [(e.actor, e.action, e.target) for e in reversed(found)] == [
        ("cli", "users.add", "root@example.com"),
        ("console:root@example.com", "users.add", "alice@example.com"),
        ("console:root@example.com", "users.role", "alice@example.com"),
        ("console:root@example.com", "users.password", "alice@example.com"),
        ("api:admin:ops token", "users.disable", "alice@example.com"),
        ("cli", "users.enable", "alice@example.com"),
        ("console:root@example.com", "tokens.create", f"token {token.id} (reports)"),
        ("cli", "tokens.revoke", f"token {token.id} (reports)"),
    ]
    details = {e.action: e.detail for e in found}
    assert details["users.add"] == {"role": "admin", "name": "root"}
    assert details["users.role"] == {"from": "support", "to": "marketer"}
    assert details["users.password"] == {"sessions_ended": 0}
    assert details["tokens.create"] == {"role": "analyst", "name": "reports", "hint": token.hint}
    assert all(abs(e.at - utc_now()) < timedelta(minutes=5) for e in found)
    # No secret in the log: neither a password nor a token.
    with engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(select(audit_log)) for v in row)
    for secret in (PASSWORD, "new password 123", plaintext):
        assert secret not in stored


def test_nothing_changed_nothing_recorded(engine: Engine) -> None:
    with engine.begin() as connection:
        users.add_user(connection, "root@example.com", role="admin", password=PASSWORD)
        users.add_user(connection, "alice@example.com", role="support", password=PASSWORD)
        users.set_role(connection, "alice@example.com", "support", actor="cli")
        users.enable_user(connection, "alice@example.com", actor="cli")
        users.disable_user(connection, "alice@example.com", actor="cli")
        users.disable_user(connection, "alice@example.com", actor="cli")
        token, _plaintext = service.create_token(connection, role="admin")
        service.revoke_token(connection, token_id=token.id)
        service.revoke_token(connection, token_id=token.id)
    actions = [e.action for e in _entries(engine)]
    assert actions == ["tokens.revoke", "tokens.create", "users.disable", "users.add", "users.add"]


def test_a_change_that_rolls_back_leaves_no_entry(engine: Engine) -> None:
    def failing_request() -> None:
        with engine.begin() as connection:
            users.add_user(connection, "alice@example.com", role="admin", password=PASSWORD)
            raise RuntimeError("the request failed later on")

    with pytest.raises(RuntimeError):
        failing_request()
    assert _entries(engine) == []


def test_newest_first_with_a_cursor(engine: Engine) -> None:
    with engine.begin() as connection:
        for i in range(7):
            audit.record(connection, actor="cli", action="sources.rotate", target=f"source {i}")
    first = _entries(engine, limit=3)
    assert [e.target for e in first] == ["source 6", "source 5", "source 4"]
    assert first[0].id > first[1].id > first[2].id
    second = _entries(engine, limit=3, before=first[-1].id)
    assert [e.target for e in second] == ["source 3", "source 2", "source 1"]
    last = _entries(engine, limit=3, before=second[-1].id)
    assert [e.target for e in last] == ["source 0"]
    assert _entries(engine, limit=3, before=last[-1].id) == []
    assert len(_entries(engine)) == 7


def test_filtering_by_action_or_area(engine: Engine) -> None:
    with engine.begin() as connection:
        audit.record(connection, actor="cli", action="users.add", target="a@example.com")
        audit.record(connection, actor="cli", action="tokens.create", target="token 1")
        audit.record(connection, actor="cli", action="users.disable", target="a@example.com")
        audit.record(
            connection,
            actor="cli",
            action="profiles.erase",
            target="profile 42",
            detail={"identifiers": 3},
        )
        audit.record(connection, actor="cli", action="usersx.odd", target="x")
    assert [e.action for e in _entries(engine, action="users.add")] == ["users.add"]
    assert [e.action for e in _entries(engine, action="users")] == ["users.disable", "users.add"]
    assert [e.detail for e in _entries(engine, action="profiles.erase")] == [{"identifiers": 3}]
    assert _entries(engine, action="users.remove") == []
    assert _entries(engine, action="users", limit=1)[0].action == "users.disable"


def test_record_takes_a_time(engine: Engine) -> None:
    at = utc_now().replace(microsecond=0) - timedelta(days=3)
    with engine.begin() as connection:
        audit.record(connection, actor="cli", action="users.add", target="a@example.com", at=at)
    [entry] = _entries(engine)
    assert (entry.at, entry.detail) == (at, {})
