"""`omnicx segments ...`: define segments, see their members, check live against batch.

The audiences modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnicx.cli.common import DbOption, console, fail, open_database

if TYPE_CHECKING:
    from omnicx.audiences.segments import Segment

app = typer.Typer(
    help="Segments: live groups of profiles defined by traits, events, identities, consent "
    "and other segments (docs/audiences.md).",
    no_args_is_help=True,
)

BAD_INPUT = 2
ACTOR = "cli"

FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="The definition as a JSON file ('-' reads standard input)."),
]
DefinitionOption = Annotated[
    str | None, typer.Option("--definition", "-d", help="The definition as JSON text.")
]
NewTraitsOption = Annotated[
    bool,
    typer.Option(
        "--allow-new-traits", help="Accept trait names no profile holds yet (else: an error)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _definition_text(file: Path | None, definition: str | None, *, required: bool) -> str | None:
    """The definition's JSON text from --file or --definition."""
    if file is not None and definition is not None:
        fail("give the definition with --file or with --definition, not both", BAD_INPUT)
    if file is not None:
        try:
            return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {escape(str(exc))}", BAD_INPUT)
    if definition is None and required:
        fail("give the definition with --file FILE or --definition JSON", BAD_INPUT)
    return definition


def _refused(error: Exception) -> None:
    """Prints a refused change (every problem of a definition on its own line) and exits."""
    from omnicx.audiences.errors import DefinitionError
    from omnicx.audiences.segments import SegmentError

    problems = getattr(error, "problems", None) if isinstance(error, SegmentError) else None
    if isinstance(error, DefinitionError):
        problems = error.problems
    if problems:
        lines = "\n".join(f"  {escape(str(p))}" for p in problems)
        fail(f"the definition cannot be used; nothing was stored:\n{lines}", BAD_INPUT)
    code = 1 if getattr(error, "code", "") == "not_found" else BAD_INPUT
    fail(f"{escape(str(error))} Nothing was changed.", code)


def _as_dict(segment: Segment, members: int) -> dict[str, Any]:
    from omnicx.audiences.definition_text import render

    return {
        "id": segment.id,
        "key": segment.key,
        "name": segment.name,
        "description": segment.description,
        "definition": segment.document,
        "text": render(segment.definition),
        "version": segment.version,
        "ready": segment.ready,
        "members": members,
        "updated_at": segment.updated_at.isoformat(),
        "updated_by": segment.updated_by,
    }


