"""`omnicx report retention|lifecycle|churn|channels|multichannel`: cohort retention,
lifecycle, churn points, channel performance and cross-channel value."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omnicx.cli.common import console, fail
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
    from omnicx.analytics.channels import ChannelFigures
    from omnicx.analytics.multichannel import ValueGroup

PERIODS = ("day", "week", "month")
PeriodOption = Annotated[str, typer.Option("--period", help="day, week or month.")]
KIND_HELP = (
    "first-time: a cohort of the people who first did the start event in the period; "
    "recurring: of everyone who did it in the period."
)
START_HELP = "The event that puts a person in a cohort. Default: any active event."
RETURN_HELP = "The event that counts as coming back. Default: any active event."
BY_HELP = "first-channel: split each cohort by the channel people entered it on."
ACTIVE_HELP = "The event that makes a person active. Default: any active event."
INACTIVE_HELP = "Churned after this long without an active event: 90d, 12w."
AS_OF_HELP = "The day to judge on, YYYY-MM-DD. Default: the lake's last day."
TOUCHES_HELP = "Last touches in a sequence: 1, 2 or 3."
CONVERSION_HELP = "The conversion event."
RESPONSE_HELP = (
    "An event of an agent answering a ticket or chat (repeatable). Default: Ticket Replied, "
    "Ticket Updated, Chat Replied."
)
TOUCHPOINTS_HELP = "Where touchpoint groups start, rising from 1."


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `omnicx report`."""
    app.command("retention")(retention_command)
    app.command("lifecycle")(lifecycle_command)
    app.command("churn")(churn_command)
    app.command("channels")(channels_command)
    app.command("multichannel")(multichannel_command)


def _period(text: str) -> Any:
    from omnicx.analytics.retention import Period

    if text not in PERIODS:
        fail(f"--period {text!r} is not a period: use day, week or month.", BAD_INPUT)
    return Period(text)


def _event(option: str, name: str | None) -> str | None:
    if name is not None and not name.strip():
        fail(f"{option} is empty: give an event name, such as 'Order Completed'.", BAD_INPUT)
    return name


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def retention_command(
    period: PeriodOption = "month",
    kind: Annotated[str, typer.Option("--kind", help=KIND_HELP)] = "first-time",
    start_event: Annotated[
        str | None, typer.Option("--start-event", help=START_HELP, show_default=False)
    ] = None,
    return_event: Annotated[
        str | None, typer.Option("--return-event", help=RETURN_HELP, show_default=False)
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help=BY_HELP, show_default=False)] = None,
    periods: Annotated[int, typer.Option("--periods", help="Periods after the cohort's.")] = 12,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Cohort retention: of the people who started in a period, how many came back later."""
    from omnicx.analytics.retention import RetentionKind, retention

    if kind not in ("first-time", "recurring"):
        fail(f"--kind {kind!r} is not a kind: use first-time or recurring.", BAD_INPUT)
    if by not in (None, "first-channel"):
        fail(f"--by {by!r} cannot split cohorts: use first-channel.", BAD_INPUT)
    if not 1 <= periods <= 120:
        fail(f"--periods must be from 1 to 120; {periods} given.", BAD_INPUT)
    chosen = _period(period)
    _event("--start-event", start_event)
    _event("--return-event", return_event)
    scope = scope_from(start, end, where)
    report = retention(
        open_report_lake(lake, db),
        scope,
        period=chosen,
        kind=RetentionKind(kind.replace("-", "_")),
        start_event=start_event,
        return_event=return_event,
        by_first_channel=by is not None,
        periods=periods,
    )
    # A table shows the periods some cohort has reached, each cell the share retained.
    reached = max((sum(n is not None for n in c.retained) for c in report.cohorts), default=1)
    steps = range(reached if format is Format.table else periods + 1)
    rows: list[dict[str, Any]] = []
    for cohort in report.cohorts:
        row: dict[str, Any] = {"cohort": cohort.start, "first_channel": cohort.channel}
        row["size"] = cohort.size
        if format is Format.table:
            row.update({f"{period} {k}": _percent(cohort.rates[k]) for k in steps})
        else:
            row.update({f"retained_{k}": cohort.retained[k] for k in steps})
            row.update({f"rate_{k}": cohort.rates[k] for k in steps})
        rows.append(row)
    names = ["cohort", "first_channel", "size"] if by else ["cohort", "size"]
    if format is Format.table:
        names += [f"{period} {k}" for k in steps]
    else:
        names += [*(f"retained_{k}" for k in steps), *(f"rate_{k}" for k in steps)]
    title = f"{'Recurring' if kind == 'recurring' else 'First-time'} retention by {period}"
    emit(report.to_dict(), rows, format=format, title=title, columns=names)


def lifecycle_command(
    period: PeriodOption = "month",
    event: Annotated[
        str | None, typer.Option("--event", help=ACTIVE_HELP, show_default=False)
    ] = None,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Lifecycle: new, returning, resurrecting and dormant (negative) people per period."""
    from omnicx.analytics.lifecycle import lifecycle

    chosen = _period(period)
    _event("--event", event)
    scope = scope_from(start, end, where)
    report = lifecycle(open_report_lake(lake, db), scope, period=chosen, event=event)
    rows = [p.to_dict() for p in report.periods]
    emit(report.to_dict(), rows, format=format, title=f"Lifecycle by {period}")


