"""`omnicx lake ...`: the event lake's status, files, compaction and rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database
from omnicx.cli.report_common import LakeOption, lake_dir_of

app = typer.Typer(
    help="The event lake (Parquet files analytics read): status, files, compact, rebuild.",
    no_args_is_help=True,
)


@app.command("status")
def status_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """How many events the lake holds, over which days, and how far behind processing it is."""
    from omnicx.analytics import maintenance

    directory = lake_dir_of(lake, db)
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
    table.add_row("revenue currency", _currency_line(directory))
    console.print(table)


def _currency_line(directory: Path) -> str:
    from omnicx.analytics.lake import open_lake
    from omnicx.analytics.maintenance import revenue_currencies

    currency = open_lake(directory).currency
    sent = revenue_currencies(directory)
    if currency is None:
        if len([c for c in sent if c]) > 1:
            return (
                f"[yellow]as sent: {', '.join(c for c in sent if c)} are added up as they are; "
                "set a reporting currency with `omnicx lake currency`[/]"
            )
        return "as sent"
    missing = [c for c in sent if c and c != currency.base and c not in currency.rates]
    line = f"{currency.base} ({len(currency.rates)} rates)"
    if missing:
        line += f"; [yellow]no rate for {', '.join(missing)}: their revenue is left out[/]"
    return line


@app.command("currency")
def currency_command(
    base: Annotated[
        str | None,
        typer.Argument(
            help="The currency reports give revenue in (ISO 4217, e.g. EUR).", show_default=False
        ),
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option(
            "--rate",
            help="CODE=RATE: one unit of CODE is worth RATE of the base currency "
            "(repeatable), e.g. --rate TRY=0.0263.",
            show_default=False,
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Report revenue as sent again.")] = False,
    db: DbOption = None,
    lake: LakeOption = None,
) -> None:
    """Shows or sets the currency reports give revenue in, and the exchange rates to it."""
    from omnicx.analytics import maintenance
    from omnicx.analytics.currency import CurrencyError, ReportingCurrency, parse_rate
    from omnicx.analytics.lake import open_lake

    directory = lake_dir_of(lake, db)
    if base is None and not clear:
        current = open_lake(directory).currency
        if current is None:
            console.print("Revenue is reported as sent (no reporting currency).")
        else:
            console.print(f"Revenue is reported in {current.base}.")
            for code, value in sorted(current.rates.items()):
                console.print(f"  1 {code} = {value:g} {current.base}")
        return
    try:
        chosen = (
            None
            if clear
            else ReportingCurrency((base or "").upper(), dict(parse_rate(r) for r in rate or []))
        )
    except CurrencyError as exc:
        fail(str(exc), 2)
    with open_database(db) as engine:
        maintenance.set_currency(engine, directory, chosen)
    console.print(
        "Revenue is reported as sent again."
        if chosen is None
        else f"Revenue is reported in {chosen.base} ({len(chosen.rates)} rates)."
    )


@app.command("files")
def files_command(db: DbOption = None, lake: LakeOption = None) -> None:
    """Prints the lake's current files as JSON (for Spark or another engine: read these, not
    a directory listing, which may hold files a compaction is replacing)."""
    from omnicx.analytics.layout import read_manifest

    directory = lake_dir_of(lake, db)
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

    directory = lake_dir_of(lake, db)
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

    directory = lake_dir_of(lake, db)
    with (
        open_database(db) as engine,
        Progress(
            TextColumn("[bold]Rebuilding the lake"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("events", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        manifest = maintenance.rebuild(engine, directory, progress=advance)
    console.print(
        f"Rebuilt the lake at {directory}: {manifest.rows():,} events over "
        f"{len(manifest.days()):,} days in {len(manifest.event_files):,} files."
    )
