"""`omnicx segments sync ...`: deliver a segment to a webhook on a schedule."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database

app = typer.Typer(
    help="Scheduled deliveries of a segment's consented members to a webhook, signed with "
    "HMAC-SHA256 (docs/ad-export.md#webhook-syncs). `omnicx serve` and `omnicx worker` run "
    "them when due.",
    no_args_is_help=True,
)
BAD_INPUT = 2


@app.command("add")
def add(
    key: Annotated[str, typer.Argument(help="The segment's key.")],
    url: Annotated[str, typer.Option("--url", help="The webhook (http:// or https://).")],
    every: Annotated[int, typer.Option("--every", help="Minutes between deliveries.")] = 60,
    output_format: Annotated[
        str, typer.Option("--format", help="members, google or meta.")
    ] = "members",
    db: DbOption = None,
) -> None:
    """Schedules deliveries (the first one at once) and prints the signing secret last."""
    from omnicx.audiences.segments import SegmentError
    from omnicx.audiences.syncs import add_sync

    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                sync = add_sync(connection, key, url=url, format=output_format, every_minutes=every)
        except SegmentError as error:
            fail(escape(str(error)), 1 if error.code == "not_found" else BAD_INPUT)
    console.print(
        f"Sync #{sync.id}: segment {escape(key)} to {escape(url)} every {every} minutes "
        f"({output_format}). Verify deliveries with the HMAC-SHA256 secret:",
        highlight=False,
    )
    typer.echo(sync.secret)


@app.command("list")
def list_syncs(db: DbOption = None) -> None:
    """Every sync with its last delivery."""
    from omnicx.audiences.segments import all_segments
    from omnicx.audiences.syncs import syncs_of

    with open_database(db) as engine, engine.connect() as connection:
        found = syncs_of(connection)
        keys = {s.id: s.key for s in all_segments(connection)}
    table = Table("id", "segment", "url", "format", "every", "last run", "status", "members")
    for s in found:
        table.add_row(
            str(s.id), keys.get(s.segment_id, "?"), escape(s.url), s.format,
            f"{s.every_minutes} min", s.last_run_at.isoformat() if s.last_run_at else "never",
            escape(s.last_status or ""), "" if s.last_members is None else f"{s.last_members:,}",
        )  # fmt: skip
    console.print(table)


@app.command("remove")
def remove(
    sync_id: Annotated[int, typer.Argument(help="The sync's id.")], db: DbOption = None
) -> None:
    """Stops a sync."""
    from omnicx.audiences.segments import SegmentError
    from omnicx.audiences.syncs import remove_sync

    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                remove_sync(connection, sync_id)
        except SegmentError as error:
            fail(escape(str(error)))
    console.print(f"Removed sync #{sync_id}.")


@app.command("run")
def run(db: DbOption = None) -> None:
    """Delivers every due sync now (for cron, when no server or worker runs)."""
    from omnicx.audiences.syncs import run_due

    with open_database(db) as engine:
        ran = run_due(engine)
    console.print(f"Ran {ran} due sync(s); see omnicx segments sync list.")