def _print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@app.command("list")
def list_segments(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every segment, with its member count and whether it is live."""
    from omnicx.audiences.definition_text import render
    from omnicx.audiences.membership import member_counts
    from omnicx.audiences.segments import all_segments

    with open_database(db) as engine, engine.connect() as connection:
        found = all_segments(connection)
        counts = member_counts(connection)
    if as_json:
        _print_json([_as_dict(s, counts.get(s.id, 0)) for s in found])
        return
    if not found:
        console.print("No segments yet: define one with [bold]omnicx segments create[/].")
        return
    table = Table("key", "name", "members", "live", "definition")
    for s in found:
        table.add_row(
            escape(s.key),
            escape(s.name),
            f"{counts.get(s.id, 0):,}",
            "yes" if s.ready else "being evaluated",
            escape(render(s.definition)),
        )
    console.print(table)


@app.command("show")
def show(key: Annotated[str, typer.Argument(help="The segment's key.")], db: DbOption = None,
         as_json: JsonOption = False) -> None:  # fmt: skip
    """One segment: its definition as JSON and as text, its member count."""
    from omnicx.audiences.membership import member_counts
    from omnicx.audiences.segments import SegmentError, get

    with open_database(db) as engine, engine.connect() as connection:
        try:
            segment = get(connection, key)
        except SegmentError as error:
            _refused(error)
        shown = _as_dict(segment, member_counts(connection).get(segment.id, 0))
    if as_json:
        _print_json(shown)
        return
    console.print(f"[bold]{escape(segment.name)}[/] ({escape(segment.key)})", highlight=False)
    if segment.description:
        console.print(escape(segment.description), highlight=False)
    console.print(f"Members: {shown['members']:,}", highlight=False)
    console.print(f"Live: {'yes' if segment.ready else 'being evaluated'}", highlight=False)
    console.print(f"Definition: {escape(shown['text'])}", highlight=False)
    typer.echo(orjson.dumps(shown["definition"], option=orjson.OPT_INDENT_2).decode())


@app.command("check")
def check(file: FileOption = None, definition: DefinitionOption = None, db: DbOption = None,
          allow_new_traits: NewTraitsOption = False) -> None:  # fmt: skip
    """Checks a definition without storing it and prints it as text."""
    from omnicx.audiences.definition_text import render
    from omnicx.audiences.errors import DefinitionError
    from omnicx.audiences.segments import check as check_definition

    text = _definition_text(file, definition, required=True)
    assert text is not None
    with open_database(db) as engine, engine.connect() as connection:
        try:
            checked = check_definition(connection, text, allow_new_traits=allow_new_traits)
        except DefinitionError as error:
            _refused(error)
    console.print(f"The definition is valid: {escape(render(checked))}", highlight=False)


@app.command("create")
def create(
    key: Annotated[str, typer.Argument(help="Lower-case letters, digits, _ . - (e.g. vip).")],
    name: Annotated[str, typer.Option("--name", help="What people call it.")],
    file: FileOption = None,
    definition: DefinitionOption = None,
    description: Annotated[str, typer.Option("--description")] = "",
    allow_new_traits: NewTraitsOption = False,
    db: DbOption = None,
) -> None:
    """Defines a segment. It goes live once the processing stage (omnicx serve or omnicx
    worker) has evaluated it for everyone."""
    from omnicx.audiences.definition_text import render
    from omnicx.audiences.segments import SegmentError
    from omnicx.audiences.segments import create as create_segment

    text = _definition_text(file, definition, required=True)
    assert text is not None
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                segment = create_segment(
                    connection,
                    key=key,
                    name=name,
                    description=description,
                    definition=text,
                    actor=ACTOR,
                    allow_new_traits=allow_new_traits,
                )
        except SegmentError as error:
            _refused(error)
    console.print(
        f"Created segment {escape(segment.key)}: {escape(render(segment.definition))}\n"
        "It is evaluated for every profile by the processing stage; "
        f"see its members with: omnicx segments members {escape(segment.key)}",
        highlight=False,
    )


@app.command("change")
def change(
    key: Annotated[str, typer.Argument(help="The segment's key.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    file: FileOption = None,
    definition: DefinitionOption = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    allow_new_traits: NewTraitsOption = False,
    db: DbOption = None,
) -> None:
    """Changes a segment's name, description or definition (a new definition is evaluated
    for everyone again; changes of membership it causes are recorded as events)."""
    from omnicx.audiences.segments import SegmentError, get
    from omnicx.audiences.segments import change as change_segment

    text = _definition_text(file, definition, required=False)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                before = get(connection, key)
                segment = change_segment(
                    connection,
                    key,
                    name=name,
                    description=description,
                    definition=text,
                    actor=ACTOR,
                    allow_new_traits=allow_new_traits,
                )
        except SegmentError as error:
            _refused(error)
    moved = segment.version != before.version
    console.print(
        f"Changed segment {escape(segment.key)}"
        + (": the new definition is being evaluated for everyone." if moved else "."),
        highlight=False,
    )


@app.command("delete")
def delete(
    key: Annotated[str, typer.Argument(help="The segment's key.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the members are deleted too.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Deletes a segment and its members (refused while another segment refers to it)."""
    from omnicx.audiences.segments import SegmentError, remove

    if not yes:
        fail(f"deleting segment {escape(key)} deletes its members too: add --yes", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                segment = remove(connection, key)
        except SegmentError as error:
            _refused(error)
    console.print(f"Deleted segment {escape(segment.key)}.", highlight=False)


@app.command("members")
def members(
    key: Annotated[str, typer.Argument(help="The segment's key.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    output_format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    db: DbOption = None,
) -> None:
    """The segment's members (profile id, when they entered)."""
    from omnicx.audiences.membership import members_page
    from omnicx.audiences.segments import SegmentError, get

    if output_format not in {"table", "csv", "json"}:
        fail(f"unknown format {escape(output_format)!r}: use table, csv or json", BAD_INPUT)
    with open_database(db) as engine, engine.connect() as connection:
        try:
            segment = get(connection, key)
        except SegmentError as error:
            _refused(error)
        found = members_page(connection, segment.id, limit=limit)
    if output_format == "json":
        _print_json([{"profile_id": p, "entered_at": at.isoformat()} for p, at in found])
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["profile_id", "entered_at"])
        writer.writerows([p, at.isoformat()] for p, at in found)
    else:
        table = Table("profile", "entered at", title=f"{segment.name}: first {len(found):,}")
        for p, at in found:
            table.add_row(p, at.strftime("%Y-%m-%d %H:%M:%S UTC"))
        console.print(table)


@app.command("of")
def of(
    profile: Annotated[str, typer.Argument(help="A profile id, or TYPE:VALUE (email:ada@x.io).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The segments a profile is in."""
    from omnicx.audiences.membership import memberships_of
    from omnicx.profiles import service as profiles
    from omnicx.profiles.service import ProfileError

    with open_database(db) as engine, engine.connect() as connection:
        try:
            current = profiles.find(connection, profile)
        except ProfileError as error:
            fail(escape(error.message))
        found = memberships_of(connection, current)
    if as_json:
        _print_json(
            {
                "profile_id": current,
                "segments": [
                    {"segment": k, "name": n, "entered_at": at.isoformat()} for k, n, at in found
                ],
            }
        )
        return
    if not found:
        console.print(f"Profile {current} is in no segment.", highlight=False)
        return
    table = Table("segment", "name", "entered at", title=f"Profile {current}")
    for k, n, at in found:
        table.add_row(escape(k), escape(n), at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    console.print(table)


@app.command("recompute")
def recompute(
    keys: Annotated[list[str] | None, typer.Argument(help="Segments (default: all).")] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Store the batch's answer (else only compare).")
    ] = False,
    from_events: Annotated[
        bool,
        typer.Option(
            "--from-events",
            help="Evaluate event conditions from the raw stored events, not the hits the live "
            "path kept (slower; an independent check).",
        ),
    ] = False,
    python: Annotated[
        bool,
        typer.Option(
            "--python",
            help="Evaluate profile by profile with the Python evaluator instead of in bulk "
            "(DuckDB): slower, the reference.",
        ),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluates every profile in one batch and compares with the live members."""
    from omnicx.audiences.consumer import CONSUMER_NAME
    from omnicx.audiences.recompute import recompute as run
    from omnicx.audiences.segments import SegmentError, all_segments
    from omnicx.collect.processing import lock_consumer
    from omnicx.identity import service as identity
    from omnicx.store.clock import utc_now

    with open_database(db) as engine, engine.begin() as connection:
        # The live consumer waits meanwhile, so both look at the same moment.
        lock_consumer(connection, CONSUMER_NAME)
        known = {s.key for s in all_segments(connection) if s.ready}
        unknown = sorted(set(keys or ()) - known)
        if unknown:
            _refused(SegmentError("not_found", f"No live segment {', '.join(unknown)}."))
        total = identity.summary(connection).get("profiles", 0)
        with Progress(
            TextColumn("Evaluating profiles"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("profiles", total=total or None)
            report = run(
                connection,
                now=utc_now(),
                keys=keys or None,
                apply=apply,
                from_events=from_events,
                bulk=not python,
                progress=lambda n: bar.update(task, completed=n),
            )
    rows = [
        {
            "segment": key,
            "batch_members": report.members[key],
            "live_members": report.live[key],
            "only_in_batch": report.entered[key],
            "only_live": report.exited[key],
        }
        for key in sorted(report.members)
    ]
    if as_json:
        _print_json({"profiles": report.profiles, "agrees": report.agrees, "segments": rows})
    else:
        table = Table("segment", "batch", "live", "only in batch", "only live",
                      title=f"{report.profiles:,} profiles evaluated")  # fmt: skip
        for r in rows:
            table.add_row(str(r["segment"]), *(f"{r[c]:,}" for c in list(r)[1:]))
        console.print(table)
        verdict = "agree exactly" if report.agrees else "differ"
        stored = " The batch's answer was stored." if apply and not report.agrees else ""
        console.print(f"Live and batch members {verdict}.{stored}", highlight=False)
    if not report.agrees and not apply:
        raise typer.Exit(3)
