"""Console sessions: start, look up, idle and lifetime expiry, ending, and what ends them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from omnicx.access import sessions, users
from omnicx.access.service import AccessError, hash_token
from omnicx.access.sessions import SESSION_IDLE, SESSION_LIFETIME, ConsoleSession
from omnicx.access.tables import console_sessions, console_users
from omnicx.store.clock import as_utc, utc_now
from tests.access.helpers import add_user

START = utc_now().replace(microsecond=0)


def _start(engine: Engine, user_id: int, now: datetime = START) -> tuple[str, ConsoleSession]:
    with engine.begin() as connection:
        return sessions.start_session(connection, user_id, now=now)


def _lookup(engine: Engine, token: str, now: datetime) -> ConsoleSession | None:
    with engine.begin() as connection:
        return sessions.session_of(connection, token, now=now)


def _last_seen(engine: Engine) -> datetime:
    with engine.connect() as connection:
        return as_utc(connection.execute(select(console_sessions.c.last_seen_at)).scalar_one())


def test_a_started_session_is_found_by_its_token(engine: Engine) -> None:
    alice = add_user(engine, role="support")
    token, started = _start(engine, alice.id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert started.user == alice
    assert started.expires_at == START + SESSION_LIFETIME
    assert len(started.csrf_token) >= 43
    assert _lookup(engine, token, START + timedelta(minutes=5)) == started
    other_token, other = _start(engine, alice.id)
    assert other_token != token
    assert other.csrf_token != started.csrf_token


def test_only_the_tokens_hash_is_stored(engine: Engine) -> None:
    alice = add_user(engine)
    token, _session = _start(engine, alice.id)
    with engine.connect() as connection:
        row = connection.execute(select(console_sessions)).one()
    assert token not in [str(value) for value in row]
    assert row.token_hash == hash_token(token)


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 44, "é" * 43, "\x00" * 43])
def test_unknown_and_malformed_tokens_open_nothing(engine: Engine, token: str) -> None:
    alice = add_user(engine)
    _start(engine, alice.id)
    assert _lookup(engine, token, START) is None


def test_a_session_ends_after_being_idle_too_long(engine: Engine) -> None:
    alice = add_user(engine)
    token, _session = _start(engine, alice.id)
    almost = START + SESSION_IDLE - timedelta(seconds=1)
    assert _lookup(engine, token, almost) is not None  # and notes the visit
    assert _lookup(engine, token, almost + SESSION_IDLE - timedelta(seconds=1)) is not None
    assert _lookup(engine, token, almost + 2 * SESSION_IDLE) is None


def test_a_busy_session_still_ends_at_its_lifetime(engine: Engine) -> None:
    alice = add_user(engine)
    token, session = _start(engine, alice.id)
    at = START
    while at + timedelta(hours=6) < START + SESSION_LIFETIME:
        at += timedelta(hours=6)
        assert _lookup(engine, token, at) is not None
    assert _lookup(engine, token, session.expires_at - timedelta(seconds=1)) is not None
    assert _lookup(engine, token, session.expires_at) is None


def test_last_seen_is_written_at_most_once_a_minute(engine: Engine) -> None:
    alice = add_user(engine)
    token, _session = _start(engine, alice.id)
    assert _last_seen(engine) == START
    _lookup(engine, token, START + timedelta(seconds=59))
    assert _last_seen(engine) == START
    _lookup(engine, token, START + timedelta(seconds=60))
    assert _last_seen(engine) == START + timedelta(seconds=60)
    _lookup(engine, token, START + timedelta(seconds=100))
    assert _last_seen(engine) == START + timedelta(seconds=60)


def test_signing_out_ends_the_session(engine: Engine) -> None:
    alice = add_user(engine)
    token, _session = _start(engine, alice.id)
    other, _other = _start(engine, alice.id)
    with engine.begin() as connection:
        sessions.end_session(connection, token)
        sessions.end_session(connection, token)  # again: nothing happens
        sessions.end_session(connection, "unknown")
    assert _lookup(engine, token, START) is None
    assert _lookup(engine, other, START) is not None


def test_ending_every_session_of_a_user(engine: Engine) -> None:
    alice = add_user(engine)
    bob = add_user(engine, "bob@example.com")
    tokens = [_start(engine, alice.id)[0] for _ in range(3)]
    bobs, _session = _start(engine, bob.id)
    with engine.begin() as connection:
        sessions.end_session(connection, tokens[0])
        assert sessions.end_sessions_of(connection, alice.id) == 2
        assert sessions.end_sessions_of(connection, alice.id) == 0
    assert all(_lookup(engine, token, START) is None for token in tokens)
    assert _lookup(engine, bobs, START) is not None


def test_disabling_a_user_ends_their_sessions_for_good(engine: Engine) -> None:
    add_user(engine, "root@example.com")
    alice = add_user(engine, role="analyst")
    token, _session = _start(engine, alice.id)
    with engine.begin() as connection:
        users.disable_user(connection, alice.email, actor="cli")
    assert _lookup(engine, token, START) is None
    with pytest.raises(AccessError, match="No active console user"):
        _start(engine, alice.id)
    with engine.begin() as connection:
        users.enable_user(connection, alice.email, actor="cli")
    assert _lookup(engine, token, START) is None  # enabling does not revive old sessions
    fresh, _session = _start(engine, alice.id)
    assert _lookup(engine, fresh, START) is not None


def test_a_disabled_user_has_no_session_even_if_not_ended(engine: Engine) -> None:
    add_user(engine, "root@example.com")
    alice = add_user(engine, role="analyst")
    token, _session = _start(engine, alice.id)
    with engine.begin() as connection:  # disabled behind the sessions' back
        connection.execute(
            console_users.update().where(console_users.c.id == alice.id).values(disabled_at=START)
        )
    assert _lookup(engine, token, START) is None


def test_changing_the_password_ends_the_sessions(engine: Engine) -> None:
    alice = add_user(engine)
    token, _session = _start(engine, alice.id)
    with engine.begin() as connection:
        users.set_password(connection, alice.email, "another long password", actor="cli")
    assert _lookup(engine, token, START) is None


def test_a_role_change_applies_to_open_sessions(engine: Engine) -> None:
    add_user(engine, "root@example.com")
    alice = add_user(engine, role="analyst")
    token, _session = _start(engine, alice.id)
    with engine.begin() as connection:
        users.set_role(connection, alice.email, "marketer", actor="cli")
    found = _lookup(engine, token, START)
    assert found is not None
    assert found.user.role == "marketer"


def test_unknown_users_get_no_session(engine: Engine) -> None:
    with pytest.raises(AccessError):
        _start(engine, 999)


def test_signing_in_deletes_the_sessions_that_can_no_longer_open_anything(engine: Engine) -> None:
    alice = add_user(engine)
    ended, _ = _start(engine, alice.id)
    _start(engine, alice.id)  # left idle
    busy, _ = _start(engine, alice.id)
    with engine.begin() as connection:
        sessions.end_session(connection, ended)
    later = START + SESSION_IDLE + timedelta(minutes=1)
    assert _lookup(engine, busy, START + timedelta(hours=2)) is not None  # a visit keeps it
    fresh, _ = _start(engine, alice.id, later)
    with engine.connect() as connection:
        kept = set(connection.execute(select(console_sessions.c.token_hash)).scalars())
    assert kept == {hash_token(busy), hash_token(fresh)}
    assert _lookup(engine, busy, later) is not None
