"""`omnicx import FILE`: loads a CSV, JSON Lines or Parquet export as a source's events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from omnicx.cli.common import DbOption, console, errors, fail, open_database
from omnicx.collect import bulk_import
from omnicx.collect.bulk_import import (
    ImportFileError,
    ImportSourceError,
    ImportStoreError,
    ImportSummary,
)

BAD_INPUT = 2
"""Exit status for a file or mapping the import cannot use (nothing was stored)."""
REFUSED = 1
"""Exit status for an unknown or disabled source, a database failure, or every row rejected."""


def import_file(
    file: Annotated[
        Path, typer.Argument(help="The CSV, JSONL or Parquet file to import.", metavar="FILE")
    ],
    source: Annotated[
        str, typer.Option("--source", "-s", help="The source the events come from (must exist).")
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            help="A TOML or JSON file mapping columns to event fields (see docs/import.md). "
            "Without it, JSONL lines are spec messages and columns named like fields are used.",
            show_default=False,
        ),
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv, jsonl or parquet. Default: from the file's extension."),
    ] = None,
    rejected: Annotated[
        Path | None,
        typer.Option(
            "--rejected",
            help="Where to list refused rows. Default: FILE.rejected.jsonl next to the file.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Imports a file of events; importing it again stores nothing twice."""
    from omnicx.settings import Settings

    try:
        loaded = bulk_import.load_mapping(mapping) if mapping is not None else None
        total = bulk_import.count_rows(file, file_format)
        with open_database(db) as engine, _progress(file.name, total) as advance:
            summary = bulk_import.import_file(
                engine,
                file,
                source_name=source,
                mapping=loaded,
                file_format=file_format,
                rejected_path=rejected,
                progress=advance,
                # The server's limit, so a row is refused here exactly when the API would.
                message_limit=Settings().max_message_bytes,
            )
    except (ImportSourceError, ImportStoreError) as exc:
        # Like other commands refused an unknown source or an unreachable database (docs/cli.md).
        fail(str(exc), REFUSED)
    except ImportFileError as exc:
        fail(str(exc), BAD_INPUT)
    _print_summary(file, source, summary)
    if summary.rows and summary.rejected == summary.rows:
        raise typer.Exit(REFUSED)


class _RateColumn(ProgressColumn):
    """Rows per second."""

    def render(self, task: Task) -> Text:
        """Renders the task's current speed."""
        # The average since the start: steadier than Rich's recent-sample speed, and known
        # after a single update.
        elapsed = task.finished_time or task.elapsed
        shown = f"{task.completed / elapsed:,.0f} rows/s" if elapsed else "… rows/s"
        return Text(shown, style="progress.data.speed")


@contextmanager
def _progress(name: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields the callback that reports the rows done so far."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        _RateColumn(),
        TimeRemainingColumn(),
        console=errors,
    )
    task = progress.add_task(name, total=total)

    def advance(done: int) -> None:
        # Shown from the first stored batch: a file refused outright gets its error alone.
        if not progress.live.is_started:
            progress.start()
        # The total counts lines: a cell holding line breaks makes it an overestimate.
        progress.update(task, completed=done, total=max(total, done))

    try:
        yield advance
        progress.update(task, total=progress.tasks[0].completed)
    finally:
        progress.stop()


def _print_summary(file: Path, source: str, summary: ImportSummary) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column()
    table.add_row("rows", f"{summary.rows:,}", "")
    table.add_row("stored", f"{summary.stored:,}", "")
    table.add_row("duplicates", f"{summary.duplicates:,}", "already stored, not stored again")
    where = f"listed in {summary.rejected_path}" if summary.rejected_path else ""
    table.add_row("rejected", f"{summary.rejected:,}", where)
    console.print(f"Imported [bold]{file.name}[/] into source [bold]{source}[/]:", highlight=False)
    console.print(table, highlight=False)
