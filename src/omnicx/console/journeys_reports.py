"""The journeys section's tabs besides the funnel: paths, retention (with lifecycle and churn
points), stage flow, channel performance, attribution and cross-channel value. Each tab's
page answers at once with its form; its report loads after (from `<tab>/result`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnicx.access.sessions import ConsoleSession
from omnicx.analytics.attribution import MODELS, AttributionError, attribution
from omnicx.analytics.channels import channel_performance
from omnicx.analytics.churn import ChurnReport, churn_points
from omnicx.analytics.lifecycle import LifecycleReport, lifecycle
from omnicx.analytics.multichannel import multichannel_value
from omnicx.analytics.paths import PathsError, paths
from omnicx.analytics.retention import Period, RetentionKind, RetentionReport, retention
from omnicx.analytics.stage_settings_store import current_document, current_model
from omnicx.analytics.stages import PERIODS as STAGE_PERIODS
from omnicx.analytics.stages import stage_report
from omnicx.console import journeys_charts as charts
from omnicx.console.journeys_common import (
    PERMISSION,
    invalid_report,
    kept_report,
    lake_and_catalog,
    report,
    shell,
    words_of,
)
from omnicx.console.journeys_forms import (
    FieldError,
    FormReader,
    read_attribution,
    read_channels,
    read_paths,
    read_retention,
    read_stages,
    read_value,
)
from omnicx.console.security import engine_of, require

router = APIRouter()
Reader = Annotated[ConsoleSession, Depends(require(PERMISSION))]

TOP_TRANSITIONS = 25


def _page(request: Request, tab: str, read: FormReader) -> Response:
    lake, catalog = lake_and_catalog(request, wait=False)
    return shell(request, tab, read(request.query_params, catalog), lake, catalog)


@router.get("/journeys/paths")
def paths_page(request: Request, session: Reader) -> Response:
    """Paths between channels or events, from or to a chosen step."""
    return _page(request, "paths", read_paths)


@router.get("/journeys/paths/result")
def paths_result(request: Request, session: Reader) -> Response:
    """The top paths as a Sankey diagram, and the transitions between channels or events."""
    lake, catalog = lake_and_catalog(request)
    form = read_paths(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "paths", form.errors)
    try:
        computed = kept_report(
            request,
            lake,
            ("paths", form.query()),
            lambda: paths(
                lake,
                by="event" if form.by == "event" else "channel",
                start_at=form.step if form.direction == "from" else None,
                end_at=form.step if form.direction == "to" else None,
                depth=form.depth,
                top=form.top,
                collapse_repeats=form.repeats == "merge",
                scope=form.range.scope(),
            ),
        )
    except PathsError as exc:
        return invalid_report(
            request, "paths", [FieldError("step", "invalid", reason=exc.wordings)]
        )
    result = computed.value
    words = words_of(request)
    return report(
        request,
        "paths",
        "journeys/paths_result.html",
        {
            "form": form,
            "computed": computed,
            "result": result,
            "transitions": result.transitions[:TOP_TRANSITIONS],
            "sankey": charts.paths_sankey(result, words) if result.links else None,
            "heatmap": charts.transitions_heatmap(result, words) if result.transitions else None,
            "node_name": (lambda name: words.channel(name))
            if form.by == "channel"
            else (lambda name: name),
        },
    )


@router.get("/journeys/retention")
def retention_page(request: Request, session: Reader) -> Response:
    """Cohort retention by first period and first channel, lifecycle, churn points."""
    return _page(request, "retention", read_retention)


@router.get("/journeys/retention/result")
def retention_result(request: Request, session: Reader) -> Response:
    """The retention grid (heatmap and table), lifecycle per period, churn points."""
    lake, catalog = lake_and_catalog(request)
    form = read_retention(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "retention", form.errors)

    def compute() -> tuple[RetentionReport, LifecycleReport, ChurnReport]:
        scope, period = form.range.scope(), Period(form.period)
        grid = retention(
            lake,
            scope,
            period=period,
            kind=RetentionKind(form.kind),
            start_event=form.start_event or None,
            return_event=form.return_event or None,
            by_first_channel=form.by == "first_channel",
            periods=form.periods,
        )
        cycle = lifecycle(lake, scope, period=period, event=form.return_event or None)
        churn = churn_points(
            lake,
            scope,
            inactive_after=form.inactive_after,
            as_of=form.range.last,
            touches=form.touches,
        )
        return grid, cycle, churn

    computed = kept_report(request, lake, ("retention", form.query()), compute)
    grid, cycle, churn = computed.value
    words = words_of(request)
    return report(
        request,
        "retention",
        "journeys/retention_result.html",
        {
            "form": form,
            "computed": computed,
            "grid": grid,
            "average": grid.average(),
            "cycle": cycle,
            "churn": churn,
            "heatmap": charts.retention_heatmap(grid, words) if grid.cohorts else None,
            "lifecycle_chart": charts.lifecycle_bars(cycle, words) if cycle.periods else None,
        },
    )


@router.get("/journeys/stages")
def stages_page(request: Request, session: Reader) -> Response:
    """People per journey stage over time, and the flows between stages."""
    return _page(request, "stages", read_stages)


@router.get("/journeys/stages/result")
def stages_result(request: Request, session: Reader) -> Response:
    """Stage counts per period (stacked bars), flows (Sankey), moves made in the range."""
    lake, catalog = lake_and_catalog(request)
    form = read_stages(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "stages", form.errors)
    with engine_of(request).connect() as connection:
        model, document = current_model(connection), current_document(connection)
    period = next(p for p in STAGE_PERIODS if p == form.period)
    computed = kept_report(
        request,
        lake,
        ("stages", form.query(), document),
        lambda: stage_report(lake, form.range.scope(), model=model, period=period),
    )
    found = computed.value
    words = words_of(request)
    periods = sorted({p.period for p in found.periods})
    people = {(p.period, p.stage): p for p in found.periods}
    return report(
        request,
        "stages",
        "journeys/stages_result.html",
        {
            "form": form,
            "computed": computed,
            "found": found,
            "periods": periods,
            "people": people,
            "sankey": charts.stage_sankey(found, words) if found.flows.links else None,
            "bars": charts.stage_periods(found, words) if found.periods else None,
            "stage_name": lambda stage: charts.stage_name(stage, words),
        },
    )


@router.get("/journeys/channels")
def channels_page(request: Request, session: Reader) -> Response:
    """Channel performance per period."""
    return _page(request, "channels", read_channels)


@router.get("/journeys/channels/result")
def channels_result(request: Request, session: Reader) -> Response:
    """Per channel: reach, engaged, conversions, revenue, conversion rate and support times
    over the range, and their trends per period."""
    lake, catalog = lake_and_catalog(request)
    form = read_channels(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "channels", form.errors)
    computed = kept_report(
        request,
        lake,
        ("channels", form.query()),
        lambda: channel_performance(
            lake,
            form.range.scope(),
            period=Period(form.period),
            conversion_event=form.conversion_event,
        ),
    )
    found = computed.value
    words = words_of(request)
    periods = sorted({f.period for f in found.periods if f.period})
    figures = {(f.channel, f.period): f for f in found.periods}
    trends = {
        measure: charts.channel_trend(found, measure, words) for measure in charts.CHANNEL_MEASURES
    }
    return report(
        request,
        "channels",
        "journeys/channels_result.html",
        {
            "form": form,
            "computed": computed,
            "found": found,
            "periods": periods,
            "figures": figures,
            "trends": trends if periods else None,
            "currency": lake.currency.base if lake.currency else None,
        },
    )


@router.get("/journeys/attribution")
def attribution_page(request: Request, session: Reader) -> Response:
    """The attribution models side by side for a conversion event."""
    return _page(request, "attribution", read_attribution)


@router.get("/journeys/attribution/result")
def attribution_result(request: Request, session: Reader) -> Response:
    """Credit per channel under each model: grouped bars and a table."""
    lake, catalog = lake_and_catalog(request)
    form = read_attribution(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "attribution", form.errors)
    try:
        computed = kept_report(
            request,
            lake,
            ("attribution", form.query()),
            lambda: attribution(
                lake,
                conversion=form.conversion,
                models=MODELS,
                lookback=timedelta(days=form.lookback_days),
                half_life=timedelta(days=form.half_life_days),
                markov_order=form.markov_order,
                scope=form.range.scope(),
            ),
        )
    except AttributionError as exc:
        return invalid_report(
            request, "attribution", [FieldError("conversion", "invalid", reason=exc.wordings)]
        )
    result = computed.value
    words = words_of(request)
    return report(
        request,
        "attribution",
        "journeys/attribution_result.html",
        {
            "form": form,
            "computed": computed,
            "result": result,
            "chart": charts.attribution_bars(result, words) if result.channels else None,
            "currency": lake.currency.base if lake.currency else None,
        },
    )


@router.get("/journeys/value")
def value_page(request: Request, session: Reader) -> Response:
    """Cross-channel value: multichannel customers and what they buy."""
    return _page(request, "value", read_value)


@router.get("/journeys/value/result")
def value_result(request: Request, session: Reader) -> Response:
    """Share of multichannel customers; orders and revenue per customer by channels and by
    touchpoints used."""
    lake, catalog = lake_and_catalog(request)
    form = read_value(request.query_params, catalog)
    if form.errors:
        return invalid_report(request, "value", form.errors)
    computed = kept_report(
        request,
        lake,
        ("value", form.query()),
        lambda: multichannel_value(lake, form.range.scope(), order_event=form.order_event),
    )
    found = computed.value
    words = words_of(request)
    context: dict[str, Any] = {
        "form": form,
        "computed": computed,
        "found": found,
        "revenue_chart": charts.value_bars(found, words) if found.customers else None,
        "orders_chart": charts.value_orders(found, words) if found.customers else None,
        "currency": lake.currency.base if lake.currency else None,
    }
    return report(request, "value", "journeys/value_result.html", context)
