"""The `omnicx` command: one Typer app, one module per command group."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from omnicx.settings import Settings

import omnicx
from omnicx.cli import demo as demo_cli
from omnicx.cli import identity as identity_cli
from omnicx.cli import (
    identity_admin,  # noqa: F401  (adds its commands to identity_cli.app)
    identity_review,  # noqa: F401  (adds its commands to identity_cli.app)
)
from omnicx.cli import imports as imports_cli
from omnicx.cli import insights as insights_cli
from omnicx.cli import lake as lake_cli
from omnicx.cli import profiles as profiles_cli
from omnicx.cli import report as report_cli
from omnicx.cli import scores as scores_cli
from omnicx.cli import segments as segments_cli
from omnicx.cli import sources as sources_cli
from omnicx.cli import stages as stages_cli
from omnicx.cli import syncs as syncs_cli
from omnicx.cli import tokens as tokens_cli
from omnicx.cli import users as users_cli
from omnicx.cli.common import DbOption, console, open_database
from omnicx.store.config import DATABASE_URL_ENV, resolve_database_url
from omnicx.store.engine import is_in_memory

app = typer.Typer(
    name="omnicx",
    help="omnicx: collect every channel's customer events into one place.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(sources_cli.app, name="sources")
app.add_typer(identity_cli.app, name="identity")
app.add_typer(profiles_cli.profile_app, name="profile")
app.add_typer(profiles_cli.profiles_app, name="profiles")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(users_cli.app, name="users")
app.command("audit")(users_cli.audit)
app.add_typer(report_cli.app, name="report")
app.add_typer(lake_cli.app, name="lake")
app.add_typer(stages_cli.app, name="stages")
app.add_typer(segments_cli.app, name="segments")
segments_cli.app.command("export")(insights_cli.export)
segments_cli.app.command("lookalikes")(insights_cli.lookalikes)
segments_cli.app.add_typer(syncs_cli.app, name="sync")
app.command("personas")(insights_cli.personas)
app.add_typer(scores_cli.app, name="scores")
app.command("import")(imports_cli.import_file)
app.command("demo")(demo_cli.demo)
db_app = typer.Typer(help="Database schema: upgrade and inspect migrations.")
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"omnicx {omnicx.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """omnicx: collect every channel's customer events into one place."""


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (each with its own writer).")] = 1,
    processing: Annotated[
        bool,
        typer.Option(help="Run the processing stage alongside (else run `omnicx worker`)."),
    ] = True,
) -> None:
    """Runs the collection API (and the processing stage) until Ctrl-C or SIGTERM."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from omnicx.logs import configure
    from omnicx.settings import Settings, processing_workers_for

    url = resolve_database_url(db)
    os.environ[DATABASE_URL_ENV] = url  # worker processes read the same database
    with open_database(url) as engine:
        shown = engine.url.render_as_string(hide_password=True)
        dialect = engine.dialect.name
        in_memory = is_in_memory(engine)
    settings = Settings(database_url=url, run_processing=processing)
    log_config = configure(fmt=settings.log_format, level=settings.log_level)
    children = processing_workers_for(settings.processing_workers, dialect)
    console.print(
        f"[bold green]omnicx {omnicx.__version__}[/] serving on [bold]http://{host}:{port}[/]\n"
        f"  database      {shown}\n"
        f"  collection    http://{host}:{port}/v1/batch  (Segment/RudderStack SDKs: this host)\n"
        f"  console       http://{host}:{port}/console  (logins: `omnicx users add`)\n"
        f"  API docs      http://{host}:{port}/docs\n"
        f"  health        http://{host}:{port}/healthz\n"
        f"  processing    {_processing_line(processing, children, workers)}\n"
        "Press Ctrl-C to stop.",
        highlight=False,
        soft_wrap=True,
    )
    config = uvicorn.Config(
        "omnicx.api.app:create_served_app" if workers > 1 else _app_factory(settings),
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        access_log=False,
        # omnicx reads X-Forwarded-* itself where it needs them (browser settings): uvicorn's
        # rewriting of client and scheme would only cost every request (~2 % of single events).
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )
    # uvicorn re-raises the signal it handled once its graceful shutdown is done; under the
    # default handlers that kills the process (143, 130) after a clean stop. Exit 0 instead,
    # as documented, so supervisors can tell a clean stop from a crash.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    _tune_garbage_collector()
    if workers > 1:
        # Only uvicorn's supervisor starts worker processes; each builds its app from the
        # environment. The processing stage runs once, from this supervisor, not in each.
        supervised = processing and not in_memory
        os.environ["OMNICX_RUN_PROCESSING"] = "1" if processing and not supervised else "0"
        # The same count as `children`, with the warning when SQLite turns more down.
        from omnicx.api.runtime import processing_worker_count

        count = processing_worker_count(settings.processing_workers, dialect) if supervised else 0
        with _supervised_processing(url, count):
            sock = config.bind_socket()
            Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run()


@contextmanager
def _supervised_processing(url: str, count: int) -> Iterator[None]:
    """Runs the `count` processing processes of `omnicx serve --workers N` (0: none), woken
    by the server processes through a socket (api/wake.py)."""
    if not count:
        yield
        return
    from omnicx.api.runtime import processing_processes
    from omnicx.api.wake import WakeListener

    stage = processing_processes(url, count)
    stage.start()
    listener = WakeListener(stage.notify)
    listener.start()
    os.environ["OMNICX_PROCESSING_WAKE"] = str(listener.path)
    try:
        yield
    finally:
        listener.close()
        stage.stop()


def _processing_line(processing: bool, children: int, workers: int) -> str:
    if not processing:
        return "off (run `omnicx worker`)"
    shown = "a child process" if children == 1 else f"{children} child processes"
    return shown + (f", shared by the {workers} server processes" if workers > 1 else "")


def _tune_garbage_collector() -> None:
    """Collects young objects less often: parsed JSON is acyclic, so on the intake path the
    cycle collector mostly costs time (measured: +20-35 % intake, docs/performance.md)."""
    gc.collect()
    gc.freeze()  # what startup built lives for the whole process: keep it out of collections
    gc.set_threshold(50_000, 50, 1000)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _app_factory(settings: Settings) -> FastAPI:
    from omnicx.api.app import create_app

    return create_app(settings, serving=True)


@app.command()
def worker(
    db: DbOption = None,
    once: Annotated[
        bool,
        typer.Option(help="Process what is there, then exit (in this one process)."),
    ] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks for new events.")] = 1.0,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processing processes sharing the consumers (PostgreSQL; SQLite runs 1). "
            "Not with --once, which runs in this process.",
        ),
    ] = 1,
) -> None:
    """Runs the processing stage on its own: consumes new events from the durable checkpoint."""
    from omnicx.collect.processing import ProcessingStage, lag, process_available
    from omnicx.logs import configure
    from omnicx.pipeline import stream_consumers
    from omnicx.settings import Settings

    settings = Settings()
    configure(fmt=settings.log_format, level=settings.log_level)
    consumers = stream_consumers()
    with open_database(db, keep_connections=True) as engine:
        if once:
            handled = process_available(engine, consumers)
            console.print(f"Processed {handled:,} events; lag now {lag(engine, consumers)}.")
            return
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        names = ", ".join(c.name for c in consumers)
        if processes > 1:
            from omnicx.api.runtime import processing_worker_count

            count = processing_worker_count(processes, engine.dialect.name, option="--processes")
            if count > 1:
                _run_processing_processes(resolve_database_url(db), count, poll, stopped, names)
                return
        stage = ProcessingStage(engine, consumers, poll=poll)
        console.print(f"Processing stage running ({names}).")
        from omnicx.audiences.syncs import SyncScheduler

        syncs = SyncScheduler(engine)
        stage.start()
        syncs.start()
        stopped.wait()
        syncs.stop()
        stage.stop()
        console.print(f"Stopped after processing {stage.processed:,} events.")


def _run_processing_processes(
    url: str, count: int, poll: float, stopped: threading.Event, names: str
) -> None:
    """`omnicx worker --processes N`: N child processes until a signal, or until one dies."""
    from omnicx.api.runtime import ProcessingProcesses

    group = ProcessingProcesses(url, count, poll=poll)
    group.start()
    console.print(f"Processing stage running in {count} processes ({names}).")
    failed = None
    while not stopped.wait(1.0):
        failed = next((c for c in group.children if c.exitcode is not None), None)
        if failed is not None:
            break
    group.stop()
    if failed is not None and not stopped.is_set():
        console.print(
            f"A processing process ended (exit code {failed.exitcode}); stopped the others "
            f"after processing {group.processed:,} events.",
            style="red",
        )
        raise typer.Exit(1)
    console.print(f"Stopped after processing {group.processed:,} events.")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Applies pending migrations (every command also does this when needed)."""
    from omnicx.store.migrate import current_revision

    with open_database(db) as engine:
        console.print(f"Database at revision {current_revision(engine)}.")


def main() -> None:
    """Entry point of the `omnicx` console script."""
    app()
