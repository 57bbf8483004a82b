"""`omnicx users ...` (console users) and `omnicx audit` (the audit log of admin actions)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicx.access import audit as access_audit
from omnicx.access import service as access_service
from omnicx.access import users as access_users
from omnicx.access.users import User
from omnicx.cli.common import DbOption, console, fail, open_database

ACTOR = "cli"
"""Who the audit log says made a change from the command line."""

_ROLES_HELP = "; ".join(
    f"{role}: {what}" for role, what in access_service.ROLE_DESCRIPTIONS.items()
)

app = typer.Typer(
    help="Console users: who may sign in to the web console (/console), each with a role."
)

EmailArgument = Annotated[
    str, typer.Argument(metavar="EMAIL", help="The user's e-mail address (any case).")
]


def _ask_password() -> str:
    password: str = typer.prompt(
        "New password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return password


def _described(user: User) -> str:
    return escape(f"{user.email} ({user.name!r}, role {user.role})")


@app.command("add")
def add(
    email: EmailArgument,
    role: Annotated[str, typer.Option("--role", "-r", help=f"The user's role. {_ROLES_HELP}.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help=f"At least {access_users.MIN_PASSWORD_LENGTH} characters; asked for (hidden, "
            "twice) when left out.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="How the console greets them (default: EMAIL's name)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Creates a console user who signs in with EMAIL and the password."""
    try:
        access_service.validate_role(role)
    except access_service.AccessError as exc:
        fail(str(exc))
    if password is None:
        password = _ask_password()
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                user = access_users.add_user(
                    connection, email, role=role, password=password, name=name, actor=ACTOR
                )
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(
        f"Added console user {_described(user)}; they sign in at /console/login.",
        highlight=False,
    )


@app.command("list")
def list_users(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Lists console users: id, e-mail, name, role, language, state (--json: and when)."""
    with open_database(db) as engine, engine.connect() as connection:
        users = access_users.list_users(connection)
    if as_json:
        import orjson

        typer.echo(
            orjson.dumps(
                [
                    {
                        "id": u.id,
                        "email": u.email,
                        "name": u.name,
                        "role": u.role,
                        "language": u.language,
                        "created_at": u.created_at.isoformat(),
                        "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
                    }
                    for u in users
                ],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    if not users:
        console.print(
            "No console users yet. Add one: [bold]omnicx users add EMAIL --role admin[/]",
            highlight=False,
        )
        return
    table = Table("ID")
    table.add_column("E-mail", overflow="fold")  # whole, to be copied into other commands
    for heading in ("Name", "Role", "Language", "State"):
        table.add_column(heading)
    for u in users:
        table.add_row(
            str(u.id),
            escape(u.email),
            escape(u.name),
            u.role,
            escape(u.language or "—"),
            "[green]active[/]" if u.disabled_at is None else "[red]disabled[/]",
        )
    console.print(table)


@app.command("password")
def password(
    email: EmailArgument,
    new_password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="The new password; asked for (hidden, twice) when left out.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Gives a user a new password and signs them out everywhere."""
    with open_database(db) as engine:
        with engine.connect() as connection:
            if access_users.find_user(connection, email) is None:
                fail(_no_such_user(email))
        if new_password is None:
            new_password = _ask_password()
        try:
            with engine.begin() as connection:
                user = access_users.set_password(connection, email, new_password, actor=ACTOR)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(
        f"Changed the password of {_described(user)}; their sessions are ended.",
        highlight=False,
    )


@app.command("role")
def role(
    email: EmailArgument,
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help=f"The new role. {_ROLES_HELP}.")],
    db: DbOption = None,
) -> None:
    """Gives a user another role (it applies to their open sessions at once)."""
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                user = access_users.set_role(connection, email, new_role, actor=ACTOR)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(f"{_described(user)} now has the role {user.role}.", highlight=False)


@app.command("disable")
def disable(email: EmailArgument, db: DbOption = None) -> None:
    """Stops a user from signing in and signs them out everywhere."""
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                user = access_users.disable_user(connection, email, actor=ACTOR)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(
        f"Disabled {_described(user)}; "
        f"`omnicx users enable {escape(user.email)}` lets them back in.",
        highlight=False,
    )


@app.command("enable")
def enable(email: EmailArgument, db: DbOption = None) -> None:
    """Lets a disabled user sign in again."""
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                user = access_users.enable_user(connection, email, actor=ACTOR)
        except access_service.AccessError as exc:
            fail(str(exc))
    console.print(f"Enabled {_described(user)}.", highlight=False)


def audit(
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=access_audit.MAX_ENTRIES, help="Entries shown."),
    ] = 50,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            "-a",
            help="Only this action (users.add), or a whole area (users).",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        int | None,
        typer.Option("--before", help="Only entries older than this id (the next page)."),
    ] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Shows the audit log of admin actions, newest first: who did what, to what, when."""
    with open_database(db) as engine, engine.connect() as connection:
        found = access_audit.entries(connection, limit=limit, before=before, action=action)
    import orjson

    if as_json:
        typer.echo(
            orjson.dumps(
                [
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "target": e.target,
                        "detail": e.detail,
                    }
                    for e in found
                ],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    if not found:
        console.print(
            "No audit log entries" + (f" for {action}." if action else " yet."),
            markup=False,
            highlight=False,
        )
        return
    table = Table("ID")
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("Actor", overflow="fold")
    table.add_column("Action", no_wrap=True)
    table.add_column("Target", overflow="fold")
    table.add_column("Detail", overflow="fold")
    for e in found:
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M"),
            escape(e.actor),
            escape(e.action),
            escape(e.target),
            escape(orjson.dumps(e.detail).decode()) if e.detail else "",
        )
    console.print(table)
    if len(found) == limit:
        more = f"omnicx audit --before {found[-1].id}" + (f" --action {action}" if action else "")
        console.print(f"Older entries: [bold]{escape(more)}[/]", highlight=False)


def _no_such_user(email: str) -> str:
    return (
        f"No console user with the e-mail address {access_users.normalise_email(email)}; "
        "`omnicx users list` shows them."
    )
