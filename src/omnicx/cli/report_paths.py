"""`omnicx report paths` and `omnicx report attribution`: how customers move between
channels, and which channels get the credit for conversions."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omnicx.cli.common import fail
from omnicx.cli.durations import parse_duration
from omnicx.cli.report_common import (
    BAD_INPUT,
    DbOption,
    EndOption,
    Format,
    FormatOption,
    LakeOption,
    StartOption,
    WhereOption,
    emit,
    open_report_lake,
    scope_from,
)

if TYPE_CHECKING:
    from omnicx.analytics.attribution import AttributionResult
    from omnicx.analytics.paths import PathsResult


class By(StrEnum):
    """What a path's steps are."""

    channel = "channel"
    event = "event"


class Show(StrEnum):
    """Which part of the paths report a table or CSV shows (JSON has them all)."""

    paths = "paths"
    links = "links"
    transitions = "transitions"
    matrix = "matrix"


class Measure(StrEnum):
    """What attribution credit a table or CSV shows (JSON has both)."""

    conversions = "conversions"
    revenue = "revenue"


class Model(StrEnum):
    """Attribution models (omnicx.analytics.attribution.MODELS)."""

    first_touch = "first_touch"
    last_touch = "last_touch"
    linear = "linear"
    time_decay = "time_decay"
    position_based = "position_based"
    markov = "markov"


