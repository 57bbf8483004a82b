"""The console's overview: events per day by channel, active customers, multichannel share,
conversion and the top churn points, refreshing themselves.

The page itself reads nothing: each block loads after it with htmx (`hx-trigger="load,
every 30s"`) from a fragment route, shows a loading indicator meanwhile, and says when its
figures were computed. Lake figures and the profile count are kept in the server process for
a short while (`overview_data`), so the polling costs little.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from enum import IntEnum
from typing import Annotated, Any, TypeVar

from babel import dates
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from omnicx.access.sessions import ConsoleSession
from omnicx.analytics.lake import LakeSnapshot, open_lake_of
from omnicx.console import charts, overview_data
from omnicx.console.i18n import DEFAULT_LANGUAGE, LANGUAGES
from omnicx.console.rendering import environment, render
from omnicx.console.security import engine_of, require
from omnicx.store.clock import utc_now
from omnicx.store.memo import Computed, Memo

router = APIRouter()
log = logging.getLogger("omnicx.console.overview")
T = TypeVar("T")

REFRESH_SECONDS = 30
"""How often the blocks reload themselves."""


class ChartDays(IntEnum):
    """The periods the events chart offers, in days."""

    month = 30
    quarter = 90


RANGES = tuple(int(choice) for choice in ChartDays)

Reader = Annotated[ConsoleSession, Depends(require("overview.read"))]
Days = Annotated[ChartDays, Query(description="The chart's period, in days: 30 or 90.")]


def _memo(request: Request) -> Memo:
    """The figures this server process keeps (one store per application)."""
    state = request.app.state
    memo: Memo | None = getattr(state, "console_overview_memo", None)
    if memo is None:
        memo = state.console_overview_memo = Memo()
    return memo


def _lake(request: Request) -> LakeSnapshot:
    """A snapshot of the server's lake (`OMNICX_LAKE_DIR`, or beside the SQLite file)."""
    return open_lake_of(request.app.state.runtime.settings.database_url)


def _today() -> date:
    return utc_now().date()


def _language(request: Request) -> str:
    language: str = getattr(request.state, "language", DEFAULT_LANGUAGE)
    return language


@router.get("/overview")
async def overview(request: Request, session: Reader, days: Days = ChartDays.month) -> Response:
    """The page: its blocks load themselves after it."""
    del session
    return render(
        request,
        "overview/page.html",
        {"section": "overview", "days": int(days), "ranges": RANGES, "refresh": REFRESH_SECONDS},
    )


@router.get("/overview/totals")
async def totals(request: Request, session: Reader) -> Response:
    """Profiles, events received and sources, from the operational database."""
    del session
    found = await run_in_threadpool(overview_data.totals, _memo(request), engine_of(request))
    return render(
        request,
        "overview/totals.html",
        {"totals": found, "now": utc_now(), "profiles_seconds": overview_data.PROFILES_SECONDS},
    )


@router.get("/overview/customers")
async def customers(request: Request, session: Reader) -> Response:
    """Active customers, conversion and multichannel share over 7 and 30 days (lake)."""
    del session
    computed = await _lake_figures(
        overview_data.active_windows, _memo(request), _lake(request), _today()
    )
    return _block(request, "overview/customers.html", computed)


@router.get("/overview/activity")
async def activity(request: Request, session: Reader, days: Days = ChartDays.month) -> Response:
    """Events per day by channel over the last 30 or 90 days, as stacked bars (lake)."""
    del session
    computed = await _lake_figures(
        overview_data.daily_events, _memo(request), _lake(request), _today(), int(days)
    )
    if computed is None:
        return _block(request, "overview/activity.html", None, days=int(days))
    language = _language(request)
    daily = computed.value
    names = _channel_names(language, list(daily.counts))
    labels = [_day_label(language, day) for day in daily.days]
    option = charts.bar(
        labels,
        {names[channel]: values for channel, values in daily.counts.items()},
        stacked=True,
        rtl=LANGUAGES[language].rtl,
    )
    if LANGUAGES[language].rtl:  # each legend entry's mark after its name, read from the right
        option["legend"] = {**option["legend"], "align": "right"}
    return _block(request, "overview/activity.html", computed, days=int(days), option=option)


@router.get("/overview/churn")
async def churn(request: Request, session: Reader) -> Response:
    """The last touches of the people who went quiet, most common first (lake)."""
    del session
    computed = await _lake_figures(overview_data.churn, _memo(request), _lake(request), _today())
    return _block(
        request,
        "overview/churn.html",
        computed,
        inactive_days=overview_data.CHURN_INACTIVE_DAYS,
        lookback_days=overview_data.CHURN_LOOKBACK_DAYS,
    )


async def _lake_figures(compute: Callable[..., Computed[T]], *args: Any) -> Computed[T] | None:
    """`compute(*args)` in a worker thread; None (logged) when it fails, so that the block
    says so instead of staying on "Loading" (htmx swaps no error answer)."""
    try:
        return await run_in_threadpool(compute, *args)
    except Exception:
        log.exception("an overview figure (%s) failed", getattr(compute, "__name__", compute))
        return None


def _block(
    request: Request, template: str, computed: Computed[Any] | None, **context: Any
) -> Response:
    """A block of the overview: its figures, or a notice that they failed."""
    return render(
        request,
        template,
        {
            "computed": computed,
            "failed": computed is None,
            "kept_seconds": overview_data.LAKE_SECONDS,
            **context,
        },
    )


def _channel_names(language: str, channels: list[str]) -> dict[str, str]:
    """Each channel's name in `language`, as the console's macros write it."""
    macros: Any = environment(language).get_template("macros.html").module
    return {channel: str(macros.channel_name(channel)).strip() for channel in channels}


def _day_label(language: str, day: date) -> str:
    """A short date for a chart's axis (`5 Jan`, `Jan 5`, as the language writes it)."""
    return dates.format_skeleton("MMMd", day, locale=language)
