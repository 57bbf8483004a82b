"""`omnicx scores ...`: lead scoring models and a profile's scores, explained.

The audiences modules are imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape

from omnicx.cli.common import DbOption, console, fail, open_database

app = typer.Typer(
    help="Lead scoring: models that give points for events and traits and map scores to "
    "funnel stages (docs/lead-scoring.md).",
    no_args_is_help=True,
)

BAD_INPUT = 2


@app.command("models")
def models(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every scoring model, in words (or JSON)."""
    from omnicx.audiences.scoring_model import model_to_json
    from omnicx.audiences.scoring_store import all_models
    from omnicx.audiences.scoring_text import render_model

    with open_database(db) as engine, engine.connect() as connection:
        found = all_models(connection)
    if as_json:
        shown = [{"model": model_to_json(m.model), "version": m.version, "ready": m.ready}
                 for m in found]  # fmt: skip
        typer.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        console.print("No scoring models yet: store one with [bold]omnicx scores configure[/].")
    for m in found:
        state = "" if m.ready else " (scoring everyone)"
        console.print(escape(render_model(m.model)) + state, highlight=False)


@app.command("configure")
def configure(
    file: Annotated[Path, typer.Argument(help="A scoring model as JSON (docs/lead-scoring.md).")],
    allow_new_traits: Annotated[
        bool, typer.Option("--allow-new-traits", help="Accept unknown trait names.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Checks a model and stores it (a new version when its key exists); the processing
    stage scores everyone with it, then keeps the scores live."""
    from omnicx.audiences.scoring_store import save_model
    from omnicx.audiences.segments import SegmentError

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {escape(str(exc))}", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                stored = save_model(
                    connection, text, actor="cli", allow_new_traits=allow_new_traits
                )
        except SegmentError as error:
            lines = "\n".join(f"  {escape(str(p))}" for p in error.problems) or escape(str(error))
            fail(f"the model cannot be used; nothing was stored:\n{lines}", BAD_INPUT)
    console.print(
        f"Stored scoring model {escape(stored.key)} version {stored.version}.", highlight=False
    )


@app.command("show")
def show(
    profile: Annotated[str, typer.Argument(help="A profile id, or TYPE:VALUE (email:ada@x.io).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A profile's score under every model now, and which rules gave which points."""
    from omnicx.audiences.membership import load_facts, memberships_of
    from omnicx.audiences.scoring import score, score_to_json
    from omnicx.audiences.scoring_live import conditions_of_models
    from omnicx.audiences.scoring_store import all_models
    from omnicx.audiences.scoring_text import render_score
    from omnicx.profiles import service as profiles
    from omnicx.profiles.service import ProfileError
    from omnicx.store.clock import utc_now

    now = utc_now()
    with open_database(db) as engine, engine.connect() as connection:
        try:
            current = profiles.find(connection, profile)
        except ProfileError as error:
            fail(escape(error.message))
        found = all_models(connection)
        member_of = [k for k, _, _ in memberships_of(connection, current)]
        facts = load_facts(
            connection, [current], list(conditions_of_models(found)),
            memberships={current: member_of},
        )[current]  # fmt: skip
    scores = [(m, score(m.model, facts, now)) for m in found]
    if as_json:
        shown = [score_to_json(s) for _, s in scores]
        typer.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return
    if not scores:
        console.print("No scoring models yet.")
    for m, s in scores:
        console.print(escape(render_score(m.model, s)), highlight=False)


@app.command("delete")
def delete(
    key: Annotated[str, typer.Argument(help="The model's key.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: scores and history go too.")] = False,
    db: DbOption = None,
) -> None:
    """Deletes a scoring model with its scores and their history."""
    from omnicx.audiences.scoring_store import remove_model
    from omnicx.audiences.segments import SegmentError

    if not yes:
        fail(f"deleting model {escape(key)} deletes its scores too: add --yes", BAD_INPUT)
    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                remove_model(connection, key)
        except SegmentError as error:
            fail(escape(str(error)))
    console.print(f"Deleted scoring model {escape(key)}.", highlight=False)
