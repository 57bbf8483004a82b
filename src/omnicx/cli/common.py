"""What every CLI command shares: the --db option, opening the database, printing errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from omnicx.store.config import resolve_database_url
from omnicx.store.engine import make_engine
from omnicx.store.migrate import ensure_current

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width

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
def open_database(db: str | None, *, keep_connections: bool = False) -> Iterator[Engine]:
    """Opens (and migrates) the database, turning connection failures into a clear error.
    `keep_connections`: see store.engine.make_engine (long-running processing)."""
    url = resolve_database_url(db)
    try:
        engine = make_engine(url, keep_connections=keep_connections)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        fail(
            f"{url!r} is not a database URL omnicx can use ({exc}). "
            "Use sqlite:///path/to/file.db or postgresql://user@host:5432/database."
        )
    try:
        ensure_current(engine)
    except OperationalError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        reason = " ".join(str(exc.orig).split())
        fail(f"cannot open the database {shown}: {reason}")
    try:
        yield engine
    finally:
        engine.dispose()