def paths_command(
    by: Annotated[By, typer.Option("--by", help="Steps are channels or events.")] = By.channel,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from-step",
            help="Paths from each person's first such step (a channel or event).",
            show_default=False,
        ),
    ] = None,
    to_step: Annotated[
        str | None,
        typer.Option(
            "--to-step", help="Paths leading to each person's first such step.", show_default=False
        ),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="Steps per path (1 to 20).")] = 5,
    top: Annotated[int, typer.Option("--top", help="How many of the most common paths.")] = 20,
    keep_repeats: Annotated[
        bool, typer.Option("--keep-repeats", help="Keep consecutive repeats (web, web) as steps.")
    ] = False,
    show: Annotated[
        Show, typer.Option("--show", help="What a table or CSV shows; JSON has everything.")
    ] = Show.paths,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Channel-to-channel (or event-to-event) paths: the top paths in people, Sankey links,
    transitions. Touchpoints are active events (an e-mail delivered is not one)."""
    from omnicx.analytics.paths import MAX_DEPTH, MAX_TOP, PathsError, paths

    if from_step is not None and to_step is not None:
        fail("give --from-step or --to-step, not both.", BAD_INPUT)
    if not 1 <= depth <= MAX_DEPTH:
        fail(f"--depth must be 1 to {MAX_DEPTH}, not {depth}.", BAD_INPUT)
    if not 1 <= top <= MAX_TOP:
        fail(f"--top must be 1 to {MAX_TOP}, not {top}.", BAD_INPUT)
    scope = scope_from(start, end, where)
    snapshot = open_report_lake(lake, db)
    try:
        result = paths(
            snapshot,
            by=by.value,
            start_at=from_step,
            end_at=to_step,
            depth=depth,
            top=top,
            collapse_repeats=not keep_repeats,
            scope=scope,
        )
    except PathsError as exc:
        fail(f"{exc}.", BAD_INPUT)
    rows, title = _paths_rows(result, show)
    emit(result.to_dict(), rows, format=format, title=title)


def _paths_rows(result: PathsResult, show: Show) -> tuple[list[dict[str, Any]], str]:
    steps = f"{result.by} paths"
    anchor = (
        f" from {result.start_at}"
        if result.start_at
        else f" to {result.end_at}"
        if result.end_at
        else ""
    )
    if show is Show.links:
        rows = [{"source": k.source, "target": k.target, "people": k.value} for k in result.links]
        return rows, f"Sankey links of the top {steps}{anchor} (people)"
    if show is Show.transitions:
        rows = [
            {
                "from": t.source,
                "to": t.target,
                "transitions": t.transitions,
                "people": t.people,
                "share": t.share,
            }
            for t in result.transitions
        ]
        return rows, f"Transitions between {result.by}s"
    if show is Show.matrix:
        names, counts = result.matrix()
        rows = [
            {"from \\ to": name, **dict(zip(names, line, strict=True))}
            for name, line in zip(names, counts, strict=True)
        ]
        return rows, f"Transitions between {result.by}s (from row to column)"
    rows = [
        {
            "path": " → ".join(p.steps),
            "people": p.people,
            "share": p.people / result.people if result.people else 0.0,
        }
        for p in result.paths
    ]
    return rows, f"Top {steps}{anchor}: {result.people:,} people with a path"


def attribution_command(
    conversion: Annotated[
        str, typer.Option("--conversion", help="The conversion event.")
    ] = "Order Completed",
    model: Annotated[
        list[Model] | None,
        typer.Option(
            "--model", help="A model to show (repeatable). Default: all.", show_default=False
        ),
    ] = None,
    lookback: Annotated[
        str,
        typer.Option(
            "--lookback", help="How far before a conversion touchpoints count: 30d, 12h, 2w."
        ),
    ] = "30d",
    half_life: Annotated[
        str, typer.Option("--half-life", help="The time-decay model's half-life: 7d, 36h.")
    ] = "7d",
    markov_order: Annotated[
        int, typer.Option("--markov-order", help="Channels a Markov state remembers (1 to 4).")
    ] = 1,
    measure: Annotated[
        Measure, typer.Option("--measure", help="Credit a table or CSV shows; JSON has both.")
    ] = Measure.conversions,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Multi-touch attribution: each channel's credit for the conversions (or revenue) under
    first-touch, last-touch, linear, time-decay, position-based and Markov models."""
    from omnicx.analytics.attribution import MODELS, AttributionError, attribution

    windows = {}
    for option, text in (("--lookback", lookback), ("--half-life", half_life)):
        try:
            windows[option] = parse_duration(text)
        except ValueError as exc:
            fail(f"{option}: {exc}", BAD_INPUT)
        except OverflowError:
            fail(f"{option} {text!r} is far too long.", BAD_INPUT)
        if windows[option].total_seconds() <= 0:
            fail(f"{option} must be longer than 0, not {text!r}.", BAD_INPUT)
    scope = scope_from(start, end, where)
    snapshot = open_report_lake(lake, db)
    try:
        result = attribution(
            snapshot,
            conversion=conversion,
            models=[m.value for m in model] if model else MODELS,
            lookback=windows["--lookback"],
            half_life=windows["--half-life"],
            markov_order=markov_order,
            scope=scope,
        )
    except AttributionError as exc:
        fail(f"{exc}.", BAD_INPUT)
    emit(
        result.to_dict(),
        _credit_rows(result, measure),
        format=format,
        title=_title(result, measure),
    )


def _credit_rows(result: AttributionResult, measure: Measure) -> list[dict[str, Any]]:
    """One row per channel, each model's credit side by side (and the removal effect)."""
    rows: list[dict[str, Any]] = []
    for channel in result.channels:
        row: dict[str, Any] = {"channel": channel.channel}
        for name in result.models:
            credit = channel.credit[name]
            row[name] = credit.conversions if measure is Measure.conversions else credit.revenue
        if channel.removal_effect is not None:
            row["removal_effect"] = channel.removal_effect
        rows.append(row)
    return rows


def _title(result: AttributionResult, measure: Measure) -> str:
    total = (
        f"{result.conversions:,} conversions"
        if measure is Measure.conversions
        else f"revenue {result.revenue:,.2f}"
    )
    return f"Credit for {result.conversion} by channel ({measure.value}; {total})"


def register(app: typer.Typer) -> None:
    """Adds `omnicx report paths` and `omnicx report attribution`."""
    app.command("paths")(paths_command)
    app.command("attribution")(attribution_command)
