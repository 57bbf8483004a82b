"""`omnicx demo`: loads a simulated omnichannel retailer through the collection API and import."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from omnicx.cli.common import DbOption, console, fail, open_database
from omnicx.store.config import resolve_database_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from omnicx.demo.service import DemoReport


class _Rate(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="cyan")


class _Bars:
    """The demo's progress: customers simulated, events accepted, import rows."""

    def __init__(self, progress: Progress, customers: int) -> None:
        self._progress = progress
        self._customers = progress.add_task("customers simulated", total=customers)
        self._events = progress.add_task("events sent", total=None)
        self._imports: dict[str, TaskID] = {}
        self._processing: TaskID | None = None

    def simulated(self, customers: int) -> None:
        """Advances the customers bar."""
        self._progress.advance(self._customers, customers)

    def delivered(self, events: int) -> None:
        """Advances the events counter."""
        self._progress.advance(self._events, events)

    def imported(self, file: str, rows: int) -> None:
        """Shows an import's rows done."""
        if file not in self._imports:
            self._imports[file] = self._progress.add_task(f"importing {file}", total=None)
        self._progress.update(self._imports[file], completed=rows)

    def processed(self, events: int, total: int) -> None:
        """Shows the processing of what the server had not processed yet."""
        if self._processing is None:
            self._processing = self._progress.add_task("events processed", total=total)
        self._progress.update(self._processing, completed=events, total=total)


def demo(
    customers: Annotated[int, typer.Option(min=1, help="People to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same people, same messageIds.")] = 1,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of history.")] = 6,
    db: DbOption = None,
    output: Annotated[
        Path, typer.Option(help="Folder for the POS and CRM exports and the ground truth.")
    ] = Path("demo-output"),
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth file. Default: OUTPUT/truth.jsonl.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Send to a running omnicx (http://host:port) on the same --db."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last simulated day, YYYY-MM-DD (UTC). Default: yesterday.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes simulating customers (0: none). Default: by size and CPUs."),
    ] = None,
) -> None:
    """Simulates a retailer's customers on every channel and loads them like real data."""
    import httpx

    from omnicx.collect.bulk_import import ImportFileError
    from omnicx.demo.sender import DeliveryError
    from omnicx.demo.service import DemoError, DemoOptions, run_demo

    last_day = _parse_day(until) if until else None
    if workers is None:
        workers = min(4, (os.cpu_count() or 1) - 1) if customers >= 2000 else 0
    options = DemoOptions(
        customers=customers,
        seed=seed,
        months=months,
        until=last_day,
        output=output,
        truth=truth,
        url=url.rstrip("/") if url else None,
        workers=max(workers, 0),
    )
    database_url = resolve_database_url(db)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
    )
    with open_database(database_url) as engine:
        try:
            with Progress(*columns, console=console, transient=False) as progress:
                report = run_demo(engine, database_url, options, _Bars(progress, customers))
            _report_in_euros(engine, database_url)
            login = _console_login(engine, output)
        except (DemoError, DeliveryError, ImportFileError) as exc:
            fail(str(exc))
        except httpx.HTTPError as exc:  # a --url server that is not there, or went away
            fail(f"cannot reach {url}: {exc}")
        except OSError as exc:
            fail(f"cannot write the demo's files: {exc}")
    _summary(report, login)


DEMO_ADMIN = "demo-admin@example.com"
"""The console login `omnicx demo` creates when the database has none."""


def _console_login(engine: Engine, output: Path) -> tuple[str, str] | None:
    """A console admin for the demo (random password, also saved in OUTPUT/console-login.txt),
    unless the database already has console users: then nobody is added."""
    import secrets

    from omnicx.access import users

    with engine.begin() as connection:
        if users.list_users(connection):
            return None
        password = secrets.token_urlsafe(12)
        users.add_user(
            connection, DEMO_ADMIN, role="admin", password=password, name="Demo admin",
            actor="cli:demo",
        )  # fmt: skip
    saved = output / "console-login.txt"
    saved.write_text(f"{DEMO_ADMIN}\n{password}\n", encoding="utf-8")
    saved.chmod(0o600)
    return DEMO_ADMIN, password


def _report_in_euros(engine: Engine, database_url: str) -> None:
    """The demo sells in four currencies: its reports give revenue in euros."""
    from omnicx.analytics.currency import ReportingCurrency
    from omnicx.analytics.location import resolve_lake_dir
    from omnicx.analytics.maintenance import set_currency
    from omnicx.demo.markets import euro_rates

    set_currency(engine, resolve_lake_dir(database_url), ReportingCurrency("EUR", euro_rates()))


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--until {text!r} is not a date; write YYYY-MM-DD.", code=2)


def _summary(report: DemoReport, login: tuple[str, str] | None) -> None:
    by_channel: dict[str, dict[str, int]] = {}
    for (channel, name), count in sorted(report.events.items()):
        by_channel.setdefault(channel, {})[name] = count
    events = Table("Channel", "Events", "By type", title="Events sent and imported")
    for channel, names in by_channel.items():
        ranked = sorted(names.items(), key=lambda item: -item[1])
        detail = ", ".join(f"{name} {count:,}" for name, count in ranked)
        events.add_row(channel, f"{sum(names.values()):,}", detail)
    console.print(events)
    share = report.multichannel / report.people if report.people else 0.0
    rate = report.total_events / report.seconds if report.seconds else 0.0
    imports = ", ".join(
        f"{source} {summary.stored:,} new of {summary.rows:,} rows"
        for source, summary in report.imports.items()
    )
    overview = Table(show_header=False, title="Demo retailer loaded")
    for label, value in (
        ("people", f"{report.people:,} in {report.households:,} households"),
        ("multichannel people", f"{report.multichannel:,} ({share:.0%})"),
        ("events", f"{report.total_events:,} ({report.stored_new:,} new in the database)"),
        ("imports", imports),
        (
            "processing",
            "done: profiles, segments and the event lake are up to date"
            if report.processed is not None
            else "by the server at --url",
        ),
        ("time", f"{report.seconds:,.1f} s ({rate:,.0f} events/s, processing included)"),
        ("exports", str(report.output)),
        ("ground truth", str(report.truth_path)),
        (
            "console login",
            f"{login[0]}  password {login[1]}  (also in {report.output / 'console-login.txt'})"
            if login
            else "the console users already in this database",
        ),
    ):
        overview.add_row(label, value)
    console.print(overview)
