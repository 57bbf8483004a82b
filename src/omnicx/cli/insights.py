"""`omnicx segments export|lookalikes` and `omnicx personas`: what is derived from segments.

The audiences modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, TextIO

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from omnicx.cli.common import DbOption, console, errors, fail, open_database

BAD_INPUT = 2
NOT_ENOUGH_DATA = 3


def export(
    key: Annotated[str, typer.Argument(help="The segment's key.")],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="members (profile_id, email, phone), google or meta (SHA-256 hashed, in the "
            "platform's upload format).",
        ),
    ] = "members",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Writes a segment's members who consented to advertising as CSV (docs/ad-export.md)."""
    from omnicx.audiences.ad_export import write_members_csv, write_platform_csv
    from omnicx.audiences.exports import export_members
    from omnicx.audiences.segments import SegmentError, get

    if output_format not in {"members", "google", "meta"}:
        fail(f"unknown format {escape(output_format)!r}: use members, google or meta", BAD_INPUT)
    with open_database(db) as engine, engine.connect() as connection:
        try:
            segment = get(connection, key)
        except SegmentError as error:
            fail(escape(str(error)))
        try:
            target: TextIO = (
                sys.stdout if output is None else output.open("w", encoding="utf-8", newline="")
            )
        except OSError as exc:
            fail(f"cannot write {output}: {escape(str(exc))}", BAD_INPUT)
        with target if output is not None else nullcontext(target) as out:
            members = export_members(connection, segment.id)
            if output_format == "members":
                summary = write_members_csv(members, out)
            else:
                summary = write_platform_csv(
                    members, out, platform="google" if output_format == "google" else "meta"
                )
    errors.print(
        f"{summary.written:,} members written; left out: {summary.skipped_consent:,} without "
        f"advertising consent, {summary.skipped_invalid:,} with no usable e-mail or phone.",
        highlight=False,
    )


def lookalikes(
    key: Annotated[str, typer.Argument(help="The seed segment's key.")],
    n: Annotated[int, typer.Option("--n", min=1, max=100_000, help="How many.")] = 20,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The profiles outside a segment most like its members (docs/personas.md)."""
    from omnicx.audiences.behaviour import behaviour_table
    from omnicx.audiences.lookalikes import LookalikeError, find_lookalikes
    from omnicx.audiences.membership import members_page
    from omnicx.audiences.profile_features import FeatureError
    from omnicx.audiences.segments import SegmentError, get
    from omnicx.store.clock import utc_now

    with open_database(db) as engine, engine.connect() as connection:
        try:
            segment = get(connection, key)
        except SegmentError as error:
            fail(escape(str(error)))
        seed = [p for p, _ in members_page(connection, segment.id, limit=1_000_000)]
        table = behaviour_table(connection, utc_now())
    try:
        rows = find_lookalikes(table, seed, n=n).to_pylist()
    except (LookalikeError, FeatureError) as error:
        fail(escape(str(error)), NOT_ENOUGH_DATA)
    if as_json:
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    shown = Table("rank", "profile", "similarity", "most like", title=f"Like {segment.name}")
    for row in rows:
        shown.add_row(
            str(row["rank"]), row["profile_id"], f"{row['similarity']:.3f}", row["nearest_seed_id"]
        )
    console.print(shown)


def personas(
    k: Annotated[
        int | None, typer.Option("--k", min=2, max=12, help="How many (default: chosen).")
    ] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Clusters customers by behaviour and describes each group (docs/personas.md)."""
    from omnicx.audiences.behaviour import behaviour_table
    from omnicx.audiences.personas import find_personas
    from omnicx.audiences.profile_features import FeatureError
    from omnicx.store.clock import utc_now

    with open_database(db) as engine, engine.connect() as connection:
        table = behaviour_table(connection, utc_now())
    try:
        result = find_personas(table, k=k)
    except (FeatureError, ValueError) as error:
        fail(escape(str(error)), NOT_ENOUGH_DATA)
    if as_json:
        found = [
            {
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "size": p.size,
                "share": p.share,
                "centroid": dict(p.centroid),
            }
            for p in result.personas
        ]
        typer.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    for p in result.personas:
        console.print(f"[bold]{escape(p.name)}[/] ({p.size:,} people, {p.share:.0%})")
        console.print(f"  {escape(p.description)}", highlight=False)
