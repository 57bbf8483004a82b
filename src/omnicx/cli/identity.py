"""`omnicx identity ...`: identity resolution commands; `match` links customer files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn
from rich.table import Column, Table
from rich.text import Text

from omnicx.cli.common import console, errors, fail

if TYPE_CHECKING:
    from omnicx.identity.matching import MatchResult

app = typer.Typer(
    help="Identity: match customer records that share no exact identifier.",
    no_args_is_help=True,
)

BAD_INPUT = 2
"""Exit status for input matching cannot use: a missing or malformed file, a bad option."""
FAILED = 1
"""Exit status when matching itself failed (the database engine underneath)."""

DEFAULT_THRESHOLD = 0.9
"""omnicx.identity.matching.DEFAULT_THRESHOLD, here so that `omnicx --help` stays fast."""


@app.command("match")
def match(
    left: Annotated[
        Path,
        typer.Option("--left", help="CSV, JSONL or Parquet file of records.", show_default=False),
    ],
    id_column: Annotated[
        str,
        typer.Option(
            "--id-column",
            help="The column naming each record (unique within a file).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where to write the pairs (.csv, .jsonl or .parquet).",
            show_default=False,
        ),
    ],
    right: Annotated[
        Path | None,
        typer.Option(
            "--right",
            help="A second file with the same columns: link it with --left. "
            "Without it, duplicates are found within --left.",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Write the pairs whose match probability is at least this.",
        ),
    ] = DEFAULT_THRESHOLD,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="COLUMN:KIND",
            help="Compare COLUMN as KIND instead of the inferred kind (repeatable). Kinds: "
            "name, fullname, date, postcode, email, phone, identifier, number, text, exact, "
            "ignore.",
            show_default=False,
        ),
    ] = None,
    blocking: Annotated[
        list[str] | None,
        typer.Option(
            "--blocking",
            metavar="COLUMN[+COLUMN...]",
            help="Score only pairs equal on these columns, instead of the automatic rules "
            "(repeatable: a pair equal under any rule is scored).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Finds the records of two files that are the same person (or duplicates within one)."""
    from omnicx.identity.matching import MatchError, match_files, parse_compare

    phases = _Phases()
    try:
        overrides = parse_compare(compare or [])
        rules = [[c.strip() for c in rule.split("+")] for rule in blocking or []]
        try:
            result = match_files(
                left,
                right,
                id_column=id_column,
                threshold=threshold,
                comparisons=overrides,
                blocking=rules or None,
                out=out,
                progress=phases,
            )
        except BaseException:
            phases.close(failed=True)
            raise
        phases.close()
    except MatchError as exc:
        fail(str(exc), BAD_INPUT)
    except Exception as exc:  # duckdb or splink failing underneath: say so, no traceback
        if type(exc).__module__.split(".")[0] not in ("duckdb", "_duckdb", "splink"):
            raise
        fail(f"matching failed: {type(exc).__name__}: {exc}", FAILED)
    _print_summary(left, right, out, threshold, result)


class _Seconds(ProgressColumn):
    """A phase's duration in seconds."""

    def render(self, task: Task) -> Text:
        """Renders the time the phase took, or has taken so far."""
        seconds = task.finished_time or task.elapsed or 0.0
        return Text(f"{seconds:.1f} s", style="progress.elapsed")


class _Phases:
    """Shows each phase of matching on stderr, with a spinner, what it does and its duration."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]", table_column=Column(width=1)),
            TextColumn("[bold]{task.fields[phase]}[/]", table_column=Column(width=10)),
            _Seconds(table_column=Column(width=7, justify="right")),
            TextColumn(
                "{task.description}",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            console=errors,
            expand=True,
        )
        self.task: TaskID | None = None
        self.phase = ""

    def __call__(self, phase: str, message: str) -> None:
        if not self.progress.live.is_started:
            self.progress.start()
        if phase == self.phase and self.task is not None:
            self.progress.update(self.task, description=message)
            return
        self._finish()
        self.phase = phase
        self.task = self.progress.add_task(message, total=1, phase=phase)

    def _finish(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=1)
            self.task = None

    def close(self, *, failed: bool = False) -> None:
        """Marks the last phase done (or drops it, when it failed) and stops the display."""
        if failed and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self._finish()
        self.progress.stop()


def _print_summary(
    left: Path, right: Path | None, out: Path, threshold: float, result: MatchResult
) -> None:
    if result.linked:
        what = (
            f"Linked [bold]{left.name}[/] ({result.rows[0]:,} records) with "
            f"[bold]{right.name if right else ''}[/] ({result.rows[1]:,} records)"
        )
    else:
        what = f"Deduplicated [bold]{left.name}[/] ({result.rows[0]:,} records)"
    console.print(f"{what}:", highlight=False)
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column()
    table.add_row(
        "pairs written",
        f"[bold]{len(result.pairs):,}[/] with match probability >= {threshold:g}, in {out}",
    )
    table.add_row("compared", ", ".join(f"{f.column} ({f.kind})" for f in result.compared))
    ignored = [f for f in result.fields if f.kind == "ignore"]
    if ignored:
        table.add_row("not compared", ", ".join(f"{f.column} ({f.reason})" for f in ignored))
    shown = [" + ".join(rule) for rule in result.blocking[:6]]
    if len(result.blocking) > 6:
        shown.append(f"and {len(result.blocking) - 6} more")
    count = len(result.blocking)
    rules = f"{count} rule{'s' if count > 1 else ''}: {'; '.join(shown)}"
    table.add_row("blocking", rules if result.blocking else "none (every pair scored)")
    table.add_row(
        "pairs scored",
        f"{result.compared_pairs:,} of {result.possible_pairs:,} possible; about "
        f"{result.match_share * result.possible_pairs:,.0f} matching pairs in all (estimated)",
    )
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table, highlight=False)
