"""Access tests hash passwords with cheap argon2id parameters (`cheap_password_hashing`,
tests/conftest.py): the real ones cost a fifth of a second per hash, which is the point in
production and a waste in a test."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher


@pytest.fixture(autouse=True)
def _cheap_hashing_everywhere(cheap_password_hashing: PasswordHasher) -> PasswordHasher:
    """Every access test hashes with the cheap parameters."""
    return cheap_password_hashing
