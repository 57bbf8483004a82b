"""`omnicx identity ...` for administrators: settings, rebuild, status, conflicts, unmerge.

The commands are added to the `identity` group of `omnicx.cli.identity` (which holds `match`).
Identity modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database
from omnicx.cli.identity import BAD_INPUT, app

if TYPE_CHECKING:
    from omnicx.identity.config import IdentityConfig

ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Only what involves this profile id.", show_default=False),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")]


def _actor() -> str:
    """Who runs the command, for the identity log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without an /etc/passwd entry)
        return "cli"


@app.command("settings")
def settings(
    db: DbOption = None,
    effective: Annotated[
        bool,
        typer.Option(
            "--effective",
            help="Print every rule in force (defaults filled in) instead of the stored text.",
        ),
    ] = False,
) -> None:
    """Prints the identity settings in force: the stored file, or the built-in defaults."""
    from omnicx.identity.settings_store import current_config, current_document, current_version

    with open_database(db) as engine, engine.connect() as connection:
        document = current_document(connection)
        version = current_version(connection)
        config = current_config(connection)
    if document is None:
        console.print(
            "No identity settings stored: the [bold]built-in defaults[/] apply. As a settings "
            "file (save it, edit it, store it with [bold]omnicx identity configure FILE[/]):",
            highlight=False,
        )
        typer.echo(render_settings(config))
    elif effective:
        console.print(f"Identity settings version {version}, every rule in force:", highlight=False)
        typer.echo(render_settings(config))
    else:
        console.print(
            f"Identity settings version {version} (stored with omnicx identity configure; "
            "--effective shows every rule in force):",
            highlight=False,
        )
        typer.echo(document.rstrip("\n"))


@app.command("configure")
def configure(
    file: Annotated[
        Path, typer.Argument(help="A TOML (or JSON) settings file; see docs/identity.md.")
    ],
    db: DbOption = None,
) -> None:
    """Checks identity settings and stores them; new events follow them at once."""
    from omnicx.identity import service as identity_service
    from omnicx.identity.config import IdentityConfigError
    from omnicx.identity.settings_store import current_document

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                if current_document(connection) == text:
                    console.print(
                        f"These settings are already in force; nothing stored ({file}).",
                        highlight=False,
                    )
                    return
                version = identity_service.configure(connection, text, name=str(file))
        except IdentityConfigError as exc:
            fail(f"{exc}. Nothing was stored.", BAD_INPUT)
    console.print(
        f"Stored identity settings version {version} from {file}. New events are resolved by "
        "them from now on; run [bold]omnicx identity rebuild[/] so that existing profiles "
        "follow them too.",
        highlight=False,
    )


@app.command("rebuild")
def rebuild(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
) -> None:
    """Rebuilds every profile from the stored events, by the settings in force."""
    from omnicx.collect.processing import lag
    from omnicx.identity import service as identity_service
    from omnicx.identity.consumer import CONSUMER_NAME
    from omnicx.pipeline import stream_consumers

    consumers = stream_consumers()
    names = [c.name for c in consumers]
    downstream = names[names.index(CONSUMER_NAME) + 1 :] if CONSUMER_NAME in names else []
    after = f" and {', '.join(downstream)}" if downstream else ""
    with open_database(db) as engine:
        if not yes:
            typer.confirm(
                "Rebuild every profile? Identifiers are detached from their profiles and every "
                f"stored event goes through identity resolution{after} again. Profiles keep "
                "their ids where they are the same people; unmerges hold. Continue?",
                abort=True,
            )
        with engine.begin() as connection:
            identity_service.rebuild(connection, downstream=downstream, actor=_actor())
        pending = lag(engine, consumers).get(CONSUMER_NAME, 0)
    console.print(
        f"Identity reset: {pending:,} events will be reprocessed by identity resolution"
        f"{after}. The processing stage does it: a running [bold]omnicx serve[/] (unless "
        "--no-processing) or [bold]omnicx worker[/]; [bold]omnicx identity status[/] shows "
        "how far it is.",
        highlight=False,
    )


