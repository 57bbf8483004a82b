"""Conversion journeys, attribution's input: the touchpoints before each conversion and the
journeys that ended without one, built in DuckDB in one pass over each person's events.

- A *touchpoint* is an active event (something the customer did, not an e-mail delivered to
  them) other than the conversion event itself.
- A *conversion* is an event named `conversion` in the scope's date range; its journey holds
  the person's touchpoints after their previous conversion (of any date) and at most
  `lookback` before it, up to and including its instant. A conversion with no touchpoint
  there has the channel it happened on as its only touchpoint.
- A journey *without conversion*: a person's touchpoints in the date range after their last
  conversion (all of them when they never converted).

The scope's filters apply to every event read, conversions and touchpoints alike; the
lookback may reach before the date range. Events are ordered by time, then arrival (id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb

from omnicx.analytics.scope import Scope

TOUCHES = "journey_touches"
"""One row per touchpoint of a journey: journey (the conversion's event id; NULL for a
journey without conversion), channel, first and last (of its journey), before_us
(microseconds to its conversion; NULL without one), state and previous (the Markov chain's
states: a channel for a first-order chain, else a list of channels; previous is NULL at the
start). A conversion without touchpoints has one row, its own channel."""

CONVERSIONS = "journey_conversions"
"""journey (the conversion's event id), channel, revenue (0 when it has none)."""


def build_journeys(
    db: duckdb.DuckDBPyConnection,
    *,
    scope: Scope,
    conversion: str,
    lookback: timedelta,
    order: int = 1,
) -> None:
    """Creates the TOUCHES and CONVERSIONS views in `db` (a lake connection for `scope`);
    a Markov state holds the `order` most recent channels of a journey."""
    conditions: list[str] = []
    parameters: list[Any] = []
    for condition in scope.filters:
        conditions.append(condition.sql(parameters))
    if scope.start_at is not None:
        # Touchpoints before the range still belong to journeys converting in it.
        conditions.append("ts >= ?")
        parameters.append(scope.start_at - lookback)
    if scope.end_before is not None:
        conditions.append("ts < ?")
        parameters.append(scope.end_before)
    where = " AND ".join(conditions) or "true"
    lookback_us = lookback // timedelta(microseconds=1)
    start_us = _epoch_us(scope.start_at) if scope.start_at is not None else None
    touched_in_range = f"ts_us >= {start_us}" if start_us is not None else "true"
    converted_in_range = f"converted_us >= {start_us}" if start_us is not None else "true"
    # A journey's touchpoints are contiguous in the person's stream: the row before a
    # touchpoint is in its journey unless it is a conversion, or a touchpoint too early for
    # the journey (before the lookback, or before the date range).
    earliest = (
        f"CASE WHEN journey IS NULL THEN {start_us if start_us is not None else 'NULL'} "
        f"ELSE converted_us - {lookback_us} END"
    )
    # One window pass over each person's stream (the only sort): journeys are numbered by
    # a running count of conversions, and each row sees its neighbours. A touchpoint
    # belongs to the person's next conversion (a conversion to itself; at the same instant
    # a touchpoint sorts first, so it counts for that conversion): the conversions
    # counted up to it, plus one. The conversions are read a second time on their own
    # (few rows), numbered alike, and joined to their journeys' rows: far cheaper than
    # asking the window for each row's next conversion (a `first_value ... IGNORE NULLS`
    # over the following rows), or than storing the window's rows to join them to their
    # own conversions.
    db.execute(
        f"""
        CREATE TEMP TABLE journey_rows AS
        WITH stream AS (
            SELECT person_key AS person, event_id, epoch_us(ts) AS ts_us, channel,
                   event IS NOT DISTINCT FROM ? AS is_conversion
            FROM all_events
            WHERE (active OR event IS NOT DISTINCT FROM ?) AND {where}
        ), marks AS (
            SELECT person, ts_us, channel, is_conversion,
                count(*) FILTER (WHERE is_conversion) OVER (ordered ROWS UNBOUNDED PRECEDING)
                    + (NOT is_conversion)::BIGINT AS journey_no,
                lag(ts_us) OVER ordered AS previous_us,
                coalesce(lag(is_conversion) OVER ordered, true) AS after_conversion,
                lag(channel) OVER ordered AS previous_channel,
                coalesce(lead(is_conversion) OVER ordered, true) AS before_conversion
                {_recent_columns(order)}
            FROM stream
            WINDOW ordered AS (PARTITION BY person ORDER BY ts_us, is_conversion, event_id)
        ), conversions AS (
            SELECT person_key AS person, event_id AS journey, epoch_us(ts) AS converted_us,
                coalesce(revenue, 0) AS revenue,
                row_number() OVER (PARTITION BY person_key ORDER BY ts, event_id) AS journey_no
            FROM all_events WHERE event IS NOT DISTINCT FROM ? AND {where}
        ), ordered AS (
            SELECT m.*, c.journey, c.converted_us, c.revenue
            FROM marks m LEFT JOIN conversions c USING (person, journey_no)
        ), kept AS (
            SELECT *, {earliest} AS earliest_us FROM ordered
            WHERE CASE
                WHEN is_conversion OR journey IS NULL THEN {touched_in_range}
                ELSE converted_us - ts_us <= {lookback_us} AND {converted_in_range}
            END
        ), flagged AS (
            SELECT journey, channel, is_conversion, revenue, previous_channel,
                is_conversion AND (after_conversion OR previous_us < ts_us - {lookback_us})
                    AS untouched,
                after_conversion OR coalesce(previous_us < earliest_us, false) AS first,
                before_conversion AS last,
                converted_us - ts_us AS before_us
                {_recent_trimmed(order)}
            FROM kept
        )
        SELECT journey, channel, is_conversion, revenue, untouched, first, last, before_us,
            {_states(order)}
        FROM flagged
        """,
        [conversion, conversion, *parameters, conversion, *parameters],
    )
    db.execute(
        f"CREATE TEMP VIEW {CONVERSIONS} AS "
        "SELECT journey, channel, revenue FROM journey_rows WHERE is_conversion"
    )
    db.execute(
        f"""
        CREATE TEMP VIEW {TOUCHES} AS
        SELECT journey, channel, first, last, before_us, {"channel" if order == 1 else "state"}
            AS state, previous
        FROM journey_rows WHERE NOT is_conversion
        UNION ALL
        SELECT journey, channel, true, true, 0, {"channel" if order == 1 else "[channel]"}, NULL
        FROM journey_rows
        WHERE untouched
        """
    )


def _recent_columns(order: int) -> str:
    """For chains of order 2 and more: the `order` rows before each row (channel, whether a
    conversion, time), as lag columns (cheaper than framed lists)."""
    if order == 1:
        return ""
    return "".join(
        f", lag(channel, {i}) OVER ordered AS channel_{i}"
        f", lag(is_conversion, {i}) OVER ordered AS conversion_{i}"
        f", lag(ts_us, {i}) OVER ordered AS ts_{i}"
        for i in range(1, order + 1)
    )


def _recent_trimmed(order: int) -> str:
    """`back_j`: the channel j touchpoints back when it is still in the row's journey (no
    conversion since, not too early), else NULL; once NULL, every further one is too."""
    if order == 1:
        return ""
    columns = []
    for j in range(1, order + 1):
        touches = " AND ".join(f"NOT conversion_{i}" for i in range(1, j + 1))
        columns.append(
            f", CASE WHEN {touches} AND (earliest_us IS NULL OR ts_{j} >= earliest_us) "
            f"THEN channel_{j} END AS back_{j}"
        )
    return "".join(columns)


def _states(order: int) -> str:
    """The state a touchpoint enters and the one it leaves (NULL: the start)."""
    if order == 1:
        # One channel: plain text groups faster than a list; the state is the row's channel
        # (the views read it from there: one column less to store).
        return "CASE WHEN first THEN NULL ELSE previous_channel END AS previous"
    state = ", ".join([*(f"back_{j}" for j in range(order - 1, 0, -1)), "channel"])
    previous = ", ".join(f"back_{j}" for j in range(order, 0, -1))
    return (
        f"list_filter([{state}], lambda c: c IS NOT NULL) AS state, "
        f"CASE WHEN first THEN NULL ELSE list_filter([{previous}], lambda c: c IS NOT NULL) END "
        "AS previous"
    )


def _epoch_us(moment: datetime) -> int:
    """Microseconds since 1970 of a naive UTC datetime (how the stream compares times)."""
    return (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)
