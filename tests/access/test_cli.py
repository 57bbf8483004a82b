"""`omnicx tokens ...`: the created token is the last line printed, and it opens the API."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from omnicx.cli.main import app
from tests.access.helpers import bearer
from tests.collect.helpers import running_app

runner = CliRunner()


def test_create_prints_a_working_token_last(database_url: str) -> None:
    result = runner.invoke(
        app, ["tokens", "create", "--role", "support", "--name", "desk", "--db", database_url]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("ocx_")
    with running_app(database_url) as client:
        response = client.get("/api/whoami", headers=bearer(token))
    assert response.json() == {"role": "support", "name": "desk"}


def test_unknown_role_lists_the_roles(database_url: str) -> None:
    result = runner.invoke(app, ["tokens", "create", "--role", "owner", "--db", database_url])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "Unknown role 'owner'" in output
    for role in ("admin", "marketer", "analyst", "support"):
        assert role in output


def test_list_and_revoke(database_url: str) -> None:
    empty = runner.invoke(app, ["tokens", "list", "--db", database_url])
    assert "No API tokens yet" in empty.output
    created = runner.invoke(app, ["tokens", "create", "--role", "admin", "--db", database_url])
    token = created.output.strip().splitlines()[-1]
    listed = runner.invoke(app, ["tokens", "list", "--json", "--db", database_url])
    [entry] = orjson.loads(listed.output)
    assert (entry["role"], entry["name"], entry["revoked_at"]) == ("admin", "admin token", None)
    assert token.startswith(entry["hint"])
    assert token not in listed.output
    table = runner.invoke(app, ["tokens", "list", "--db", database_url])
    assert "active" in table.output
    revoked = runner.invoke(app, ["tokens", "revoke", str(entry["id"]), "--db", database_url])
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked API token" in revoked.output
    with running_app(database_url) as client:
        assert client.get("/api/whoami", headers=bearer(token)).status_code == 401
    assert "revoked" in runner.invoke(app, ["tokens", "list", "--db", database_url]).output
    missing = runner.invoke(app, ["tokens", "revoke", "999", "--db", database_url])
    assert missing.exit_code == 1
    assert "No token with id 999" in missing.output
