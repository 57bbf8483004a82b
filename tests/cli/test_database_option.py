"""A wrong --db gets a one-line explanation, not a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from omnicx.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://bar", "is not a database URL omnicx can use"),
        ("not a url", "is not a database URL omnicx can use"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot open the database"),
        ("sqlite:////nonexistent-dir/omnicx.db", "cannot open the database"),
    ],
)
def test_bad_database_urls(url: str, message: str) -> None:
    result = runner.invoke(app, ["sources", "list", "--db", url])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("omnicx ")
