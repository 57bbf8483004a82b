"""`omnicx profile ...` (one customer: show, export, erase) and `omnicx profiles ...` (the
profile builder's settings).

A customer is named as TYPE:VALUE (`email:ada@example.com`, `user_id:42`, `phone:+90…`) or by
profile id. Profile modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database

if TYPE_CHECKING:
    from omnicx.profiles.schemas import ChangeOut, ConflictOut, ProfileDocument, TimelineEvent

profile_app = typer.Typer(
    help="One customer's profile: show it, export it, erase it (privacy requests).",
    no_args_is_help=True,
)
profiles_app = typer.Typer(
    help="Profiles: trait precedence settings, applying identity changes.",
    no_args_is_help=True,
)

BAD_INPUT = 2

Reference = Annotated[
    str,
    typer.Argument(
        help="TYPE:VALUE, such as email:ada@example.com or user_id:42, or a profile id.",
        show_default=False,
    ),
]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _explain(code: str, message: str, reference: str) -> str:
    hints = {
        "unknown_type": "Name a customer as TYPE:VALUE, e.g. email:ada@example.com.",
        "not_found": "Check the value, or whether the worker has processed the events yet "
        "(omnicx worker --once).",
        "shared": "Look the customer up by another identifier.",
    }
    hint = hints.get(code)
    return f"{message} {hint}" if hint else message


def _find(connection: Any, reference: str) -> str:
    from omnicx.profiles import service

    try:
        return service.find(connection, reference)
    except service.ProfileError as error:
        fail(_explain(error.code, error.message, reference))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def _value(raw: Any) -> str:
    text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    return text if len(text) <= 60 else text[:57] + "…"


@profile_app.command("show")
def show(
    reference: Reference,
    events: Annotated[
        int, typer.Option("--events", "-n", min=0, help="How many of the latest events to list.")
    ] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the profile document as JSON.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Shows a customer's profile: identities, traits with provenance, computed traits,
    consents, latest events, merges and conflicts."""
    from omnicx.profiles import service

    with open_database(db) as engine, engine.connect() as connection:
        profile_id = _find(connection, reference)
        document = service.document(connection, profile_id)
        latest = service.timeline(connection, profile_id, limit=events).events if events else []
        merges = service.merges(connection, profile_id)
        conflicts = service.conflicts(connection, profile_id)
    if as_json:
        typer.echo(
            orjson.dumps(document.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode()
        )
        return
    _render(document, latest, merges, conflicts)


def _render(
    document: ProfileDocument,
    latest: list[TimelineEvent],
    merges: list[ChangeOut],
    conflicts: list[ConflictOut],
) -> None:
    computed = document.computed
    console.print(f"[bold]Profile {document.id}[/]", highlight=False)
    if document.merged_from:
        console.print(f"(asked for {document.merged_from}, which was merged into it)")
    identities = Table(title="Identities")
    identities.add_column("Type")
    identities.add_column("Value", overflow="fold")
    identities.add_column("First seen")
    identities.add_column("Last seen")
    for type_name, found in document.identities.items():
        for identity in found:
            identities.add_row(
                type_name,
                identity.value,
                _when(identity.first_seen_at),
                _when(identity.last_seen_at),
            )
    console.print(identities)

    traits = Table(title="Traits")
    traits.add_column("Trait", overflow="fold")
    traits.add_column("Value", overflow="fold")
    for heading in ("Source", "Channel", "Event time"):
        traits.add_column(heading)
    for name, trait in document.traits.items():
        traits.add_row(
            name, _value(trait.value), trait.source, trait.channel, _when(trait.observed_at)
        )
    console.print(traits if document.traits else "No traits yet.")

    facts = Table("Computed trait", "Value", title="Computed traits", show_header=False)
    facts.add_row("first seen", _when(computed.first_seen_at))
    facts.add_row("last seen", _when(computed.last_seen_at))
    facts.add_row("events", f"{computed.events:,}")
    facts.add_row("channels", ", ".join(f"{c} {n:,}" for c, n in computed.channels.items()) or "—")
    facts.add_row("preferred channel", computed.preferred_channel or "—")
    facts.add_row("orders", f"{computed.orders:,}")
    facts.add_row("lifetime value", f"{computed.lifetime_value:,.2f}")
    last = computed.last_order
    facts.add_row(
        "last order",
        f"{_when(last.at)}  {last.order_id or '?'}  {last.value if last.value is not None else '?'}"
        f" {last.currency or ''}  ({last.channel})"
        if last
        else "—",
    )
    cart = computed.open_cart
    facts.add_row(
        "open cart",
        f"{len(cart.items)} items, {cart.value if cart.value is not None else '?'}, "
        f"last touched {_when(cart.updated_at)}"
        if cart
        else "—",
    )
    facts.add_row("RFM", computed.rfm.code if computed.rfm else "—")
    console.print(facts)

    consents = Table("Channel", "Purpose", "Granted", "Since", "Set by", title="Consents")
    for given in document.consents:
        consents.add_row(
            given.channel,
            given.purpose,
            "[green]yes[/]" if given.granted else "[red]no[/]",
            _when(given.occurred_at),
            given.actor or f"{given.signal} ({given.source or '?'})",
        )
    console.print(consents if document.consents else "No consents recorded.")

    if latest:
        timeline = Table("Time", "Channel", "Source", "Event", title="Latest events")
        for event in latest:
            timeline.add_row(
                _when(event.timestamp),
                event.channel,
                event.source,
                event.event if event.type == "track" else f"{event.type} {event.event or ''}",
            )
        console.print(timeline)
    if merges:
        log = Table("Change", "Kind", "Other profile", "Rule", "When", title="Merges and splits")
        for change in merges:
            log.add_row(
                f"#{change.id}",
                change.kind + (" (undone)" if change.undone_by else ""),
                change.other_profile_id or "—",
                change.rule,
                _when(change.created_at),
            )
        console.print(log)
    if conflicts:
        refused = Table("Identifier", "Would join", "Reason", "Events", title="Conflicts")
        for conflict in conflicts:
            refused.add_row(
                f"{conflict.identifier.type}:{conflict.identifier.value}",
                f"{conflict.anchor.type}:{conflict.anchor.value}",
                conflict.detail or conflict.reason,
                f"{conflict.events:,}",
            )
        console.print(refused)


@profile_app.command("export")
def export(
    reference: Reference,
    out: Annotated[Path, typer.Option("--out", "-o", help="The JSON file to write.")],
    db: DbOption = None,
) -> None:
    """Writes everything held about a customer to one JSON file (access requests)."""
    from omnicx.profiles.privacy import export_person

    with open_database(db) as engine, engine.connect() as connection:
        document = export_person(connection, _find(connection, reference))
    try:
        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        fail(f"cannot write {out}: {exc}", BAD_INPUT)
    console.print(
        f"Exported profile {document['profile']['id']}: {len(document['events']):,} events, "
        f"{len(document['profile']['traits'])} traits, "
        f"{len(document['consent_history'])} consent signals to {out}.",
        highlight=False,
    )


@profile_app.command("erase")
def erase(
    reference: Reference,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm: erasure cannot be undone.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Erases a customer: identities, events, traits, consents (see docs/privacy.md)."""
    from omnicx.profiles import service
    from omnicx.profiles.privacy import erase_person

    with open_database(db) as engine:
        with engine.connect() as connection:
            profile_id = _find(connection, reference)
        if not yes and not typer.confirm(
            f"Erase profile {profile_id} and all its events for good?", default=False
        ):
            fail("Nothing was erased (confirm with --yes).")
        try:
            with engine.begin() as connection:
                result = erase_person(connection, profile_id, actor=_actor())
        except service.ProfileError as error:
            fail(error.message)
    first = ["events", "identifiers", "traits", "trait_observations", "consents"]
    order = first + [k for k in result.deleted if k not in first]
    deleted = ", ".join(
        f"{result.deleted[what]:,} {what.replace('_', ' ')}"
        for what in order
        if what in result.deleted
    )
    console.print(
        f"Erased profile {result.profile_id}: {deleted}. Its identifiers are kept only as keyed "
        "hashes, so events naming them are dropped.",
        highlight=False,
        soft_wrap=True,
    )


@profiles_app.command("settings")
def settings(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rules as JSON.")] = False,
) -> None:
    """Prints the profile settings in force (trait source priorities)."""
    from omnicx.profiles.settings import current_document, current_settings, current_version

    with open_database(db) as engine, engine.connect() as connection:
        document = current_document(connection)
        version = current_version(connection)
        rules = current_settings(connection)
    if as_json:
        typer.echo(orjson.dumps(rules.document(), option=orjson.OPT_INDENT_2).decode())
    elif document is None:
        console.print(
            "No profile settings stored: for every trait the latest value wins. Store source "
            "priorities with [bold]omnicx profiles configure FILE[/], e.g.\n"
            '[traits.email]\nsources = ["crm", "web"]',
            highlight=False,
        )
    else:
        console.print(f"Profile settings version {version}:", highlight=False)
        typer.echo(document.rstrip("\n"))


@profiles_app.command("configure")
def configure(
    file: Annotated[Path, typer.Argument(help="A TOML (or JSON) file; see docs/profiles.md.")],
    db: DbOption = None,
) -> None:
    """Stores trait precedence settings and ranks every profile's traits by them."""
    from omnicx.collect.history import source_names
    from omnicx.profiles.consumer import rerank_traits
    from omnicx.profiles.settings import ProfileSettingsError, load_text, store

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                rules = load_text(text, name=str(file))
                known = set(source_names(connection).values())
                version = store(connection, text, name=str(file))
                ranked = rerank_traits(connection)
        except ProfileSettingsError as exc:
            fail(f"{exc}. Nothing was stored.", BAD_INPUT)
    unknown = sorted({s for listed in rules.trait_sources.values() for s in listed} - known)
    if unknown:
        console.print(
            f"[yellow]Note:[/] no source is named {', '.join(unknown)} yet "
            "(omnicx sources list shows them).",
            highlight=False,
        )
    console.print(
        f"Stored profile settings version {version} from {file}; "
        f"traits of {ranked:,} profiles ranked by them.",
        highlight=False,
    )


@profiles_app.command("refresh")
def refresh(db: DbOption = None) -> None:
    """Applies identity changes to profiles now (an unmerge made from the command line is
    otherwise applied when the next events are processed)."""
    from omnicx.profiles.consumer import apply_identity_changes

    with open_database(db) as engine, engine.begin() as connection:
        read = apply_identity_changes(connection)
    console.print(f"Applied {read:,} identity changes to profiles.", highlight=False)
