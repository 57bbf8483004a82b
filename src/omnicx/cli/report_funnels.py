"""`omnicx report funnel STEP STEP ...`: people per step of a funnel, conversion, drop-off and
time to convert, by breakdown value; or, with `--dropped N`, the people who dropped at step N."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from omnicx.cli.common import console, fail
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
    from omnicx.analytics.funnel_results import DroppedPeople, FunnelResult, StepStats

TABLE_PEOPLE = 100
"""People listed by `--dropped` in a table; CSV and JSON list them all."""

STEPS_HELP = escape(  # help is read as Rich markup, where [..] is a style
    "The steps, in order: event names, each optionally with filters in brackets, e.g. "
    "'Product Viewed' 'Product Added[channel=app]' 'Order Completed[channel=store_pos]'."
)
WINDOW_HELP = "How long after the first step the last may come: 30m, 24h, 7d, 2w."
ORDERING_HELP = (
    "ordered: other events may come between steps; strict: no other touchpoint between two "
    "steps; unordered: the steps in any order within the window."
)
EXCLUDE_HELP = escape(
    "Leave out people who did this event between the first and the last step (repeatable; "
    "EVENT[FILTERS]@FROM-TO for other steps)."
)
BREAKDOWN_HELP = "Split by channel, source, property:NAME or trait:NAME."
ATTRIBUTION_HELP = "Which step gives a person's breakdown value: first, last or step:N."
LIMIT_HELP = "Breakdown values shown (the most people first); the rest together as 'other'."
DROPPED_HELP = "List the people who reached step N-1 but not step N, instead of the funnel."


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `omnicx report`."""
    app.command("funnel")(funnel_command)


def funnel_command(
    steps: Annotated[list[str], typer.Argument(help=STEPS_HELP, show_default=False)],
    window: Annotated[str, typer.Option("--window", help=WINDOW_HELP)] = "30d",
    ordering: Annotated[str, typer.Option("--ordering", help=ORDERING_HELP)] = "ordered",
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help=EXCLUDE_HELP, show_default=False)
    ] = None,
    breakdown: Annotated[
        str | None, typer.Option("--breakdown", help=BREAKDOWN_HELP, show_default=False)
    ] = None,
    attribution: Annotated[str, typer.Option("--attribution", help=ATTRIBUTION_HELP)] = "first",
    limit: Annotated[int, typer.Option("--limit", help=LIMIT_HELP)] = 25,
    dropped: Annotated[
        int | None, typer.Option("--dropped", help=DROPPED_HELP, show_default=False)
    ] = None,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Funnel: how many people went through STEPS, on any channels, and where they dropped."""
    from omnicx.analytics.funnel_spec import FunnelError, funnel_spec
    from omnicx.analytics.funnels import run_dropped, run_funnel
    from omnicx.cli.durations import parse_duration

    try:
        span = parse_duration(window)
    except ValueError as exc:
        fail(f"--window: {exc}", BAD_INPUT)
    if dropped is not None and breakdown is not None:
        fail("--dropped lists people and takes no --breakdown: leave one out.", BAD_INPUT)
    scope = scope_from(start, end, where)
    try:
        spec = funnel_spec(
            steps,
            window=span,
            ordering=ordering,
            exclusions=exclude or [],
            breakdown=breakdown,
            breakdown_attribution=attribution,
            breakdown_limit=limit,
        )
        snapshot = open_report_lake(lake, db)
        if dropped is not None:
            _print_dropped(run_dropped(snapshot, spec, step=dropped, scope=scope), format)
            return
        result = run_funnel(snapshot, spec, scope=scope)
    except FunnelError as exc:
        fail(str(exc), BAD_INPUT)
    _print_funnel(result, format)


def _print_funnel(result: FunnelResult, format: Format) -> None:
    title = f"Funnel ({result.ordering}, window {_duration(result.window.total_seconds())})"
    if format is Format.json:
        emit(result.to_dict(), [], format=format, title=title)
        return
    groups = [("all", result.steps)] + [
        ("(other)" if g.other else "(none)" if g.value is None else g.value, g.steps)
        for g in result.groups
    ]
    shown = [(escape(value), steps) for value, steps in groups]  # Rich reads [..] as markup
    with_breakdown = result.breakdown is not None
    if format is Format.csv:
        rows = [
            ({"breakdown": value} if with_breakdown else {}) | s.to_dict()
            for value, steps in groups
            for s in steps
        ]
        emit(result.to_dict(), rows, format=format, title=title)
        return
    rows = [
        ({result.breakdown or "": value} if with_breakdown else {}) | _shown_step(s)
        for value, steps in shown
        for s in steps
    ]
    emit(result.to_dict(), rows, format=format, title=title)
    time = result.time_to_convert
    if time.people:
        emit(
            None,
            [{"time to convert": b.label, "people": b.count} for b in time.histogram],
            format=format,
            title="Time to convert",
        )
        console.print(
            f"Median time to convert {_duration(time.median_seconds)}, over "
            f"{_people(time.people)} who reached the last step."
        )
    if result.excluded:
        console.print(f"{_people(result.excluded)} left out by an exclusion step.")


def _shown_step(step: StepStats) -> dict[str, Any]:
    return {
        "step": escape(step.name),
        "people": step.count,
        "conversion": _percent(step.conversion_from_start),
        "from previous": _percent(step.conversion_from_previous),
        "dropped": step.dropped,
        "median time": _duration(step.median_seconds_from_previous),
    }


def _print_dropped(dropped: DroppedPeople, format: Format) -> None:
    rows = dropped.rows()
    title = escape(f"Dropped at {dropped.step_name}")
    if format is not Format.table:
        emit(
            dropped.to_dict(),
            rows,
            format=format,
            title=title,
            columns=["profile_id", "reached_at"],
        )
        return
    shown = [{k: escape(v) for k, v in row.items()} for row in rows[:TABLE_PEOPLE]]
    emit(None, shown, format=format, title=title, columns=["profile_id", "reached_at"])
    console.print(
        f"{_people(len(rows))} reached {dropped.previous_name!r} but not {dropped.step_name!r}.",
        markup=False,
    )
    if len(rows) > TABLE_PEOPLE:
        console.print(f"The first {TABLE_PEOPLE} are shown: use --format csv for all of them.")


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    """`3d 4h`, `2h 5m`, `45s`: two units at most."""
    if seconds is None:
        return ""
    left = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])