def churn_command(
    inactive_after: Annotated[str, typer.Option("--inactive-after", help=INACTIVE_HELP)] = "90d",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help=AS_OF_HELP, show_default=False)
    ] = None,
    touches: Annotated[int, typer.Option("--touches", help=TOUCHES_HELP)] = 1,
    limit: Annotated[int, typer.Option("--limit", help="Churn points listed.")] = 20,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Churn points: the last touches of the people who went inactive, ranked, with how
    common each is among retained people (lift)."""
    from omnicx.analytics.churn import MAX_TOUCHES, churn_points, parse_days

    days = parse_days(inactive_after)
    if not days:
        fail(f"--inactive-after {inactive_after!r} is not a duration: write 90d or 12w.", BAD_INPUT)
    if not 1 <= touches <= MAX_TOUCHES:
        fail(f"--touches must be 1, 2 or 3; {touches} given.", BAD_INPUT)
    if limit < 1:
        fail(f"--limit must be at least 1; {limit} given.", BAD_INPUT)
    judged: date | None = None
    if as_of is not None:
        try:
            judged = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of {as_of!r} is not a date: write YYYY-MM-DD.", BAD_INPUT)
    scope = scope_from(start, end, where)
    report = churn_points(
        open_report_lake(lake, db),
        scope,
        inactive_after=days,
        as_of=judged,
        touches=touches,
        limit=limit,
    )
    table = format is Format.table
    rows = [
        {
            "rank": rank,
            "last_touches": " → ".join(str(t) for t in point.touches),
            "churned": point.churned,
            "churned_share": _percent(point.churned_share) if table else point.churned_share,
            "retained": point.retained,
            "retained_share": _percent(point.retained_share) if table else point.retained_share,
            "lift": (f"{point.lift:.2f}" if point.lift is not None else "")
            if table
            else point.lift,
            "churn_rate": _percent(point.churn_rate) if table else point.churn_rate,
        }
        for rank, point in enumerate(report.points, 1)
    ]
    if format is Format.table:
        console.print(
            f"As of {report.as_of or '-'}: {report.people:,} people, {report.churned:,} churned "
            f"({_percent(report.churn_rate)}) after {days} days without an active event.",
            highlight=False,
        )
        if not rows:
            console.print("Nobody churned: no churn points.")
            return
    emit(report.to_dict(), rows, format=format, title="Churn points")


def channels_command(
    period: PeriodOption = "month",
    conversion_event: Annotated[
        str, typer.Option("--conversion-event", help=CONVERSION_HELP)
    ] = "Order Completed",
    response_event: Annotated[
        list[str] | None,
        typer.Option("--response-event", help=RESPONSE_HELP, show_default=False),
    ] = None,
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Channel performance per period: reach, engaged, converted, revenue, conversion rate,
    change from the previous period, and support response and resolution times."""
    from omnicx.analytics.channels import CONVERSATIONS, ConversationKind, channel_performance

    chosen = _period(period)
    _event("--conversion-event", conversion_event)
    kinds: tuple[ConversationKind, ...] = CONVERSATIONS
    if response_event:
        responses = tuple(_event("--response-event", r) or r for r in response_event)
        kinds = tuple(k.with_responses(responses) for k in CONVERSATIONS)
    scope = scope_from(start, end, where)
    report = channel_performance(
        open_report_lake(lake, db),
        scope,
        period=chosen,
        conversion_event=conversion_event,
        conversations=kinds,
    )
    rows = [_channel_row(r, format) for r in (*report.periods, *report.totals)]
    if format is not Format.table:
        emit(report.to_dict(), rows, format=format, title="Channels")
        return
    figures = [
        "channel", "reach", "engaged", "converted", "orders", "revenue", "conversion_rate",
    ]  # fmt: skip
    emit(None, rows[len(report.periods) :], format=format, title="Channels", columns=figures)
    trend = ["period", *figures, "reach_change", "revenue_change"]
    emit(None, rows[: len(report.periods)], format=format, title=f"By {period}", columns=trend)
    support = [r for r in rows if r["conversations"]]
    if support:
        times = ["period", "channel", "conversations", "responded", "resolved"]
        times += ["first_response_h_median", "first_response_h_p90"]
        times += ["resolution_h_median", "resolution_h_p90"]
        emit(None, support, format=format, title="Support times (hours)", columns=times)


