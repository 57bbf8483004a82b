"""Access tests hash passwords with cheap argon2id parameters: the real ones cost a fifth of
a second per hash, which is the point in production and a waste in a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from omnicx.access import users

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordHasher]:
    """Makes `access.users` hash with cheap parameters (and a dummy hash made with them)."""
    monkeypatch.setattr(users, "_hasher", CHEAP_HASHER)
    users._dummy_hash.cache_clear()
    yield CHEAP_HASHER
    users._dummy_hash.cache_clear()
