"""`omnicx stages ...`: the journey stage model reports use — print it, store another.

The analytics modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape

from omnicx.cli.common import DbOption, console, fail, open_database

app = typer.Typer(
    help="Journey stages: the model that maps events and traits to stages "
    "(report with `omnicx report stages`).",
    no_args_is_help=True,
)

BAD_INPUT = 2


@app.command("settings")
def settings(
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the model in force as JSON (defaults filled in).")
    ] = False,
) -> None:
    """Prints the stage model in force: the stored file, or the built-in model."""
    from omnicx.analytics.stage_settings import DEFAULT_DOCUMENT, StageSettingsError
    from omnicx.analytics.stage_settings_store import (
        current_document,
        current_model,
        current_version,
    )

    with open_database(db) as engine, engine.connect() as connection:
        document = current_document(connection)
        version = current_version(connection)
        try:
            model = current_model(connection)
        except StageSettingsError as exc:
            fail(f"{escape(str(exc))}: store valid settings with `omnicx stages configure FILE`.")
    if as_json:
        typer.echo(orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    if document is None:
        console.print(
            "No stage model stored: the [bold]built-in model[/] applies. As a settings file "
            "(save it, edit it, store it with [bold]omnicx stages configure FILE[/]):",
            highlight=False,
        )
        typer.echo(DEFAULT_DOCUMENT.rstrip("\n"))
        return
    console.print(
        f"Stage model version {version} (stored with omnicx stages configure):", highlight=False
    )
    typer.echo(document.rstrip("\n"))


@app.command("configure")
def configure(
    file: Annotated[
        Path, typer.Argument(help="A TOML (or JSON) stage model; see docs/analytics/stages.md.")
    ],
    db: DbOption = None,
) -> None:
    """Checks a stage model and stores it; every report uses it from now on."""
    from omnicx.analytics.stage_settings import StageSettingsError
    from omnicx.analytics.stage_settings_store import current_document, store

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {escape(str(exc))}", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                if current_document(connection) == text:
                    console.print(
                        f"This stage model is already in force; nothing stored ({file}).",
                        highlight=False,
                    )
                    return
                version = store(connection, text, name=str(file))
        except StageSettingsError as exc:
            fail(f"{escape(str(exc))}. Nothing was stored.", BAD_INPUT)
    console.print(
        f"Stored stage model version {version} from {file}. Reports use it from now on "
        "(stages are computed from the lake each time: nothing to rebuild).",
        highlight=False,
    )