@app.command("status")
def status(db: DbOption = None) -> None:
    """Shows profiles, identifiers, merges and conflicts, and each consumer's processing lag."""
    from omnicx.collect.processing import lag
    from omnicx.identity import service as identity_service
    from omnicx.identity.settings_store import current_version
    from omnicx.pipeline import stream_consumers

    with open_database(db) as engine:
        with engine.connect() as connection:
            counts = identity_service.summary(connection)
            version = current_version(connection)
        lags = lag(engine, stream_consumers())
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column()
    table.add_row("profiles", f"{counts['profiles']:,}", "")
    table.add_row("identifiers", f"{counts['identifiers']:,}", "")
    table.add_row(
        "shared identifiers", f"{counts['shared_identifiers']:,}", "seen with too many people"
    )
    table.add_row("merges", f"{counts['merges']:,}", "in the identity log, ever")
    table.add_row("conflicts", f"{counts['conflicts']:,}", "joins a rule refused")
    table.add_row(
        "settings",
        f"version {version}" if version else "built-in",
        "omnicx identity settings shows them",
    )
    for name, behind in lags.items():
        table.add_row(
            f"lag {name}",
            f"{behind:,}",
            "events to process" if behind else "up to date",
        )
    console.print(table, highlight=False)


@app.command("conflicts")
def conflicts(
    profile: ProfileOption = None,
    limit: LimitOption = 50,
    db: DbOption = None,
) -> None:
    """Lists joins a rule refused (a limit, an unmerge, a non-bridging type), newest first."""
    from omnicx.identity import service as identity_service

    with open_database(db) as engine, engine.connect() as connection:
        if profile is not None:
            current = identity_service.current_profile_id(connection, profile)
            if current is None:
                fail(f"No profile {profile}.")
            found = identity_service.conflicts_of(connection, current)
            found.sort(key=lambda c: c.first_occurred_at, reverse=True)
            found = found[:limit]
        else:
            found = identity_service.conflicts(connection, limit=limit)
    if not found:
        console.print(
            "No conflicts: no join was refused" + (f" for profile {profile}." if profile else ".")
        )
        return
    table = Table(
        "ID", "Left out", "Would have joined", "Profiles", "Reason", "First event", "Events"
    )
    for c in found:
        table.add_row(
            str(c.id),
            f"{c.identifier[0]}: {c.identifier[1]}",
            f"{c.anchor[0]}: {c.anchor[1]}",
            f"{c.profile_id or '—'}\n{c.other_profile_id or '—'}",
            f"{c.reason}: {c.detail}",
            f"#{c.first_event_id}\n{c.first_occurred_at:%Y-%m-%d %H:%M}",
            f"{c.events:,}",
        )
    console.print(table)


@app.command("changes")
def changes(
    profile: ProfileOption = None,
    after: Annotated[
        int, typer.Option("--after", help="Without --profile: list changes after this id.")
    ] = 0,
    limit: LimitOption = 50,
    db: DbOption = None,
) -> None:
    """Lists the identity log (merges, splits, unmerges, rebuilds), e.g. to find a merge's id."""
    from omnicx.identity import service as identity_service

    with open_database(db) as engine, engine.connect() as connection:
        if profile is not None:
            current = identity_service.current_profile_id(connection, profile) or profile
            found = identity_service.changes_of(connection, current)[:limit]
        else:
            found = identity_service.changes_since(connection, after, limit=limit)
    if not found:
        console.print("No identity changes" + (f" for profile {profile}." if profile else "."))
        return
    table = Table("ID", "Kind", "Profiles", "Via", "Rule", "When", "By")
    for change in found:
        kind = change.kind + (f"\n(undone by #{change.undone_by})" if change.undone_by else "")
        table.add_row(
            str(change.id),
            kind,
            f"{change.profile_id or '—'}\n{change.other_profile_id or '—'}",
            f"{change.identifier[0]}: {change.identifier[1]}" if change.identifier else "—",
            change.rule,
            f"{change.created_at:%Y-%m-%d %H:%M:%S}",
            change.actor or "—",
        )
    console.print(table)
    if profile is None and len(found) == limit:
        console.print(f"More: [bold]omnicx identity changes --after {found[-1].id}[/]")


