"""What every CLI command shares: the --db option, opening the database, printing errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from omnicx.store.config import resolve_database_url
from omnicx.store.engine import make_engine
from omnicx.store.migrate import ensure_current

console = Console()
errors = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///file.db or postgresql://...). "
        "Default: $OMNICX_DATABASE_URL, else omnicx.db in the current directory.",
        show_default=False,
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Prints an error in red on stderr and exits with `code`."""
    errors.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def open_database(db: str | None) -> Iterator[Engine]:
    """Opens (and migrates) the database, turning connection failures into a clear error."""
    url = resolve_database_url(db)
    engine = make_engine(url)
    try:
        ensure_current(engine)
    except OperationalError as exc:
        fail(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}"
        )
    try:
        yield engine
    finally:
        engine.dispose()
