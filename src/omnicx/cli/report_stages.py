"""`omnicx report stages`: journey stages from the event lake — people per stage, per
period, the flows between stages, or one profile's stage history."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from omnicx.cli.common import fail
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
    from omnicx.analytics.stage_settings import StageModel
    from omnicx.analytics.stages import StageReport

NOT_FOUND = 1


class PeriodChoice(StrEnum):
    """Periods a report can be split by."""

    day = "day"
    week = "week"
    month = "month"


PeriodOption = Annotated[
    PeriodChoice | None,
    typer.Option(
        "--period",
        "-p",
        help="People in each stage at the end of every day, week (from Monday) or month.",
        show_default=False,
    ),
]
FlowsOption = Annotated[
    bool,
    typer.Option(
        "--flows",
        help="People by stage at the start of the range and at its end (a Sankey's links).",
    ),
]
MovesOption = Annotated[
    bool, typer.Option("--moves", help="People who made each move between stages in the range.")
]
PersonOption = Annotated[
    str | None,
    typer.Option(
        "--person", help="One profile's current stage and stage history.", show_default=False
    ),
]
SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        help="A stage model file (TOML or JSON) to use instead of the stored one.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Adds `omnicx report stages`."""
    app.command("stages")(stages)


def stages(
    period: PeriodOption = None,
    flows: FlowsOption = False,
    moves: MovesOption = False,
    person: PersonOption = None,
    settings: SettingsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Journey stages (awareness → consideration → purchase → retention → advocacy, churned):
    people in each stage at the end of the range and entering it during the range."""
    from omnicx.analytics.stages import stage_history, stage_report

    views = [name for name, on in (("--period", period), ("--flows", flows), ("--moves", moves),
                                   ("--person", person)) if on]  # fmt: skip
    if len(views) > 1:
        fail(f"{' and '.join(views)} cannot be combined: choose one view.", BAD_INPUT)
    scope = scope_from(start, end, where)
    model = _model(settings, db)
    snapshot = open_report_lake(lake, db)
    if person is not None:
        history = stage_history(snapshot, person.strip(), model=model, scope=scope)
        current = _merged_into(person.strip(), db) if history is None else None
        if current is not None:
            history = stage_history(snapshot, current, model=model, scope=scope)
        if history is None:
            fail(
                f"No stage for the profile {escape(repr(person))}: the lake holds no event of "
                "it that a stage rule counts (`omnicx profile show ID` shows the profile).",
                NOT_FOUND,
            )
        rows = [e.to_dict() for e in history.entries]
        title = f"Stages of {history.person}: {history.stage} as of {history.as_of:%Y-%m-%d %H:%M}"
        emit(history.to_dict(), rows, format=format, title=title)
        return
    report = stage_report(snapshot, scope, model=model, period=period.value if period else None)
    rows, title = _view(report, flows=flows, moves=moves)
    emit(report.to_dict(), rows, format=format, title=title)


def _view(report: StageReport, *, flows: bool, moves: bool) -> tuple[list[dict[str, Any]], str]:
    """The rows and title the chosen view prints (JSON always has the whole report)."""
    since = f"from {report.start}" if report.start else "since the first event"
    as_of = f"{report.as_of:%Y-%m-%d %H:%M}" if report.as_of else "(empty lake)"
    span = f"from {report.start or 'the first event'} to {as_of}"
    if flows:
        rows = [{"from": x.source, "to": x.target, "people": x.people} for x in report.flows.links]
        return rows, f"Flows between stages {span} (`new`: in no stage yet)"
    if moves:
        rows = [t.to_dict() for t in report.transitions]
        return rows, f"Moves between stages {span}"
    if report.period:
        wide: dict[str, dict[str, Any]] = {}
        for p in report.periods:
            wide.setdefault(p.period.isoformat(), {"period": p.period.isoformat()})[p.stage] = (
                p.people
            )
        return list(wide.values()), f"People per stage at the end of each {report.period}"
    rows = [c.to_dict() for c in report.counts]
    rows.append({"stage": "total", "people": report.total, "share": 1.0 if report.total else 0.0})
    return rows, f"Journey stages as of {as_of} (entered: {since})"


def _database_exists(db: str | None) -> bool:
    """False for a SQLite file that is not there (nothing stored: do not create it)."""
    from sqlalchemy.engine import make_url

    from omnicx.store.config import resolve_database_url

    url = make_url(resolve_database_url(db))
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and Path(str(url.database)).exists()


def _merged_into(profile_id: str, db: str | None) -> str | None:
    """The profile a merged-away id stands for now (None: the same, or unknown)."""
    from omnicx.cli.common import open_database
    from omnicx.identity.service import current_profile_id

    if not _database_exists(db):
        return None
    with open_database(db) as engine, engine.connect() as connection:
        current = current_profile_id(connection, profile_id)
    return current if current != profile_id else None


def _model(settings: Path | None, db: str | None) -> StageModel:
    """The stage model: from `--settings`, else the stored one, else the built-in one."""
    from omnicx.analytics.stage_settings import StageSettingsError, load_text
    from omnicx.analytics.stage_settings import default_model as built_in
    from omnicx.analytics.stage_settings_store import current_model
    from omnicx.cli.common import open_database

    if settings is not None:
        try:
            return load_text(settings.read_text(encoding="utf-8"), name=str(settings))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--settings: cannot read {settings}: {escape(str(exc))}", BAD_INPUT)
        except StageSettingsError as exc:
            fail(f"--settings: {escape(str(exc))}", BAD_INPUT)
    if not _database_exists(db):
        return built_in()
    with open_database(db) as engine, engine.connect() as connection:
        try:
            return current_model(connection)
        except StageSettingsError as exc:
            fail(f"{escape(str(exc))}: store valid settings with `omnicx stages configure FILE`.")
