"""What every `omnicx report ...` command shares: the lake to read, the scope options (date
range, filters), and printing a result as a Rich table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from omnicx.cli.common import console, fail
from omnicx.store.config import resolve_database_url

if TYPE_CHECKING:
    from omnicx.analytics.lake import LakeSnapshot
    from omnicx.analytics.scope import Scope

BAD_INPUT = 2


class Format(StrEnum):
    """How a report prints."""

    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table (for people), json or csv.")
]
StartOption = Annotated[
    str | None,
    typer.Option("--from", help="First day, YYYY-MM-DD (UTC), inclusive.", show_default=False),
]
EndOption = Annotated[
    str | None,
    typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), inclusive.", show_default=False),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Event filter FIELD OP VALUE (repeatable): channel=web, properties.country=NL, "
        "properties.total>100; fields channel, source, type, event, properties.X, traits.X.",
        show_default=False,
    ),
]
LakeOption = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help="Lake directory. Default: $OMNICX_LAKE_DIR, else NAME-lake beside the SQLite "
        "file NAME.db, else ./omnicx-lake.",
        show_default=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL, to find the lake beside a SQLite file. Default: "
        "$OMNICX_DATABASE_URL, else omnicx.db here.",
        show_default=False,
    ),
]


def lake_dir_of(lake: Path | None, db: str | None) -> Path:
    """The lake directory the `--lake` and `--db` options name."""
    from omnicx.analytics.location import resolve_lake_dir

    return resolve_lake_dir(resolve_database_url(db), lake)


def open_report_lake(lake: Path | None, db: str | None) -> LakeSnapshot:
    """The lake a report reads; a clear error when there is none yet."""
    from omnicx.analytics.lake import open_lake

    directory = lake_dir_of(lake, db)
    try:
        snapshot = open_lake(directory)
    except ValueError as exc:
        fail(str(exc), BAD_INPUT)
    if not snapshot.manifest.event_files:
        console.print(
            f"[yellow]The lake at {directory} holds no events yet: run `omnicx worker` (or "
            "`omnicx serve`) to process events, or `omnicx lake rebuild`.[/]",
            highlight=False,
        )
    return snapshot


def scope_from(start: str | None, end: str | None, where: list[str] | None) -> Scope:
    """The scope from the common options; a clear error naming the bad option."""
    from omnicx.analytics.scope import Scope, ScopeError, parse_filters

    def day(text: str | None, option: str) -> date | None:
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            fail(f"{option} {text!r} is not a date: write YYYY-MM-DD.", BAD_INPUT)

    try:
        return Scope(
            start=day(start, "--from"), end=day(end, "--to"), filters=parse_filters(where or [])
        )
    except ScopeError as exc:
        fail(str(exc), BAD_INPUT)


def emit(
    document: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    format: Format,
    title: str,
    columns: Sequence[str] | None = None,
) -> None:
    """Prints a report: `document` as JSON, or `rows` as a CSV or a Rich table."""
    if format is Format.json:
        sys.stdout.write(
            orjson.dumps(document, default=_jsonable, option=orjson.OPT_INDENT_2).decode() + "\n"
        )
        return
    names = list(columns or (rows[0].keys() if rows else []))
    if format is Format.csv:
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(names)
        for row in rows:
            out.writerow([_cell(row.get(n)) for n in names])
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=escape(title))
    for name in names:
        table.add_column(
            escape(name.replace("_", " ")), justify="right" if _numeric(rows, name) else "left"
        )
    for row in rows:
        table.add_row(*[escape(_shown(row.get(n))) for n in names])
    console.print(table)


def _numeric(rows: Sequence[Mapping[str, Any]], name: str) -> bool:
    return any(
        isinstance(r.get(name), int | float) and not isinstance(r.get(name), bool) for r in rows
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=_jsonable).decode()
    return str(value)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
