"""Console users: adding, signing in (one answer for every refusal), rehashing, changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from omnicx.access import users
from omnicx.access.service import AccessError
from omnicx.access.tables import console_users, login_attempts
from omnicx.access.users import LoginRefused
from omnicx.store.clock import utc_now
from tests.access.helpers import PASSWORD, add_user


class CountingHasher(PasswordHasher):
    """The cheap test hasher, counting the passwords it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


def _login(engine: Engine, email: str, password: str, client: str = "10.0.0.1") -> users.User:
    with engine.begin() as connection:
        return users.verify_login(connection, email, password, client=client)


def _attempts(engine: Engine) -> list[tuple[str, str, bool]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                login_attempts.c.email, login_attempts.c.client, login_attempts.c.succeeded
            ).order_by(login_attempts.c.id)
        )
        return [(row.email, row.client, row.succeeded) for row in rows]


def test_add_user_keeps_a_clean_address_and_only_an_argon2id_hash(engine: Engine) -> None:
    user = add_user(engine, "  Alice.Smith@Example.COM ", role="marketer")
    assert (user.email, user.name, user.role, user.language) == (
        "alice.smith@example.com",
        "alice.smith",
        "marketer",
        None,
    )
    assert user.active
    assert user.disabled_at is None
    with engine.connect() as connection:
        row = connection.execute(select(console_users)).one()
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in [str(value) for value in row]
    assert row.password_changed_at is not None


def test_add_user_takes_a_name(engine: Engine) -> None:
    user = add_user(engine, "bob@example.com", name="  Bob Builder ")
    assert user.name == "Bob Builder"


