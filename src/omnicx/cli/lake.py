"""`omnicx lake ...`: the event lake's status, files, compaction and rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from omnicx.cli.common import DbOption, console, open_database
from omnicx.store.config import resolve_database_url

app = typer.Typer(
    help="The event lake (Parquet files analytics read): status, files, compact, rebuild.",
    no_args_is_help=True,
)

LakeOption = Annotated[
    Path | None,
    typer.Option(
        "--lake",
        help="Lake directory. Default: $OMNICX_LAKE_DIR, else NAME-lake beside the SQLite "
        "file NAME.db, else ./omnicx-lake.",
        show_default=False,
    ),
]


def _lake_dir(lake: Path | None, db: str | None) -> Path:
    from omnicx.analytics.location import resolve_lake_dir

    return resolve_lake_dir(resolve_database_url(db), lake)


@app.command("status")
def status_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """How many events the lake holds, over which days, and how far behind processing it is."""
    from omnicx.analytics import maintenance

    directory = _lake_dir(lake, db)
    with open_database(db) as engine:
        found = maintenance.status(engine, directory)
    table = Table(title="Event lake", show_header=False)
    table.add_row("directory", str(found.path))
    table.add_row("events", f"{found.events:,}")
    table.add_row(
        "days",
        f"{found.days:,} ({found.first_day} … {found.last_day})" if found.days else "none",
    )
    table.add_row(
        "files", f"{found.event_files:,} event files, {found.people_files:,} people files"
    )
    table.add_row("size on disk", f"{found.bytes_on_disk / 1_048_576:,.1f} MiB")
    table.add_row("holds events up to id", f"{found.events_through:,}")
    table.add_row("processing lag", f"{found.lag:,} events")
    table.add_row("generation", str(found.generation))
    console.print(table)


@app.command("files")
def files_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """Prints the lake's current files as JSON (for Spark or another engine: read these, not
    a directory listing, which may hold files a compaction is replacing)."""
    from omnicx.analytics.layout import read_manifest

    directory = _lake_dir(lake, db)
    manifest = read_manifest(directory)
    document = {
        "lake": str(directory),
        "events": [str(directory / f.path) for f in manifest.event_files],
        "people": [str(directory / p) for p in manifest.people_files],
    }
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


@app.command("compact")
def compact_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """Merges every day's small files into one file (and the people files into one)."""
    from omnicx.analytics import maintenance

    directory = _lake_dir(lake, db)
    with open_database(db) as engine:
        before = maintenance.status(engine, directory)
        manifest = maintenance.compact_all(engine, directory)
    console.print(
        f"Compacted {before.event_files:,} event files into {len(manifest.event_files):,} "
        f"({manifest.rows():,} events over {len(manifest.days()):,} days)."
    )


@app.command("rebuild")
def rebuild_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """Writes the lake again from the stored events (after changing identity settings, or
    to recover a lost lake). The old lake stays readable until the new one replaces it."""
    from omnicx.analytics import maintenance

    directory = _lake_dir(lake, db)
    with open_database(db) as engine, Progress(
        TextColumn("[bold]Rebuilding the lake"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("events", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        manifest = maintenance.rebuild(engine, directory, progress=advance)
    console.print(
        f"Rebuilt the lake at {directory}: {manifest.rows():,} events over "
        f"{len(manifest.days()):,} days in {len(manifest.event_files):,} files."
    )
