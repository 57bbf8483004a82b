"""`omnicx users ...` and `omnicx audit`: console users from the command line, the log."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.access import users
from omnicx.access.users import LoginRefused
from omnicx.cli.main import app
from tests.access.helpers import PASSWORD

runner = CliRunner()


def _cli(database_url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", database_url], input=input)
    return result.exit_code, " ".join(result.output.split())


def _signs_in(engine: Engine, email: str, password: str) -> bool:
    try:
        with engine.begin() as connection:
            users.verify_login(connection, email, password, client="cli-test")
    except LoginRefused:
        return False
    return True


def test_add_list_and_sign_in(database_url: str, engine: Engine) -> None:
    code, output = _cli(
        database_url, "users", "add", "Alice@Example.com", "--role", "support",
        "--password", PASSWORD, "--name", "Alice A.",
    )  # fmt: skip
    assert code == 0, output
    assert "Added console user alice@example.com ('Alice A.', role support)" in output
    assert PASSWORD not in output
    assert _signs_in(engine, "alice@example.com", PASSWORD)
    code, output = _cli(database_url, "users", "list")
    assert code == 0
    assert "alice@example.com" in output
    assert "Alice A." in output
    assert "active" in output
    code, listed = _cli(database_url, "users", "list", "--json")
    [entry] = orjson.loads(listed)
    assert (entry["email"], entry["role"], entry["disabled_at"]) == (
        "alice@example.com",
        "support",
        None,
    )


def test_an_empty_list_says_how_to_add(database_url: str) -> None:
    code, output = _cli(database_url, "users", "list")
    assert code == 0
    assert "omnicx users add EMAIL --role admin" in output


def test_add_asks_for_the_password_when_left_out(database_url: str, engine: Engine) -> None:
    code, output = _cli(
        database_url,
        "users",
        "add",
        "bob@example.com",
        "--role",
        "analyst",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 0, output
    assert PASSWORD not in output
    assert _signs_in(engine, "bob@example.com", PASSWORD)


def test_refusals_exit_with_1_and_say_why(database_url: str) -> None:
    add = ["users", "add", "alice@example.com", "--password", PASSWORD]
    code, output = _cli(database_url, *add, "--role", "owner")
    assert code == 1
    assert "Unknown role 'owner'" in output
    code, output = _cli(
        database_url, "users", "add", "alice", "--role", "admin", "--password", PASSWORD
    )
    assert code == 1
    assert "not a valid e-mail address" in output
    code, output = _cli(
        database_url, "users", "add", "alice@example.com", "--role", "admin", "--password", "short"
    )
    assert code == 1
    assert "at least 10 characters" in output
    assert _cli(database_url, *add, "--role", "admin")[0] == 0
    code, output = _cli(database_url, *add, "--role", "admin")
    assert code == 1
    assert "already exists" in output
    for args in (
        ["users", "password", "nobody@example.com", "--password", PASSWORD],
        ["users", "role", "nobody@example.com", "admin"],
        ["users", "disable", "nobody@example.com"],
        ["users", "enable", "nobody@example.com"],
    ):
        code, output = _cli(database_url, *args)
        assert code == 1, args
        assert "No console user with the e-mail address nobody@example.com" in output


def test_password_role_disable_enable(database_url: str, engine: Engine) -> None:
    assert _cli(database_url, "users", "add", "root@example.com", "--role", "admin",
                "--password", PASSWORD)[0] == 0  # fmt: skip
    assert _cli(database_url, "users", "add", "alice@example.com", "--role", "analyst",
                "--password", PASSWORD)[0] == 0  # fmt: skip
    new = "a fresh long password"
    code, output = _cli(
        database_url,
        "users",
        "password",
        "alice@example.com",
        input=f"{new}\nmistyped!!\n{new}\n{new}\n",
    )
    assert code == 0, output
    assert "Changed the password of alice@example.com" in output
    assert new not in output
    assert _signs_in(engine, "alice@example.com", new)
    assert not _signs_in(engine, "alice@example.com", PASSWORD)
    code, output = _cli(database_url, "users", "role", "alice@example.com", "marketer")
    assert code == 0, output
    assert "now has the role marketer" in output
    code, output = _cli(database_url, "users", "disable", "ALICE@example.com")
    assert code == 0, output
    assert "Disabled alice@example.com" in output
    assert not _signs_in(engine, "alice@example.com", new)
    assert "disabled" in _cli(database_url, "users", "list")[1]
    code, output = _cli(database_url, "users", "enable", "alice@example.com")
    assert code == 0, output
    assert _signs_in(engine, "alice@example.com", new)
    code, output = _cli(database_url, "users", "disable", "root@example.com")
    assert code == 1
    assert "last active admin" in output


def test_audit_shows_the_changes(database_url: str) -> None:
    code, output = _cli(database_url, "audit")
    assert code == 0
    assert "No audit log entries yet" in output
    _cli(
        database_url, "users", "add", "root@example.com", "--role", "admin", "--password", PASSWORD
    )
    _cli(
        database_url,
        "users",
        "add",
        "alice@example.com",
        "--role",
        "support",
        "--password",
        PASSWORD,
    )
    _cli(database_url, "users", "role", "alice@example.com", "analyst")
    _cli(database_url, "tokens", "create", "--role", "analyst", "--name", "reports")
    code, output = _cli(database_url, "audit")
    assert code == 0, output
    for expected in ("users.add", "users.role", "tokens.create", "cli"):
        assert expected in output
    code, listed = _cli(database_url, "audit", "--json", "--action", "users")
    assert [e["action"] for e in orjson.loads(listed)] == ["users.role", "users.add", "users.add"]
    code, listed = _cli(database_url, "audit", "--json", "--action", "users.role")
    [role] = orjson.loads(listed)
    assert (role["actor"], role["target"], role["detail"]) == (
        "cli",
        "alice@example.com",
        {"from": "support", "to": "analyst"},
    )
    code, output = _cli(database_url, "audit", "--limit", "2")
    assert code == 0
    assert "omnicx audit --before" in output
    newest_two = orjson.loads(_cli(database_url, "audit", "--json", "--limit", "2")[1])
    older = orjson.loads(
        _cli(database_url, "audit", "--json", "--before", str(newest_two[-1]["id"]))[1]
    )
    assert [e["action"] for e in older] == ["users.add", "users.add"]
    code, output = _cli(database_url, "audit", "--action", "profiles.erase")
    assert "No audit log entries for profiles.erase." in output
