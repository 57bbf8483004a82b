"""API tokens: create, authenticate, revoke, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from omnicx.access import service
from omnicx.access.tables import api_tokens
from omnicx.store.clock import as_utc, utc_now


def test_create_returns_a_token_that_authenticates(engine: Engine) -> None:
    with engine.begin() as connection:
        info, plaintext = service.create_token(connection, role="support", name="helpdesk")
    assert re.fullmatch(r"ocx_[A-Za-z0-9_-]{43}", plaintext)
    assert (info.role, info.name, info.hint) == ("support", "helpdesk", plaintext[:8])
    with engine.begin() as connection:
        caller = service.authenticate(connection, plaintext)
    assert caller == service.Caller(info.id, "support", "helpdesk")


def test_only_the_hash_is_stored(engine: Engine) -> None:
    with engine.begin() as connection:
        _info, plaintext = service.create_token(connection, role="admin")
    with engine.connect() as connection:
        row = connection.execute(select(api_tokens)).one()
    assert plaintext not in [str(value) for value in row]
    assert row.token_hash == service.hash_token(plaintext)
    assert row.name == "admin token"


def test_unknown_and_malformed_tokens_are_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        _info, plaintext = service.create_token(connection, role="analyst")
        changed = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
        assert service.authenticate(connection, changed) is None
        for wrong in ("", "ocx_", "x" * 47, plaintext + "x", "ocx_" + "é" * 43, "\x00" * 47):
            assert service.authenticate(connection, wrong) is None


def test_revoked_tokens_stop_authenticating(engine: Engine) -> None:
    with engine.begin() as connection:
        info, plaintext = service.create_token(connection, role="marketer")
        other, other_plaintext = service.create_token(connection, role="marketer")
    with engine.begin() as connection:
        revoked = service.revoke_token(connection, token_id=info.id)
        assert revoked.revoked_at is not None
        assert not revoked.active
        again = service.revoke_token(connection, token_id=info.id)
        assert again.revoked_at == revoked.revoked_at
    with engine.begin() as connection:
        assert service.authenticate(connection, plaintext) is None
        assert service.authenticate(connection, other_plaintext) is not None
        listed = service.list_tokens(connection)
        assert [t.id for t in listed] == [info.id, other.id]
        assert [t.id for t in service.list_tokens(connection, include_revoked=False)] == [other.id]


def test_unknown_role_lists_the_roles(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(service.AccessError) as raised:
        service.create_token(connection, role="owner")
    for role in service.ROLES:
        assert role in str(raised.value)


def test_revoking_an_unknown_token_says_so(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(service.AccessError, match="No token"):
        service.revoke_token(connection, token_id=999)


def test_last_used_is_written_at_most_once_a_minute(engine: Engine) -> None:
    with engine.begin() as connection:
        info, plaintext = service.create_token(connection, role="admin")
        assert info.last_used_at is None
    with engine.begin() as connection:
        service.authenticate(connection, plaintext)
    with engine.connect() as connection:
        first = service.list_tokens(connection)[0].last_used_at
    assert first is not None
    with engine.begin() as connection:
        service.authenticate(connection, plaintext)
        assert service.list_tokens(connection)[0].last_used_at == first
        long_ago = utc_now() - timedelta(minutes=5)
        connection.execute(update(api_tokens).values(last_used_at=long_ago))
    with engine.begin() as connection:
        service.authenticate(connection, plaintext)
        used = service.list_tokens(connection)[0].last_used_at
    assert used is not None
    assert as_utc(used) > long_ago + timedelta(minutes=4)


def test_every_role_has_a_description() -> None:
    assert service.ROLES == ("admin", "marketer", "analyst", "support")
    assert all(service.ROLE_DESCRIPTIONS[role] for role in service.ROLES)