def _channel_row(row: ChannelFigures, format: Format) -> dict[str, Any]:
    support = row.support
    shown = _percent if format is Format.table else (lambda v: v)
    return {
        "period": row.period or ("all" if format is Format.table else None),
        "channel": row.channel,
        "reach": row.reach,
        "engaged": row.engaged,
        "converted": row.converted,
        "orders": row.orders,
        "revenue": row.revenue,
        "conversion_rate": shown(row.conversion_rate),
        "reach_change": shown(row.change.get("reach")),
        "revenue_change": shown(row.change.get("revenue")),
        "conversations": support.conversations if support else 0,
        "responded": support.responded if support else 0,
        "resolved": support.resolved if support else 0,
        "first_response_h_median": support.first_response_median_hours if support else None,
        "first_response_h_p90": support.first_response_p90_hours if support else None,
        "resolution_h_median": support.resolution_median_hours if support else None,
        "resolution_h_p90": support.resolution_p90_hours if support else None,
    }


def multichannel_command(
    order_event: Annotated[
        str, typer.Option("--order-event", help="The order event.")
    ] = "Order Completed",
    channel_cap: Annotated[
        int, typer.Option("--channel-cap", help="The last channel group: N or more channels.")
    ] = 4,
    touchpoints: Annotated[
        str, typer.Option("--touchpoints", help=TOUCHPOINTS_HELP)
    ] = "1,5,10,20,50",
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    lake: LakeOption = None,
    db: DbOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Cross-channel value: the share of customers using several channels, and orders and
    revenue per customer by channels and by touchpoints used."""
    from omnicx.analytics.multichannel import multichannel_value, parse_edges

    _event("--order-event", order_event)
    if not 2 <= channel_cap <= 20:
        fail(f"--channel-cap must be from 2 to 20; {channel_cap} given.", BAD_INPUT)
    edges = parse_edges(touchpoints)
    if edges is None:
        fail(
            f"--touchpoints {touchpoints!r} cannot be used: give rising whole numbers "
            "starting at 1, such as 1,5,10,20,50.",
            BAD_INPUT,
        )
    scope = scope_from(start, end, where)
    report = multichannel_value(
        open_report_lake(lake, db),
        scope,
        order_event=order_event,
        channel_cap=channel_cap,
        touchpoint_edges=edges,
    )
    by_channels = [_group_row("channels", g, format) for g in report.by_channels]
    by_touches = [_group_row("touchpoints", g, format) for g in report.by_touchpoints]
    if format is not Format.table:
        emit(report.to_dict(), by_channels + by_touches, format=format, title="Multichannel")
        return
    console.print(
        f"{report.customers:,} customers, {_percent(report.multichannel_share) or '-'} of them "
        f"on more than one channel; {report.people:,} active people, "
        f"{_percent(report.multichannel_people_share) or '-'} on more than one.",
        highlight=False,
    )
    columns = [name for name in by_channels[0] if name != "by"]
    emit(None, by_channels, format=format, title="By channels used", columns=columns)
    emit(None, by_touches, format=format, title="By touchpoints", columns=columns)


def _group_row(by: str, group: ValueGroup, format: Format) -> dict[str, Any]:
    row = {"by": by, **group.to_dict()}
    if format is Format.table:
        row["customer_rate"] = _percent(group.customer_rate)
    return row
