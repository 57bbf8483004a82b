"""What the journeys section's pages share: the lake and its names, the tabs, the page shell
that answers at once and loads its report after (htmx), and the report's own answer (a
fragment for htmx, a page when opened directly)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse

from omnicx.analytics.event_catalog import LakeCatalog, lake_catalog
from omnicx.analytics.lake import LakeSnapshot, open_lake_of
from omnicx.console.journeys_charts import Words
from omnicx.console.journeys_forms import FieldError, Form
from omnicx.console.overview_data import lake_version
from omnicx.console.rendering import render
from omnicx.store.clock import utc_now
from omnicx.store.memo import Computed, Memo

T = TypeVar("T")

PERMISSION = "analytics.read"
"""Every page of the section needs it."""

BASE = "/console/journeys"
TABS: tuple[str, ...] = (
    "funnel",
    "paths",
    "retention",
    "stages",
    "channels",
    "attribution",
    "value",
)
"""The section's tabs, each at /console/journeys/<tab> (journeys/_macros.html names them)."""


@dataclass(frozen=True, slots=True)
class LakeSpan:
    """The days the lake holds events of, and how many events (from its manifest: cheap)."""

    first: date | None
    last: date | None
    events: int


SHELL_WAIT_ROWS = 500_000
"""A page counts at most this many new events' names itself (a few tens of milliseconds);
more are counted in the background while the page shows the names counted so far."""


REPORT_SECONDS = 30.0
"""A report asked for again within this many seconds of its computation is shown as it was;
later, while new events arrive, the kept report is shown at once and the next one computed in
the background (a report over millions of events takes seconds; the page says when its report
was computed and offers to compute it now)."""

REPORTS_KEPT = 200
"""Reports (each a form's settings) a server process keeps at most."""

PEOPLE_LISTS_KEPT = 4
"""Lists of people (who dropped at a funnel step) a server process keeps at most: one can
hold hundreds of thousands of profiles, so only those being paged through are kept."""

FRESH = "fresh"
"""The query parameter asking for a report computed now rather than the kept one."""


def _kept(request: Request, name: str, limit: int) -> Memo:
    """What this server process keeps under `name` (one store per application)."""
    state = request.app.state
    memo: Memo | None = getattr(state, name, None)
    if memo is None:
        memo = Memo(limit=limit)
        setattr(state, name, memo)
    return memo


def kept_report(
    request: Request,
    lake: LakeSnapshot,
    settings: Hashable,
    compute: Callable[[], T],
    *,
    people: bool = False,
) -> Computed[T]:
    """A report over the lake for these `settings` (the tab and its form's query), kept as
    REPORT_SECONDS says; computed now when the reader asks for it (`fresh=1`). `people`: the
    report is a list of people, kept among the last PEOPLE_LISTS_KEPT only."""
    memo = (
        _kept(request, "console_journeys_people", PEOPLE_LISTS_KEPT)
        if people
        else _kept(request, "console_journeys_reports", REPORTS_KEPT)
    )
    version = lake_version(lake, utc_now().date())  # relative ranges move with the day
    if request.query_params.get(FRESH):
        return memo.refresh(settings, compute, version=version)
    return memo.get(settings, compute, seconds=REPORT_SECONDS, version=version)


def lake_of(request: Request) -> LakeSnapshot:
    """A snapshot of the server's event lake (the one its processing stage writes)."""
    return open_lake_of(request.app.state.runtime.settings.database_url)


def lake_and_catalog(request: Request, *, wait: bool = True) -> tuple[LakeSnapshot, LakeCatalog]:
    """The server's lake and the names in it; without `wait`, those counted so far when
    counting the rest would take long (a page shell must answer at once)."""
    lake = lake_of(request)
    return lake, lake_catalog(lake, wait_rows=None if wait else SHELL_WAIT_ROWS)


def span_of(lake: LakeSnapshot) -> LakeSpan:
    """The lake's days and size."""
    days = lake.manifest.days()
    return LakeSpan(days[0] if days else None, days[-1] if days else None, lake.manifest.rows())


def words_of(request: Request) -> Words:
    """Chart labels in the reader's language."""
    return Words(getattr(request.state, "language", "en"))


def shell(
    request: Request,
    tab: str,
    form: Form,
    lake: LakeSnapshot,
    catalog: LakeCatalog,
    *,
    runnable: bool | None = None,
    **context: Any,
) -> HTMLResponse:
    """A tab's page: its form (422 with the errors listed when it cannot be used) and a slot
    its report loads into after the page (when the form asks for one)."""
    runnable = form.ok if runnable is None else runnable and form.ok
    result_url = f"{BASE}/{tab}/result?{form.query()}" if runnable else None
    return render(
        request,
        f"journeys/{tab}.html",
        {
            "section": "journeys",
            "tab": tab,
            "tabs": TABS,
            "form": form,
            "catalog": catalog,
            "span": span_of(lake),
            "result_url": result_url,
            "invalid_fields": invalid_fields(form.errors),
            **context,
        },
        status_code=422 if form.errors else 200,
    )


def invalid_fields(errors: list[FieldError]) -> set[str]:
    """The fields (and step rows: `step-2`, `filter-2`) that have an error."""
    found = set()
    for error in errors:
        found.add(error.field)
        if error.row is not None:
            found.add(f"{error.field}-{error.row}")
    return found


def report(
    request: Request, tab: str, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A report: the fragment htmx puts in the tab's slot, or a page of its own when the
    address is opened directly."""
    fresh = request.url.include_query_params(**{FRESH: 1})  # the same report, computed now
    return render(
        request,
        template,
        {
            "section": "journeys",
            "tab": tab,
            "tabs": TABS,
            "words": words_of(request),
            "utc": utc,
            "fresh_url": f"{request.url.path}?{fresh.query}",
            **context,
        },
        status_code=status_code,
    )


def invalid_report(request: Request, tab: str, errors: list[FieldError]) -> HTMLResponse:
    """A report whose parameters cannot be used: 422, the errors named."""
    return report(request, tab, "journeys/invalid.html", {"errors": errors}, status_code=422)


def utc(moment: datetime) -> datetime:
    """A naive UTC time of the lake, as an aware one for the `datetime` filter."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
