"""Documentation is tested: every command, setting, route and error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer.main

from omnicx.api.app import create_app
from omnicx.cli.main import app as cli_app
from omnicx.collect.errors import ERROR_TEXT
from omnicx.settings import SETTING_ENV_VARS, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands(group: click.Group, prefix: str = "omnicx") -> list[str]:
    names: list[str] = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        # Typer may bring its own click: recognise groups by what they have, not their class.
        if hasattr(command, "commands"):
            names.extend(_commands(command, full))
        else:
            names.append(full)
    return names


COMMANDS = _commands(typer.main.get_group(cli_app))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_is_documented(command: str) -> None:
    # In running text (`omnicx x y ...`) or as a line of a code block.
    pattern = rf"(^|`){re.escape(command)}(\s|`|$)"
    assert re.search(pattern, (DOCS / "cli.md").read_text(), re.MULTILINE), command


@pytest.mark.parametrize("variable", SETTING_ENV_VARS)
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in (DOCS / "configuration.md").read_text()


def test_every_setting_variable_is_listed() -> None:
    source = Path(Settings.__module__.replace(".", "/") + ".py")
    text = (Path(__file__).resolve().parent.parent / "src" / source).read_text()
    assert set(re.findall(r'"(OMNICX_[A-Z_]+)"', text)) == set(SETTING_ENV_VARS)


@pytest.mark.parametrize("code", sorted(ERROR_TEXT))
def test_every_error_code_is_documented(code: str) -> None:
    assert f"`{code}`" in (DOCS / "collection.md").read_text()


def test_every_collection_route_is_documented() -> None:
    text = (DOCS / "collection.md").read_text()
    routes = [path for path in create_app().openapi()["paths"] if path.startswith("/v1/")]
    assert len(routes) == 16
    for path in routes:
        assert path.replace("{write_key}", "{writeKey}") in text, path