@app.command("lookup")
def lookup(
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="email, phone, user_id, ...")],
    value: Annotated[str, typer.Argument(help="The identifier, as any source would send it.")],
    db: DbOption = None,
) -> None:
    """Finds the profile holding an identifier and lists the profile's identifiers."""
    from omnicx.identity import service as identity_service

    with open_database(db) as engine, engine.connect() as connection:
        try:
            profile_id = identity_service.lookup(connection, type_name, value)
        except identity_service.IdentityError as exc:
            fail(str(exc))
        identities = identity_service.identities_of(connection, profile_id)
    console.print(f"Profile [bold]{profile_id}[/]:", highlight=False)
    table = Table("Type", "Value", "First seen", "Last seen")
    for identity in identities:
        table.add_row(
            identity.type,
            identity.value,
            f"{identity.first_seen_at:%Y-%m-%d %H:%M}",
            f"{identity.last_seen_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("unmerge")
def unmerge(
    change_id: Annotated[
        int,
        typer.Argument(metavar="CHANGE_ID", help="The merge's id (omnicx identity changes)."),
    ],
    db: DbOption = None,
) -> None:
    """Undoes a merge: splits the profile back in two and keeps the two sides apart."""
    from omnicx.identity import service as identity_service
    from omnicx.profiles.consumer import apply_identity_changes

    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                done = identity_service.unmerge(connection, change_id, actor=_actor())
                # The profiles' traits and computed traits follow in the same transaction.
                apply_identity_changes(connection)
        except identity_service.IdentityError as exc:
            fail(str(exc))
    console.print(
        f"Undid merge #{change_id} (logged as change #{done.change_id}); the two profiles are "
        "kept apart from now on:",
        highlight=False,
    )
    typer.echo(done.kept_profile_id)
    typer.echo(done.restored_profile_id)


def render_settings(config: IdentityConfig) -> str:
    """The rules of `config` as a settings file (TOML) that `configure` accepts as they are."""
    from omnicx.identity.config import DEFAULT_BLOCKED_VALUES, ZERO_OR_DASH

    def text(value: str) -> str:
        return orjson.dumps(value).decode()

    def texts(values: Any) -> str:
        return "[" + ", ".join(text(v) for v in values) + "]"

    lines: list[str] = []
    if config.phone_region:
        lines.append(f"phone_region = {text(config.phone_region)}")
    lines.append(f"priority = {texts(config.priority)}")
    for type_ in config.types.values():
        lines += ["", f"[identifiers.{type_.name}]", f"normalise = {text(type_.normaliser)}"]
        lines.append(f"limit = {type_.limit}")
        if type_.window_days is not None:
            lines.append(f"window_days = {type_.window_days}")
        if not type_.bridges:
            lines.append("bridges = false")
    always = ", ".join(sorted(DEFAULT_BLOCKED_VALUES))
    lines += [
        "",
        "[blocked]",
        f"max_people = {config.max_people}",
        f"# always blocked: {always}; and values of only zeros, dashes, dots and spaces",
        f"values = {texts(sorted(config.blocked_values - set(DEFAULT_BLOCKED_VALUES)))}",
        f"patterns = {texts(p for p in config.blocked_patterns if p != ZERO_OR_DASH)}",
    ]
    for source in sorted(set(config.source_overrides) | set(config.source_regions)):
        if source in config.source_regions:
            lines += ["", f"[sources.{text(source)}]"]
            lines.append(f"phone_region = {text(config.source_regions[source])}")
        overrides = config.source_overrides.get(source, {})
        if overrides:
            lines += ["", f"[sources.{text(source)}.fields]"]
            lines += [
                f"{text(path)} = {text(kind or 'ignore')}" for path, kind in overrides.items()
            ]
    lines += ["", "# Every source's messages are read for identifiers at these paths:"]
    lines += [f"#   {path} -> {kind}" for path, kind in config.default_fields]
    return "\n".join(lines)