def test_a_second_user_with_the_same_address_is_refused(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    with pytest.raises(AccessError, match="already exists"):
        add_user(engine, "ALICE@example.com ")


@pytest.mark.parametrize("email", ["alice", "alice@", "@example.com", "a b@example.com", ""])
def test_a_bad_address_is_refused(engine: Engine, email: str) -> None:
    with pytest.raises(AccessError, match="not a valid e-mail address"):
        add_user(engine, email)


def test_a_short_password_is_refused(engine: Engine) -> None:
    with pytest.raises(AccessError, match="at least 10 characters"):
        add_user(engine, password="123456789")
    add_user(engine, password="1234567890")


def test_an_unknown_role_lists_the_roles(engine: Engine) -> None:
    with pytest.raises(AccessError, match="Unknown role 'owner'") as raised:
        add_user(engine, role="owner")
    for role in ("admin", "marketer", "analyst", "support"):
        assert role in str(raised.value)
    with engine.connect() as connection:
        assert users.list_users(connection) == []


def test_the_right_password_signs_in(engine: Engine) -> None:
    added = add_user(engine, "alice@example.com", role="support")
    assert _login(engine, " Alice@EXAMPLE.com", PASSWORD) == added
    assert _attempts(engine) == [("alice@example.com", "10.0.0.1", True)]


def test_wrong_password_unknown_address_and_disabled_user_get_one_answer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(engine, "alice@example.com", role="support")
    add_user(engine, "carol@example.com")
    with engine.begin() as connection:
        users.disable_user(connection, "alice@example.com", actor="cli")
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)
    messages = []
    for email, password in [
        ("carol@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
        ("alice@example.com", PASSWORD),  # the right password of a disabled user
    ]:
        before = counting.verified
        with pytest.raises(LoginRefused) as refused:
            _login(engine, email, password)
        assert refused.value.retry_after is None
        # Every refusal checks one password against a hash: the same work, the same time.
        assert counting.verified == before + 1
        messages.append(str(refused.value))
    assert messages == [users.REFUSED] * 3
    assert [succeeded for _e, _c, succeeded in _attempts(engine)] == [False, False, False]


def test_a_refused_attempt_outlives_the_callers_rollback(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    with pytest.raises(LoginRefused), engine.begin() as connection:
        users.verify_login(connection, "alice@example.com", "wrong password", client="10.0.0.9")
    assert _attempts(engine) == [("alice@example.com", "10.0.0.9", False)]


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(engine, "alice@example.com")  # hashed with the cheap test parameters
    with engine.connect() as connection:
        old = connection.execute(select(console_users)).one()
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(users, "_hasher", stronger)
    assert stronger.check_needs_rehash(old.password_hash)
    _login(engine, "alice@example.com", PASSWORD)
    with engine.connect() as connection:
        new = connection.execute(select(console_users)).one()
    assert new.password_hash != old.password_hash
    assert not stronger.check_needs_rehash(new.password_hash)
    assert "m=2048,t=2,p=1" in new.password_hash
    assert new.password_changed_at == old.password_changed_at  # the password is the same
    _login(engine, "alice@example.com", PASSWORD)
    with engine.connect() as connection:
        assert connection.execute(select(console_users.c.password_hash)).scalar() == (
            new.password_hash
        )


def test_find_get_and_list(engine: Engine) -> None:
    bob = add_user(engine, "bob@example.com", role="analyst")
    alice = add_user(engine, "alice@example.com", role="support")
    with engine.connect() as connection:
        assert users.find_user(connection, "BOB@example.com") == bob
        assert users.find_user(connection, "nobody@example.com") is None
        assert users.get_user(connection, alice.id) == alice
        assert users.get_user(connection, 999) is None
        assert users.list_users(connection) == [alice, bob]


def test_role_password_disable_and_enable(engine: Engine) -> None:
    add_user(engine, "root@example.com")
    add_user(engine, "alice@example.com", role="support")
    with engine.begin() as connection:
        assert users.set_role(connection, "alice@example.com", "marketer", actor="cli").role == (
            "marketer"
        )
        with pytest.raises(AccessError, match="Unknown role"):
            users.set_role(connection, "alice@example.com", "owner", actor="cli")
        users.set_password(connection, "alice@example.com", "a brand new password", actor="cli")
        with pytest.raises(AccessError, match="at least 10"):
            users.set_password(connection, "alice@example.com", "short", actor="cli")
    with pytest.raises(LoginRefused):
        _login(engine, "alice@example.com", PASSWORD)
    assert _login(engine, "alice@example.com", "a brand new password").role == "marketer"
    with engine.begin() as connection:
        disabled = users.disable_user(connection, "alice@example.com", actor="cli")
    assert not disabled.active
    assert disabled.disabled_at is not None
    with pytest.raises(LoginRefused):
        _login(engine, "alice@example.com", "a brand new password")
    with engine.begin() as connection:
        assert users.enable_user(connection, "alice@example.com", actor="cli").active
    assert _login(engine, "alice@example.com", "a brand new password").active


@pytest.mark.parametrize(
    "change",
    [
        lambda c: users.set_role(c, "nobody@example.com", "admin", actor="cli"),
        lambda c: users.set_password(c, "nobody@example.com", PASSWORD, actor="cli"),
        lambda c: users.disable_user(c, "nobody@example.com", actor="cli"),
        lambda c: users.enable_user(c, "nobody@example.com", actor="cli"),
    ],
)
def test_changing_an_unknown_user_says_so(engine: Engine, change: object) -> None:
    with engine.begin() as connection, pytest.raises(AccessError, match="No console user"):
        change(connection)  # type: ignore[operator]


def test_the_last_active_admin_stays(engine: Engine) -> None:
    add_user(engine, "root@example.com")
    with engine.begin() as connection:
        with pytest.raises(AccessError, match="last active admin"):
            users.disable_user(connection, "root@example.com", actor="cli")
        with pytest.raises(AccessError, match="last active admin"):
            users.set_role(connection, "root@example.com", "analyst", actor="cli")
    add_user(engine, "second@example.com")
    with engine.begin() as connection:
        users.set_role(connection, "root@example.com", "analyst", actor="cli")
        with pytest.raises(AccessError, match="last active admin"):
            users.disable_user(connection, "second@example.com", actor="cli")


def test_language(engine: Engine) -> None:
    alice = add_user(engine)
    with engine.begin() as connection:
        users.set_language(connection, alice.id, "pt-BR")
        assert users.get_user(connection, alice.id).language == "pt-BR"  # type: ignore[union-attr]
        users.set_language(connection, alice.id, None)
        assert users.get_user(connection, alice.id).language is None  # type: ignore[union-attr]
        with pytest.raises(AccessError, match="language tag"):
            users.set_language(connection, alice.id, "<script>")
        with pytest.raises(AccessError, match="No console user"):
            users.set_language(connection, 999, "tr")


# Throttling ---------------------------------------------------------------------------


def _try(
    engine: Engine, email: str, password: str, at: timedelta, client: str = "10.0.0.1"
) -> float | None:
    """Tries to sign in `at` after the test's start; returns None on success, else the
    refusal's retry_after (-1.0 for a plain refusal)."""
    with engine.begin() as connection:
        try:
            users.verify_login(connection, email, password, client=client, now=START + at)
        except LoginRefused as refused:
            return -1.0 if refused.retry_after is None else refused.retry_after
    return None


START = utc_now().replace(microsecond=0) + timedelta(days=1)
SECOND = timedelta(seconds=1)
WRONG = "not the password"


def test_the_sixth_attempt_after_five_failures_is_refused_unchecked(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(engine, "alice@example.com")
    for i in range(5):
        assert _try(engine, "alice@example.com", WRONG, i * SECOND) == -1.0
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)
    # Even the right password: the password is not looked at.
    wait = _try(engine, "alice@example.com", PASSWORD, 10 * SECOND)
    assert counting.verified == 0
    # That attempt counts too: five failures (1 s .. 10 s) stay in the window until 1 s + 15 min.
    assert wait == pytest.approx((users.THROTTLE_WINDOW + SECOND - 10 * SECOND).total_seconds())
    assert wait is not None
    message = str(LoginRefused(wait))
    assert message == "Too many failed sign-ins; try again in 15 minutes."
    # Once waited, the right password works again.
    assert _try(engine, "alice@example.com", PASSWORD, 10 * SECOND + wait * SECOND) is None


def test_throttling_one_address_leaves_others_alone(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    add_user(engine, "bob@example.com")
    for i in range(6):
        _try(engine, "alice@example.com", WRONG, i * SECOND)
    assert (_try(engine, "alice@example.com", PASSWORD, 7 * SECOND) or 0) > 0
    assert _try(engine, "bob@example.com", PASSWORD, 8 * SECOND) is None
    assert _try(engine, "bob@example.com", PASSWORD, 9 * SECOND, client="10.0.0.2") is None


def test_failures_leave_the_window(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    for i in range(5):
        _try(engine, "alice@example.com", WRONG, i * SECOND)
    assert (_try(engine, "alice@example.com", PASSWORD, 5 * SECOND) or 0) > 0
    after = users.THROTTLE_WINDOW + 2 * SECOND
    assert _try(engine, "alice@example.com", WRONG, after) == -1.0  # checked, wrong
    assert _try(engine, "alice@example.com", PASSWORD, after + SECOND) is None


def test_a_success_clears_the_addresss_failures(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    for i in range(4):
        _try(engine, "alice@example.com", WRONG, i * SECOND)
    assert _try(engine, "alice@example.com", PASSWORD, 5 * SECOND) is None
    for i in range(4):
        assert _try(engine, "alice@example.com", WRONG, (6 + i) * SECOND) == -1.0
    assert _try(engine, "alice@example.com", PASSWORD, 11 * SECOND) is None


def test_one_client_trying_many_addresses_is_throttled(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    for i in range(users.MAX_CLIENT_FAILURES):
        assert _try(engine, f"guess{i}@example.com", WRONG, i * SECOND) == -1.0
    wait = _try(engine, "alice@example.com", PASSWORD, 30 * SECOND)
    assert wait == pytest.approx((users.THROTTLE_WINDOW + SECOND - 30 * SECOND).total_seconds())
    assert _try(engine, "alice@example.com", PASSWORD, 31 * SECOND, client="10.0.0.2") is None


def test_every_attempt_is_recorded(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    _try(engine, "Alice@example.com", PASSWORD, SECOND, client="192.0.2.1")
    _try(engine, "nobody@example.com", PASSWORD, 2 * SECOND, client="2001:db8::1")
    _try(engine, "x" * 400 + "@example.com", PASSWORD, 3 * SECOND, client="c" * 100)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(login_attempts)).scalar() == 3
    recorded = _attempts(engine)
    assert recorded[:2] == [
        ("alice@example.com", "192.0.2.1", True),
        ("nobody@example.com", "2001:db8::1", False),
    ]
    assert (len(recorded[2][0]), len(recorded[2][1])) == (320, 64)


def test_attempts_older_than_the_window_are_deleted_as_new_ones_come(engine: Engine) -> None:
    add_user(engine, "alice@example.com")
    for i in range(3):
        _try(engine, "alice@example.com", WRONG, i * SECOND, client=f"192.0.2.{i}")
    assert len(_attempts(engine)) == 3
    later = users.THROTTLE_WINDOW + 1.5 * SECOND  # the first two attempts have left the window
    _try(engine, "bob@example.com", WRONG, later)
    assert _attempts(engine) == [
        ("alice@example.com", "192.0.2.2", False),
        ("bob@example.com", "10.0.0.1", False),
    ]
