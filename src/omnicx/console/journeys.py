"""The console's journeys section: journey analytics over the event lake, one tab per report
(/console/journeys/funnel, /paths, /retention, /stages, /channels, /attribution, /value).

Each tab's page answers at once with its form (the form's state is the address: a report can
be bookmarked and shared); the report, computed by the analytics domain over the lake, loads
after the page (htmx) from /console/journeys/<tab>/result. This module holds the funnel
builder and the people who dropped out of a funnel; journeys_reports.py the other tabs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from omnicx.access.sessions import ConsoleSession
from omnicx.analytics.funnel_results import DroppedPeople
from omnicx.analytics.funnels import FunnelError, FunnelSpec, run_dropped, run_funnel
from omnicx.analytics.lake import LakeSnapshot
from omnicx.console import journeys_charts as charts
from omnicx.console import journeys_reports
from omnicx.console.journeys_common import (
    BASE,
    PERMISSION,
    invalid_report,
    kept_report,
    lake_and_catalog,
    report,
    shell,
    words_of,
)
from omnicx.console.journeys_forms import FieldError, FunnelForm, dropped_step, read_funnel
from omnicx.console.journeys_people import people_page
from omnicx.console.security import engine_of, require

router = APIRouter()
Reader = Annotated[ConsoleSession, Depends(require(PERMISSION))]


@router.get("/journeys")
def journeys_home(session: Reader) -> RedirectResponse:
    """The section opens on the funnel builder."""
    return RedirectResponse(f"{BASE}/funnel", status_code=303)


@router.get("/journeys/funnel")
def funnel_page(request: Request, session: Reader) -> Response:
    """The funnel builder: steps (event names offered from the data), window, ordering,
    breakdown, date range. With steps chosen, the funnel loads after the page."""
    lake, catalog = lake_and_catalog(request, wait=False)
    form = read_funnel(request.query_params, catalog)
    return shell(request, "funnel", form, lake, catalog, runnable=form.submitted)


@dataclass(frozen=True, slots=True)
class _Asked:
    """A funnel report's request: the lake, the form, the drop-off step, what is wrong."""

    lake: LakeSnapshot
    form: FunnelForm
    step: int
    errors: list[FieldError]

    @property
    def spec(self) -> FunnelSpec:
        assert self.form.spec is not None  # only read once the form has no errors
        return self.form.spec


def _asked(request: Request, *, dropped: bool = False) -> _Asked:
    lake, catalog = lake_and_catalog(request)
    form = read_funnel(request.query_params, catalog)
    errors = list(form.errors)
    if not form.submitted:
        errors.append(FieldError("step", "too_few_steps", low=2))
    step = 0
    if dropped and not errors:
        step, more = dropped_step(request.query_params, form)
        errors += more
    return _Asked(lake, form, step, errors)


@router.get("/journeys/funnel/result")
def funnel_result(request: Request, session: Reader) -> Response:
    """The funnel: people per step and drop-off, conversion per breakdown value, time to
    convert."""
    asked = _asked(request)
    if asked.errors:
        return invalid_report(request, "funnel", asked.errors)
    form = asked.form
    computed = kept_report(
        request,
        asked.lake,
        ("funnel", form.query()),
        lambda: run_funnel(asked.lake, asked.spec, scope=form.range.scope()),
    )
    result = computed.value
    words = words_of(request)

    def dropped_url(step: int) -> str:
        return f"{BASE}/funnel/dropped?{form.query(dropped=step)}"

    return report(
        request,
        "funnel",
        "journeys/funnel_result.html",
        {
            "form": form,
            "computed": computed,
            "result": result,
            "dropped_urls": {s.index: dropped_url(s.index) for s in result.steps[1:]},
            "steps_chart": charts.funnel_steps(result, words, dropped_url),
            "groups_chart": charts.funnel_groups(result, words) if result.groups else None,
            "time_chart": charts.time_to_convert(result, words),
            "group_label": lambda group: charts.group_label(group, words, result.breakdown),
            "bin_label": lambda b: charts.bin_label(b.from_seconds, b.to_seconds, words),
        },
    )


def _dropped_people(request: Request, asked: _Asked) -> DroppedPeople | Response:
    if asked.errors:
        return invalid_report(request, "funnel", asked.errors)
    try:
        return kept_report(
            request,
            asked.lake,
            ("funnel-dropped", asked.form.query(dropped=asked.step)),
            lambda: run_dropped(
                asked.lake, asked.spec, step=asked.step, scope=asked.form.range.scope()
            ),
            people=True,
        ).value
    except FunnelError as exc:
        return invalid_report(
            request, "funnel", [FieldError("dropped", "invalid", reason=exc.wordings)]
        )


@router.get("/journeys/funnel/dropped")
def funnel_dropped(request: Request, session: Reader) -> Response:
    """The people who reached a step's previous step and not the step, a page at a time,
    linked to their profiles, with a CSV of all of them."""
    asked = _asked(request, dropped=True)
    dropped = _dropped_people(request, asked)
    if isinstance(dropped, Response):
        return dropped
    form, step = asked.form, asked.step
    after = request.query_params.get("after") or None
    page = people_page(engine_of(request), dropped.people, after)
    next_url = (
        f"{BASE}/funnel/dropped?{form.query(dropped=step, after=page.next_after)}"
        if page.next_after
        else None
    )
    return report(
        request,
        "funnel",
        "journeys/funnel_dropped.html",
        {
            "form": form,
            "dropped": dropped,
            "page": page,
            "next_url": next_url,
            "csv_url": f"{BASE}/funnel/dropped.csv?{form.query(dropped=step)}",
            "funnel_url": f"{BASE}/funnel?{form.query()}",
        },
    )


@router.get("/journeys/funnel/dropped.csv")
def funnel_dropped_csv(request: Request, session: Reader) -> Response:
    """Every person who dropped at the step, as CSV: profile id, when they reached the step
    before (UTC), and their page in the console."""
    asked = _asked(request, dropped=True)
    dropped = _dropped_people(request, asked)
    if isinstance(dropped, Response):
        return dropped
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["profile_id", "reached_at", "profile_url"])
    for row in dropped.rows():
        out.writerow(
            [row["profile_id"], row["reached_at"], f"/console/customers/{row['profile_id']}"]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="funnel-dropped-step-{asked.step}.csv"'
        },
    )


router.include_router(journeys_reports.router)
