"""Looking identifiers up by (type, value): the same value under two types stays two
identifiers, and batches larger than one IN list find every one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from omnicx.identity import repository as repo
from omnicx.identity.tables import identifiers
from omnicx.store.bulk import CHUNK

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _store(engine: Engine, keys: list[tuple[str, str]]) -> None:
    with engine.begin() as connection:
        connection.execute(
            identifiers.insert(),
            [
                {"type": t, "value": v, "shared": False, "first_seen_at": T0, "last_seen_at": T0}
                for t, v in keys
            ],
        )


def test_a_value_is_found_under_its_own_type_only(engine: Engine) -> None:
    _store(engine, [("userId", "123"), ("loyalty_card", "123"), ("email", "a@example.com")])
    with engine.connect() as connection:
        found = repo.identifiers_by_key(
            connection, {("userId", "123"), ("email", "123"), ("phone", "a@example.com")}
        )
    assert set(found) == {("userId", "123")}
    assert found[("userId", "123")].type == "userId"


def test_every_key_of_a_batch_larger_than_one_in_list_is_found(engine: Engine) -> None:
    stored = [("anonymousId", f"a{n}") for n in range(CHUNK + 7)] + [
        ("email", f"e{n}@example.com") for n in range(CHUNK + 3)
    ]
    _store(engine, stored)
    missing = [("anonymousId", "nobody"), ("email", "a0")]
    with engine.connect() as connection:
        found = repo.identifiers_by_key(connection, [*stored, *missing])
    assert set(found) == set(stored)
    assert len({row.id for row in found.values()}) == len(stored)
