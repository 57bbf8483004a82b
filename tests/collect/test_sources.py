"""Sources and write keys, through the domain functions and the `omnicx sources` CLI."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from omnicx.cli.main import app
from omnicx.collect import sources
from omnicx.collect.sources import SourceError, WriteKeyCache

runner = CliRunner()


def test_add_list_disable_rotate(engine: Engine) -> None:
    with engine.begin() as connection:
        created = sources.add(connection, name="Istanbul store 3", channel="store_pos")
        [listed] = sources.list_all(connection)
    assert (listed.name, listed.channel, listed.enabled) == ("Istanbul store 3", "store_pos", True)
    assert listed.write_keys == created.write_keys
    key = created.write_keys[0]
    assert len(key) == 32 and key.isalnum()
    with engine.begin() as connection:
        assert sources.find_key_owner(connection, key) is not None
        sources.set_enabled(connection, name="Istanbul store 3", enabled=False)
        owner = sources.find_key_owner(connection, key)
        assert owner is not None and not owner.enabled
        new = sources.rotate_key(connection, name="Istanbul store 3")
        assert sources.find_key_owner(connection, key) is None
        assert sources.find_key_owner(connection, new) is not None


def test_rotation_with_grace_keeps_the_old_key_for_a_while(engine: Engine) -> None:
    with engine.begin() as connection:
        old = sources.add(connection, name="app", channel="ios").write_keys[0]
        new = sources.rotate_key(connection, name="app", grace=timedelta(hours=1))
        assert sources.find_key_owner(connection, old) is not None
        [listed] = sources.list_all(connection)
    assert set(listed.write_keys) == {old, new}


@pytest.mark.parametrize(
    ("name", "channel", "message"),
    [
        ("web", "fax", "Unknown channel 'fax'"),
        ("", "web", "is not allowed"),
        ("-rm", "web", "is not allowed"),
    ],
)
def test_invalid_sources_are_refused(engine: Engine, name: str, channel: str, message: str) -> None:
    with engine.begin() as connection, pytest.raises(SourceError, match=message):
        sources.add(connection, name=name, channel=channel)


def test_duplicate_names_are_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        sources.add(connection, name="web", channel="web")
        with pytest.raises(SourceError, match="already exists"):
            sources.add(connection, name="web", channel="android")


def test_write_key_cache_expires(engine: Engine) -> None:
    with engine.begin() as connection:
        key = sources.add(connection, name="web", channel="web").write_keys[0]
    cache = WriteKeyCache(engine, ttl=0.2)
    assert cache.resolve("unknown") is None
    owner = cache.resolve(key)
    assert owner is not None and owner.enabled
    with engine.begin() as connection:
        sources.set_enabled(connection, name="web", enabled=False)
    cached_owner = cache.resolve(key)
    assert cached_owner is not None and cached_owner.enabled  # still cached
    time.sleep(0.25)
    refreshed = cache.resolve(key)
    assert refreshed is not None and not refreshed.enabled
    cache.close()


def _counting_lookups(cache: WriteKeyCache, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    looked_up: list[str] = []
    find = sources.find_key_owner

    def counting(connection: Connection, key: str) -> sources.KeyOwner | None:
        looked_up.append(key)
        time.sleep(0.05)  # long enough for every concurrent request to arrive meanwhile
        return find(connection, key)

    monkeypatch.setattr(sources, "find_key_owner", counting)
    return looked_up


def test_write_key_cache_one_lookup_per_key_in_flight(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        key = sources.add(connection, name="web", channel="web").write_keys[0]
    cache = WriteKeyCache(engine, ttl=60)
    looked_up = _counting_lookups(cache, monkeypatch)

    async def many() -> list[sources.KeyOwner | None]:
        return await asyncio.gather(*(cache.owner(key) for _ in range(50)))

    owners = asyncio.run(many())
    assert len(looked_up) == 1
    assert all(owner is not None and owner.name == "web" for owner in owners)
    cache.close()


def test_write_key_cache_refreshes_in_the_background_and_never_serves_past_ttl(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        key = sources.add(connection, name="web", channel="web").write_keys[0]
    cache = WriteKeyCache(engine, ttl=0.4)
    looked_up = _counting_lookups(cache, monkeypatch)
    assert cache.resolve(key) is not None
    assert len(looked_up) == 1
    with engine.begin() as connection:
        sources.set_enabled(connection, name="web", enabled=False)
    # Fresh for the first half of its lifetime: served, no lookup.
    served = cache.peek(key)
    assert isinstance(served, sources.KeyOwner) and served.enabled
    assert len(looked_up) == 1
    time.sleep(0.25)
    # Past half its lifetime: still served at once, while one lookup runs in the background.
    served = cache.peek(key)
    assert isinstance(served, sources.KeyOwner) and served.enabled
    assert isinstance(cache.peek(key), sources.KeyOwner)
    time.sleep(0.15)
    assert len(looked_up) == 2
    refreshed = cache.peek(key)
    assert isinstance(refreshed, sources.KeyOwner) and not refreshed.enabled
    # An answer nobody used for longer than the TTL is not served: the caller waits.
    time.sleep(0.45)
    assert cache.peek(key) is sources.MISSING
    cache.close()


def test_write_key_lookups_do_not_wait_for_the_write_lock(engine: Engine) -> None:
    """On SQLite the writer holds BEGIN IMMEDIATE most of the time under load; lookups read."""
    with engine.begin() as connection:
        key = sources.add(connection, name="web", channel="web").write_keys[0]
    cache = WriteKeyCache(engine, ttl=60)
    with engine.begin() as writing:  # SQLite: BEGIN IMMEDIATE, the database's write lock
        writing.execute(text("UPDATE sources SET channel = 'web' WHERE name = 'web'"))
        started = time.monotonic()
        owner = cache.resolve(key)
        waited = time.monotonic() - started
    assert owner is not None and owner.name == "web"
    assert waited < 5  # a lookup behind the lock would wait until the transaction ends
    cache.close()


def test_cli_add_prints_the_key_last_and_lists(database_url: str) -> None:
    added = runner.invoke(
        app, ["sources", "add", "web shop", "--channel", "web", "--db", database_url]
    )
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    assert len(key) == 32
    listed = runner.invoke(app, ["sources", "list", "--json", "--db", database_url])
    assert listed.exit_code == 0
    assert key in listed.output and "web shop" in listed.output
    rotated = runner.invoke(app, ["sources", "rotate-key", "web shop", "--db", database_url])
    new_key = rotated.output.strip().splitlines()[-1]
    assert rotated.exit_code == 0 and new_key != key
    disabled = runner.invoke(app, ["sources", "disable", "web shop", "--db", database_url])
    assert disabled.exit_code == 0
    assert (
        '"enabled": false'
        in runner.invoke(app, ["sources", "list", "--json", "--db", database_url]).output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sources", "add", "x", "--channel", "fax"], "Unknown channel 'fax'"),
        (["sources", "disable", "nobody"], "No source named 'nobody'"),
        (["sources", "rotate-key", "nobody", "--grace", "soon"], "is not a duration"),
    ],
)
def test_cli_errors_are_clear(database_url: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--db", database_url])
    assert result.exit_code == 1
    assert message in result.output
