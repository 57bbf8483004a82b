"""`omnicx identity match-profiles`, `reviews` and `review accept|reject`: the matching job on
stored profiles and its review queue (profiles/matching_job.py).

The commands are added to the `identity` group of `omnicx.cli.identity`. Matching modules are
imported inside the commands, so `omnicx --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnicx.cli.common import DbOption, console, errors, fail, open_database
from omnicx.cli.identity import BAD_INPUT, app
from omnicx.cli.identity_admin import _actor

if TYPE_CHECKING:
    from omnicx.profiles.matching_job import FoundMatches, MatchJobReport, ReviewView

AUTO_MERGE = 0.99
"""omnicx.profiles.matching_job.AUTO_MERGE, here so that `omnicx --help` stays fast."""
REVIEW_FROM = 0.80
"""omnicx.profiles.matching_job.REVIEW_FROM."""
BAD_OPTIONS = ("invalid_thresholds", "unknown_field", "invalid_status")
"""Job errors that are the options' fault: exit status BAD_INPUT."""

review_app = typer.Typer(
    help="Decide on a probable match of the review queue (omnicx identity reviews lists it).",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

FIELD_NAMES = {
    "first_name": "first name",
    "last_name": "last name",
    "birth_date": "birth date",
    "email": "e-mail",
}


class ReviewStatus(StrEnum):
    """Which reviews `omnicx identity reviews` lists."""

    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    all = "all"


class _JobProgress:
    """Each phase of the job on stderr: a spinner, the phase, its time, what it does."""

    def __init__(self) -> None:
        self.progress = self._display()
        self.task: TaskID | None = None
        self.phase = ""

    @staticmethod
    def _display() -> Progress:
        return Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.fields[phase]:<10}[/]"),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=errors,
        )

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

    def close(self) -> None:
        """Marks the last phase done and stops the display."""
        self._finish()
        self.progress.stop()
        self.progress = self._display()  # the next phases on lines of their own
        self.phase = ""


