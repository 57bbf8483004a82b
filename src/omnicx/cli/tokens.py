"""`omnicx tokens ...`: create, list and revoke admin API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from omnicx.access import service as access_service
from omnicx.cli.common import DbOption, console, fail, open_database

_ROLES_HELP = "; ".join(
    f"{role}: {what}" for role, what in access_service.ROLE_DESCRIPTIONS.items()
)

app = typer.Typer(help="API tokens: bearer tokens for the admin API (/api), each with a role.")


@app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", "-r", help=f"The token's role. {_ROLES_HELP}.")],
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="What the token is for (default: 'ROLE token')."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Creates an API token and prints it on the last line (it is shown only this once)."""
    try:
        access_service.validate_role(role)
    except access_service.AccessError as exc:
        fail(str(exc))
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                token, plaintext = access_service.create_token(connection, role=role, name=name)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(
        f"Created API token [bold]{token.id}[/] ({token.name!r}, role {token.role}). "
        "Send it as `Authorization: Bearer TOKEN`; it is not shown again:",
        highlight=False,
    )
    typer.echo(plaintext)


@app.command("list")
def list_tokens(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Lists API tokens: id, name, role, first characters, created, last used, state."""
    with open_database(db) as engine, engine.connect() as connection:
        tokens = access_service.list_tokens(connection)
    if as_json:
        import orjson

        typer.echo(
            orjson.dumps(
                [
                    {
                        "id": t.id,
                        "name": t.name,
                        "role": t.role,
                        "hint": t.hint,
                        "created_at": t.created_at.isoformat(),
                        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                    }
                    for t in tokens
                ],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    if not tokens:
        console.print("No API tokens yet. Create one: [bold]omnicx tokens create --role admin[/]")
        return
    table = Table("ID", "Name", "Role", "Token", "Created", "Last used", "State")
    for t in tokens:
        table.add_row(
            str(t.id),
            t.name,
            t.role,
            f"{t.hint}…",
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "—",
            "[green]active[/]"
            if t.revoked_at is None
            else f"[red]revoked {t.revoked_at.strftime('%Y-%m-%d %H:%M')}[/]",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (tokens list).")],
    db: DbOption = None,
) -> None:
    """Revokes an API token for good; running servers refuse it within a few seconds."""
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                token = access_service.revoke_token(connection, token_id=token_id)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(
        f"Revoked API token [bold]{token.id}[/] ({token.name!r}, role {token.role}); "
        f"running servers refuse it within {access_service.TOKEN_CACHE_SECONDS:g} seconds.",
        highlight=False,
    )
