"""`omnicx sources ...`: add, list, disable, enable sources and rotate their write keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database
from omnicx.cli.durations import parse_duration
from omnicx.collect import sources as source_service

app = typer.Typer(help="Sources: the systems that send events, each with a channel and write key.")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the source, unique.")],
    channel: Annotated[
        str, typer.Option("--channel", "-c", help=f"One of: {', '.join(source_service.CHANNELS)}.")
    ],
    db: DbOption = None,
) -> None:
    """Creates a source and prints its write key on the last line."""
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                source = source_service.add(connection, name=name, channel=channel)
        except source_service.SourceError as exc:
            fail(str(exc))
    console.print(f"Created source [bold]{source.name}[/] (channel {source.channel}). Write key:")
    typer.echo(source.write_keys[0])


@app.command("list")
def list_sources(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Lists sources with their channel, state, write keys and events received."""
    with open_database(db) as engine, engine.connect() as connection:
        all_sources = source_service.list_all(connection)
    if as_json:
        import orjson

        typer.echo(
            orjson.dumps(
                [
                    {
                        "name": s.name,
                        "channel": s.channel,
                        "enabled": s.enabled,
                        "write_keys": list(s.write_keys),
                        "events": s.events,
                        "last_event_at": s.last_event_at.isoformat() if s.last_event_at else None,
                    }
                    for s in all_sources
                ],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    if not all_sources:
        console.print("No sources yet. Add one: [bold]omnicx sources add NAME --channel web[/]")
        return
    table = Table("Name", "Channel", "State", "Write keys", "Events", "Last event")
    for s in all_sources:
        table.add_row(
            s.name,
            s.channel,
            "[green]enabled[/]" if s.enabled else "[red]disabled[/]",
            "\n".join(s.write_keys),
            f"{s.events:,}",
            s.last_event_at.strftime("%Y-%m-%d %H:%M:%S") if s.last_event_at else "—",
        )
    console.print(table)


@app.command("disable")
def disable(name: str, db: DbOption = None) -> None:
    """Disables a source: its events are refused (403) until it is enabled again."""
    _set_enabled(name, False, db)


@app.command("enable")
def enable(name: str, db: DbOption = None) -> None:
    """Enables a disabled source."""
    _set_enabled(name, True, db)


def _set_enabled(name: str, enabled: bool, db: str | None) -> None:
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                source_service.set_enabled(connection, name=name, enabled=enabled)
        except source_service.SourceError as exc:
            fail(str(exc))
    console.print(f"Source [bold]{name}[/] {'enabled' if enabled else 'disabled'}.")


@app.command("rotate-key")
def rotate_key(
    name: str,
    grace: Annotated[
        str, typer.Option(help="How long the old key keeps working, e.g. 0s, 15m, 24h, 7d.")
    ] = "0s",
    db: DbOption = None,
) -> None:
    """Issues a new write key and prints it on the last line; old keys expire after --grace."""
    try:
        grace_period = parse_duration(grace)
    except ValueError as exc:
        fail(str(exc))
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                key = source_service.rotate_key(connection, name=name, grace=grace_period)
        except source_service.SourceError as exc:
            fail(str(exc))
    console.print(f"New write key for [bold]{name}[/] (old keys expire in {grace}):")
    typer.echo(key)
