"""store.bulk: positions_among selects the rows of every position asked for, whether the
positions are a dense batch (one range) or scattered (IN lists, over several chunks);
update_by_key sets each row's columns, keeps the greatest where asked, and reads back what
SQLAlchemy would have stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, insert, select

from omnicx.identity.tables import identifiers, identity_observations
from omnicx.profiles.tables import profile_consents
from omnicx.store.bulk import CHUNK, positions_among, update_by_key, upsert
from omnicx.store.clock import as_utc

STORED = [i for i in range(1, 6001) if i % 7]  # multiples of 7 are missing


@pytest.fixture
def stored(engine: Engine) -> Engine:
    with engine.begin() as connection:
        connection.execute(delete(identity_observations))
        connection.execute(
            insert(identity_observations),
            [{"identifier_id": 1, "event_id": i, "anchor": True} for i in STORED],
        )
    return engine


def _selected(engine: Engine, asked: list[int]) -> tuple[set[int], int]:
    """The positions the conditions select, and how many statements they take."""
    conditions = list(positions_among(identity_observations.c.event_id, asked))
    found: set[int] = set()
    with engine.connect() as connection:
        for condition in conditions:
            found.update(
                connection.execute(select(identity_observations.c.event_id).where(condition))
                .scalars()
                .all()
            )
    return found, len(conditions)


def test_a_dense_batch_is_one_range_that_holds_every_position(stored: Engine) -> None:
    asked = list(range(1000, 3000))
    found, statements = _selected(stored, asked)
    assert statements == 1
    assert set(asked) & set(STORED) <= found
    assert found <= set(range(1000, 3000))


def test_scattered_positions_are_selected_exactly_in_chunks(stored: Engine) -> None:
    asked = list(range(5999, 0, -4))  # 1,500 positions over 6,000, unordered
    found, statements = _selected(stored, asked)
    assert statements == -(-len(asked) // CHUNK)
    assert found == set(asked) & set(STORED)


def test_nothing_asked_selects_nothing(stored: Engine) -> None:
    assert _selected(stored, []) == (set(), 0)


def test_update_by_key_sets_each_row_and_keeps_the_greatest_where_asked(engine: Engine) -> None:
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(delete(identifiers))
        connection.execute(
            insert(identifiers),
            [
                {
                    "id": n,
                    "type": "email",
                    "value": f"p{n}@example.com",
                    "profile_id": f"old-{n}",
                    "shared": False,
                    "first_seen_at": start,
                    "last_seen_at": start + timedelta(days=n),
                }
                for n in range(1, 1201)  # more than one chunk of anything
            ],
        )
        update_by_key(
            connection,
            identifiers,
            "id",
            [
                {
                    "id": n,
                    "profile_id": None if n % 3 == 0 else f"new-{n}",
                    # Odd rows move forward, even rows would move back: kept.
                    "last_seen_at": start + timedelta(days=n + (1 if n % 2 else -1), hours=1),
                }
                for n in range(2, 1201)  # row 1 untouched
            ],
            keep_greatest=["last_seen_at"],
        )
        rows = {
            r.id: (r.profile_id, as_utc(r.last_seen_at), as_utc(r.first_seen_at))
            for r in connection.execute(select(identifiers))
        }
    assert rows[1] == ("old-1", start + timedelta(days=1), start)
    for n in range(2, 1201):
        profile = None if n % 3 == 0 else f"new-{n}"
        last = start + timedelta(days=n + 1, hours=1) if n % 2 else start + timedelta(days=n)
        assert rows[n] == (profile, last, start), n


def test_update_by_key_with_nothing_to_do_runs_nothing(engine: Engine) -> None:
    with engine.begin() as connection:
        update_by_key(connection, identifiers, "id", [])


def test_upsert_inserts_new_rows_and_replaces_the_other_columns_of_known_ones(
    engine: Engine,
) -> None:
    at = datetime(2026, 5, 1, 8, 30, 0, 5, tzinfo=UTC)

    def row(
        profile: str, channel: str, granted: bool, hours: int, note: str | None
    ) -> dict[str, object]:
        return {
            "profile_id": profile,
            "channel": channel,
            "purpose": "marketing",
            "granted": granted,
            "occurred_at": at + timedelta(hours=hours),
            "event_id": None,
            "signal": "api",
            "note": note,
        }

    keys = ["profile_id", "channel", "purpose"]
    with engine.begin() as connection:
        connection.execute(delete(profile_consents))
        upsert(connection, profile_consents, [row("p1", "email", True, 0, "first")], keys)
        upsert(
            connection,
            profile_consents,
            [row("p1", "email", False, 2, None), row("p1", "sms", True, 1, "new")],
            keys,
        )
        upsert(connection, profile_consents, [], keys)
        stored = {
            (r.profile_id, r.channel): (r.granted, as_utc(r.occurred_at), r.note, r.signal)
            for r in connection.execute(select(profile_consents))
        }
    assert stored == {
        ("p1", "email"): (False, at + timedelta(hours=2), None, "api"),
        ("p1", "sms"): (True, at + timedelta(hours=1), "new", "api"),
    }