@app.command("match-profiles")
def match_profiles(
    auto_merge: Annotated[
        float,
        typer.Option(
            "--auto-merge",
            help="Merge the pairs at least this likely to be the same person (0 to 1).",
        ),
    ] = AUTO_MERGE,
    review_from: Annotated[
        float,
        typer.Option(
            "--review-from",
            help="Queue for review the pairs at least this likely, below --auto-merge.",
        ),
    ] = REVIEW_FROM,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Compare only these fields (repeatable): name, birth_date, postcode, city, "
            "street, email, phone. Default: all.",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Merge and queue without asking first.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Merges stored profiles that are the same person by name, birth date, postcode..."""
    from omnicx.profiles import matching_job as job

    phases = _JobProgress()
    try:
        job.check_thresholds(auto_merge, review_from)
        with open_database(db) as engine:
            try:
                with engine.connect() as connection:
                    records = job.read_records(connection, fields=field, progress=phases)
                # Matching holds no transaction: on SQLite, a transaction holds the write lock.
                found = job.find_matches(records, review_from=review_from, progress=phases)
            finally:
                phases.close()
            to_merge = sum(1 for m in found.pairs if m.probability >= auto_merge and m.corroborated)
            to_review = sum(1 for m in found.pairs if not m.distinct) - to_merge
            _print_found(found, auto_merge, to_merge, to_review)
            if not to_merge and not to_review:
                return
            if not yes:
                typer.confirm(
                    f"Merge up to {_pairs(to_merge)} and queue up to {_pairs(to_review)} for "
                    "review?",
                    abort=True,
                )
            try:
                with engine.begin() as connection:
                    report = job.apply_matches(
                        connection, found, auto_merge=auto_merge, actor=_actor(), progress=phases
                    )
            finally:
                phases.close()
    except job.MatchJobError as error:
        fail(error.message, BAD_INPUT if error.code in BAD_OPTIONS else 1)
    _print_report(report)


def _pairs(count: int) -> str:
    return f"{count:,} pair" + ("" if count == 1 else "s")


def _print_found(found: FoundMatches, auto_merge: float, to_merge: int, to_review: int) -> None:
    distinct = len(found.pairs) - to_merge - to_review
    console.print(
        f"{found.records:,} of {found.profiles:,} profiles have a name and another field to "
        f"compare ({', '.join(found.compared)}). [bold]{len(found.pairs):,}[/] pairs are at "
        f"least {found.review_from:g} likely to be the same person: {to_merge:,} to merge "
        f"(at least {auto_merge:g}, the names and another field agreeing), {to_review:,} to "
        f"review, {distinct:,} dismissed as two people (the given names differ, or the "
        "surnames and the birth dates).",
        highlight=False,
    )


def _print_report(report: MatchJobReport) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column()
    table.add_row("profiles compared", f"{report.records:,}", f"of {report.profiles:,}")
    table.add_row("pairs found", f"{report.pairs:,}", f"p >= {report.review_from:g}")
    table.add_row("merged", f"{report.merged:,}", f"p >= {report.auto_merge:g}")
    table.add_row(
        "refused by rules", f"{report.refused:,}", "two userIds, an unmerge (identity conflicts)"
    )
    table.add_row("queued for review", f"{report.queued:,}", "omnicx identity reviews")
    if report.held:
        table.add_row(
            "  of them held", f"{report.held:,}", "likely, but too little agrees to merge unasked"
        )
    table.add_row(
        "dismissed",
        f"{report.dismissed:,}",
        "two people: the given names (or surname and birth date) differ",
    )
    table.add_row(
        "skipped", f"{report.skipped:,}", "one profile by now, rejected, or queued before"
    )
    table.add_row("time", f"{report.seconds:.1f} s", "")
    console.print(table, highlight=False)


@app.command("reviews")
def reviews(
    status: Annotated[
        ReviewStatus, typer.Option("--status", help="Which reviews to list.")
    ] = ReviewStatus.pending,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")
    ] = 20,
    db: DbOption = None,
) -> None:
    """Lists probable matches waiting for a decision, with both profiles' compared fields."""
    from omnicx.profiles import matching_job as job

    with open_database(db) as engine, engine.connect() as connection:
        found = job.list_reviews(connection, status=status.value, limit=limit)
    if not found:
        what = "" if status == "all" else f"{status} "
        console.print(f"No {what}reviews. [bold]omnicx identity match-profiles[/] queues some.")
        return
    for view in found:
        _print_review(view)
    if status == "pending":
        console.print(
            "Decide with [bold]omnicx identity review accept ID[/] (joins the two profiles) or "
            "[bold]omnicx identity review reject ID[/].",
            highlight=False,
        )


def _print_review(view: ReviewView) -> None:
    """A review: its id, probability and status, then both records field by field."""
    review = view.review
    status = review.status
    if review.decided_by and review.decided_at:
        status += f" by {review.decided_by} on {review.decided_at:%Y-%m-%d %H:%M}"
    if len(view.current_profile_ids) == 1:
        status += "; one profile now"
    console.print(
        f"[bold]Review #{review.id}[/]  p={review.probability:.3f}  {status}  "
        f"(queued {review.created_at:%Y-%m-%d %H:%M})\n"
        f"left {review.left_profile_id}, right {review.right_profile_id}",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=True)
    table.add_column("Field", no_wrap=True, min_width=10)
    for side in ("Left", "Right"):
        table.add_column(side, no_wrap=True, overflow="ellipsis", ratio=1)
    for name, (left, right) in review.detail.items():
        table.add_row(
            FIELD_NAMES.get(name, name.replace("_", " ")),
            "—" if left is None else str(left),
            "—" if right is None else str(right),
        )
    console.print(table)


ReviewIdArgument = Annotated[
    int, typer.Argument(metavar="ID", help="The review's id (omnicx identity reviews).")
]


@review_app.command("accept")
def accept(review_id: ReviewIdArgument, db: DbOption = None) -> None:
    """Accepts a probable match: joins the two profiles (undone with omnicx identity unmerge)."""
    view = _decide(review_id, accept=True, db=db)
    if len(view.current_profile_ids) == 1:
        console.print(
            f"Accepted review #{review_id}: the two profiles are one profile now:",
            highlight=False,
        )
        typer.echo(view.current_profile_ids[0])
    else:
        console.print(
            f"Accepted review #{review_id}, but an identity rule refused to join the two "
            "profiles (two userIds, or an unmerge keeps them apart); "
            f"[bold]omnicx identity conflicts --profile {view.review.left_profile_id}[/] "
            "says which.",
            highlight=False,
        )


@review_app.command("reject")
def reject(review_id: ReviewIdArgument, db: DbOption = None) -> None:
    """Rejects a probable match: the profiles stay apart and the pair is not offered again."""
    _decide(review_id, accept=False, db=db)
    console.print(
        f"Rejected review #{review_id}: the two profiles stay apart, and the matching job will "
        "not merge or offer them again.",
        highlight=False,
    )


def _decide(review_id: int, *, accept: bool, db: str | None) -> ReviewView:
    from omnicx.profiles import matching_job as job

    with open_database(db) as engine:
        try:
            with engine.begin() as connection:
                return job.decide_review(connection, review_id, accept=accept, actor=_actor())
        except job.MatchJobError as error:
            fail(error.message)
