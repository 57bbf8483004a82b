"""Analytics API routes for retention, lifecycle, churn points, channel performance and
cross-channel value: `/api/analytics/{retention,lifecycle,churn,channels,multichannel}`."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from omnicx.analytics.api_common import READERS, LakeDep, ScopeDep, invalid
from omnicx.analytics.channels import (
    CONVERSATIONS,
    ORDER_EVENT,
    ConversationKind,
    channel_performance,
)
from omnicx.analytics.churn import MAX_TOUCHES, churn_points, parse_days
from omnicx.analytics.lifecycle import lifecycle
from omnicx.analytics.multichannel import (
    CHANNEL_CAP,
    TOUCHPOINT_EDGES,
    multichannel_value,
    parse_edges,
)
from omnicx.analytics.retention import Period, RetentionKind, retention
from omnicx.api.auth import Caller

router = APIRouter()

MAX_PERIODS = 120
MAX_LIMIT = 1000
MAX_CHANNEL_CAP = 20

PeriodQuery = Annotated[str, Query(description="The period: day, week or month.")]
Report = dict[str, Any]
Reader = Annotated[Caller, Depends(READERS)]


def _choice(name: str, value: str, choices: type[StrEnum]) -> Any:
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise invalid(f"{name} must be one of {allowed}; {value!r} given") from None


def _within(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise invalid(f"{name} must be from {low} to {high}; {value} given")
    return value


def _named(name: str, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise invalid(f"{name} must name an event; it is empty")
    return value


@router.get(
    "/retention",
    summary="Cohort retention by first period (and first channel)",
    operation_id="analytics_retention",
)
def retention_report(
    caller: Reader,
    lake: LakeDep,
    scope: ScopeDep,
    period: PeriodQuery = "month",
    kind: Annotated[
        str,
        Query(
            description="first_time: a cohort of the people who first did the start event in "
            "the period; recurring: of everyone who did it in the period."
        ),
    ] = "first_time",
    start_event: Annotated[
        str | None, Query(description="The event that puts a person in a cohort (any active).")
    ] = None,
    return_event: Annotated[
        str | None, Query(description="The event that counts as coming back (any active).")
    ] = None,
    by: Annotated[
        str | None, Query(description="first_channel: split each cohort by entry channel.")
    ] = None,
    periods: Annotated[
        int, Query(description=f"Periods after the cohort's, 1 to {MAX_PERIODS}.")
    ] = 12,
) -> Report:
    """A grid of cohorts: their size and the people retained in periods 0..N."""
    if by not in (None, "first_channel"):
        raise invalid(f"by must be first_channel (or left out); {by!r} given")
    return retention(
        lake,
        scope,
        period=_choice("period", period, Period),
        kind=_choice("kind", kind, RetentionKind),
        start_event=_named("start_event", start_event),
        return_event=_named("return_event", return_event),
        by_first_channel=by == "first_channel",
        periods=_within("periods", periods, 1, MAX_PERIODS),
    ).to_dict()


@router.get(
    "/lifecycle",
    summary="New, returning, resurrecting and dormant people per period",
    operation_id="analytics_lifecycle",
)
def lifecycle_report(
    caller: Reader,
    lake: LakeDep,
    scope: ScopeDep,
    period: PeriodQuery = "month",
    event: Annotated[
        str | None, Query(description="The event that makes a person active (any active).")
    ] = None,
) -> Report:
    """Per period: new, returning and resurrecting people, and dormant ones (negative)."""
    return lifecycle(
        lake, scope, period=_choice("period", period, Period), event=_named("event", event)
    ).to_dict()


@router.get(
    "/churn",
    summary="Churn points: the last touches of customers who went inactive",
    operation_id="analytics_churn",
)
def churn_report(
    caller: Reader,
    lake: LakeDep,
    scope: ScopeDep,
    inactive_after: Annotated[
        str, Query(description="Inactive after this long without an active event: 90d, 12w.")
    ] = "90d",
    as_of: Annotated[
        date | None, Query(description="The day to judge on (default: the lake's last day).")
    ] = None,
    touches: Annotated[
        int, Query(description=f"Last touches in a sequence, 1 to {MAX_TOUCHES}.")
    ] = 1,
    limit: Annotated[int, Query(description=f"Churn points listed, 1 to {MAX_LIMIT}.")] = 20,
) -> Report:
    """Churned and retained people, and the last touches churned people ended on, ranked,
    with their share among retained people and the lift."""
    days = parse_days(inactive_after)
    if not days:
        raise invalid(
            f"inactive_after must be a number of days or weeks such as 90d or 12w; "
            f"{inactive_after!r} given"
        )
    return churn_points(
        lake,
        scope,
        inactive_after=days,
        as_of=as_of,
        touches=_within("touches", touches, 1, MAX_TOUCHES),
        limit=_within("limit", limit, 1, MAX_LIMIT),
    ).to_dict()


@router.get(
    "/channels",
    summary="Channel performance per period, with support response times",
    operation_id="analytics_channels",
)
def channels_report(
    caller: Reader,
    lake: LakeDep,
    scope: ScopeDep,
    period: PeriodQuery = "month",
    conversion_event: Annotated[str, Query(description="The conversion event.")] = ORDER_EVENT,
    response_event: Annotated[
        list[str] | None,
        Query(
            description="Events of an agent answering a conversation (repeatable); default "
            "Ticket Replied, Ticket Updated and Chat Replied."
        ),
    ] = None,
) -> Report:
    """Per channel and period: reach, engaged, converted people, orders, revenue, conversion
    rate, change from the previous period, and support first-response and resolution
    times; plus each channel's totals over the range."""
    kinds: tuple[ConversationKind, ...] = CONVERSATIONS
    if response_event is not None:
        for name in response_event:
            _named("response_event", name)
        kinds = tuple(k.with_responses(tuple(response_event)) for k in CONVERSATIONS)
    return channel_performance(
        lake,
        scope,
        period=_choice("period", period, Period),
        conversion_event=_named("conversion_event", conversion_event) or ORDER_EVENT,
        conversations=kinds,
    ).to_dict()


@router.get(
    "/multichannel",
    summary="Cross-channel value: customers and value by channels and touchpoints used",
    operation_id="analytics_multichannel",
)
def multichannel_report(
    caller: Reader,
    lake: LakeDep,
    scope: ScopeDep,
    order_event: Annotated[str, Query(description="The order event.")] = ORDER_EVENT,
    channel_cap: Annotated[
        int, Query(description=f"The last channel group: N or more (2 to {MAX_CHANNEL_CAP}).")
    ] = CHANNEL_CAP,
    touchpoints: Annotated[
        str,
        Query(description="Where touchpoint groups start, rising from 1: 1,5,10,20,50."),
    ] = ",".join(str(e) for e in TOUCHPOINT_EDGES),
) -> Report:
    """Share of customers (and active people) using more than one channel; people,
    customers, orders and revenue by channels used and by touchpoints."""
    edges = parse_edges(touchpoints)
    if edges is None:
        raise invalid(
            f"touchpoints must be rising whole numbers starting at 1, such as 1,5,10,20,50; "
            f"{touchpoints!r} given"
        )
    return multichannel_value(
        lake,
        scope,
        order_event=_named("order_event", order_event) or ORDER_EVENT,
        channel_cap=_within("channel_cap", channel_cap, 2, MAX_CHANNEL_CAP),
        touchpoint_edges=edges,
    ).to_dict()
