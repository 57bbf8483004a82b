"""The sequence analyses (attribution, funnel, paths) by hand-written DuckDB SQL, for
bench/analytics.py: each person's events in order, on the lake's Parquet files. Shared
helpers and the canonical forms are in bench/analytics_reference.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from analytics_reference import ORDER, LakeFiles, connect, sql_events

# --------------------------------------------------------------------------- attribution

LOOKBACK_US = 30 * 86_400_000_000
HALF_LIFE_US = 7 * 86_400_000_000
HEURISTICS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def markov_chain(transitions: dict[tuple[str, str], float]) -> tuple[float, dict[str, float]]:
    """P(conversion) from the start of a first-order absorbing chain given its transition
    counts (source, target), and each channel's removal effect (a transition into a removed
    channel ends in null)."""
    channels = sorted({s for s, _ in transitions} - {START})
    states = [START, *channels]
    index = {s: i for i, s in enumerate(states)}
    moves = np.zeros((len(states), len(states)))
    converts = np.zeros(len(states))
    totals = np.zeros(len(states))
    for (source, target), count in transitions.items():
        row = index[source]
        totals[row] += count
        if target == CONVERSION:
            converts[row] += count
        elif target != NULL:
            moves[row, index[target]] += count
    totals[totals == 0] = 1.0
    moves, converts = moves / totals[:, None], converts / totals

    def reach(kept: list[int]) -> float:
        system = np.eye(len(kept)) - moves[np.ix_(kept, kept)]
        return float(np.linalg.solve(system, converts[kept])[0])

    probability = reach(list(range(len(states))))
    effects = {
        c: 1.0 - reach([i for i in range(len(states)) if i != index[c]]) / probability
        for c in channels
    }
    return probability, effects


def attribution_answer(
    totals: tuple[int, float, int],
    credits: dict[tuple[str, str], tuple[float, float]],
    transitions: dict[tuple[str, str], float],
) -> dict[str, Any]:
    """The canonical attribution answer: totals, credit per (channel, model) including the
    Markov model's, removal effects and the chain's conversion probability."""
    count, revenue, without = totals
    probability, effects = markov_chain(transitions)
    credits = dict(credits)
    total_effect = sum(effects.values())
    for channel, effect in effects.items():
        share = effect / total_effect if total_effect > 0 else 0.0
        credits[(channel, "markov")] = (share * count, share * revenue)
    return {
        "conversions": count,
        "revenue": revenue,
        "without_conversion": without,
        "credit": credits,
        "removal_effects": effects,
        "conversion_probability": probability,
    }


def attribution_sql(files: LakeFiles, threads: int) -> dict[str, Any]:
    """Every model's credit per channel for Order Completed, 30-day lookback, 7-day half-life,
    first-order Markov chain (journeys as omnicx.analytics.journeys defines them: each
    touchpoint belongs to the person's next conversion).

    One window pass over each person's stream numbers the conversions (a running count: a
    touchpoint's journey is the next one) and looks at the neighbours (is the row before a
    conversion, or too early; is the row after a conversion); the rest are joins and sums."""
    columns = (
        "epoch_us(e.ts) AS t, e.event_id, e.channel, coalesce(e.revenue, 0) AS revenue, "
        f"e.event IS NOT DISTINCT FROM '{ORDER}' AS conv"
    )
    stream = sql_events(files, columns, f"e.active OR e.event = '{ORDER}'")
    weights = {
        "first_touch": "first::DOUBLE",
        "last_touch": "last::DOUBLE",
        "linear": "1.0 / touches",
        "time_decay": "decay / decay_sum",
        "position_based": "CASE WHEN touches = 1 THEN 1.0 WHEN touches = 2 THEN 0.5 "
        "WHEN first OR last THEN 0.4 ELSE 0.2 / (touches - 2) END",
    }
    sums = ", ".join(f"sum({w}), sum(({w}) * revenue)" for w in weights.values())
    with connect(files, threads) as db:
        db.execute(f"""
            CREATE TEMP TABLE marked AS
            SELECT person, t, channel, revenue, conv, event_id,
                sum(conv::INTEGER) OVER (o ROWS UNBOUNDED PRECEDING) + (NOT conv)::INTEGER AS jno,
                lag(t) OVER o AS previous_t, coalesce(lag(conv) OVER o, true) AS after_conv,
                lag(channel) OVER o AS previous, coalesce(lead(conv) OVER o, true) AS last
            FROM ({stream}) WINDOW o AS (PARTITION BY person ORDER BY t, conv, event_id)
        """)
        db.execute(f"""
            CREATE TEMP TABLE touches AS
            WITH conversions AS (
                SELECT person, jno, event_id AS journey, t AS converted FROM marked WHERE conv
            )
            SELECT c.journey, m.channel, m.last, c.converted - m.t AS before_us,
                m.after_conv OR coalesce(m.previous_t < c.converted - {LOOKBACK_US}, false)
                    AS first,
                m.previous
            FROM marked m LEFT JOIN conversions c USING (person, jno)
            WHERE NOT m.conv AND (c.journey IS NULL OR c.converted - m.t <= {LOOKBACK_US})
            UNION ALL
            SELECT event_id, channel, true, 0, true, NULL FROM marked
            WHERE conv AND (after_conv OR previous_t < t - {LOOKBACK_US})
        """)
        count, revenue, without = db.execute(
            "SELECT count(*), coalesce(sum(revenue), 0), "
            "(SELECT count(*) FROM touches WHERE journey IS NULL AND first) FROM marked WHERE conv"
        ).fetchone() or (0, 0.0, 0)
        rows = db.execute(f"""
            WITH journeys AS (
                SELECT journey, count(*) AS touches, min(before_us) AS last_before_us
                FROM touches WHERE journey IS NOT NULL GROUP BY journey
            ),
            weighted AS (
                SELECT t.channel, t.first, t.last, j.touches, c.revenue,
                    t.journey, pow(2.0, -(t.before_us - j.last_before_us) / {HALF_LIFE_US}) AS decay
                FROM touches t JOIN journeys j USING (journey)
                JOIN (SELECT event_id AS journey, revenue FROM marked WHERE conv) c USING (journey)
            ),
            decays AS (SELECT journey, sum(decay) AS decay_sum FROM weighted GROUP BY journey)
            SELECT channel, {sums} FROM weighted JOIN decays USING (journey) GROUP BY channel
        """).fetchall()
        moves = db.execute("""
            SELECT CASE WHEN first THEN '(start)' ELSE previous END, channel, count(*)
            FROM touches GROUP BY ALL
            UNION ALL
            SELECT channel, CASE WHEN journey IS NULL THEN '(null)' ELSE '(conversion)' END,
                count(*)
            FROM touches WHERE last GROUP BY ALL
        """).fetchall()
    credits = {
        (channel, model): (float(values[2 * i]), float(values[2 * i + 1]))
        for channel, *values in rows
        for i, model in enumerate(HEURISTICS)
    }
    transitions = {(s, t): float(n) for s, t, n in moves}
    return attribution_answer((int(count), float(revenue), int(without)), credits, transitions)


# --------------------------------------------------------------------------- funnel

FUNNEL_STEPS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
WINDOW_US = 30 * 86_400_000_000


def funnel_answer(rows: Any, total_seconds: float | None) -> dict[Any, Any]:
    """The canonical funnel: people reaching each step, overall ("(all)") and per first-step
    channel, from (channel, depth, people) rows; and the converters' average time to convert."""
    counts: Counter[tuple[str, int]] = Counter()
    for channel, depth, people in rows:
        for j in range(1, int(depth) + 1):
            counts[("(all)", j)] += int(people)
            counts[(str(channel), j)] += int(people)
    return {**counts, "average_seconds_to_convert": total_seconds}


def funnel_sql(files: LakeFiles, threads: int) -> dict[Any, Any]:
    """The ordered 4-step funnel, 30-day window, breakdown by the first step's channel. Per
    step, each step event joins (ASOF) the nearest earlier event that reached the previous
    step, which carries the latest start: the chain most likely to stay in the window. Only
    the first-step events of people with a second-step event take part in the joins; the
    others' best attempt is their first first-step event.

    Events are ordered by their time in microseconds (omnicx breaks a tie by event id; two
    step events of one person in the same microsecond would count as simultaneous here)."""
    n = len(FUNNEL_STEPS)
    names = ", ".join(f"'{s}'" for s in FUNNEL_STEPS)
    step = "CASE e.event " + " ".join(f"WHEN '{s}' THEN {j}" for j, s in enumerate(FUNNEL_STEPS, 1))
    levels = [
        "level1 AS (SELECT p, t, t AS s, b FROM steps WHERE step = 1 "
        "AND p IN (SELECT p FROM steps WHERE step = 2))"
    ]
    for j in range(2, n + 1):
        levels.append(
            f"level{j} AS (SELECT x.p, x.t, q.s, q.b FROM (SELECT * FROM steps WHERE step = {j}) x "
            f"ASOF JOIN level{j - 1} q ON x.p = q.p AND x.t > q.t WHERE x.t - q.s <= {WINDOW_US})"
        )
    reached = " UNION ALL ".join(
        f"SELECT p, t, s, b, {j} AS d FROM level{j}" for j in range(2, n + 1)
    )
    with connect(files, threads) as db:
        db.execute(
            "CREATE TEMP TABLE steps AS "
            + sql_events(
                files,
                f"epoch_us(e.ts) AS t, {step} END AS step, e.channel AS b",
                f"e.event IN ({names})",
            ).replace("SELECT p.person,", "SELECT p.person AS p,")
        )
        rows = db.execute(f"""
            WITH {", ".join(levels)},
            best AS (
                SELECT p, arg_min({{'d': d, 't': t, 's': s, 'b': b}}, {{'nd': -d, 't': t}}) AS c
                FROM ({reached}) GROUP BY p
            ),
            first AS (SELECT p, arg_min(b, t) AS b FROM steps WHERE step = 1 GROUP BY p)
            SELECT coalesce(c.b, f.b), coalesce(c.d, 1), count(*),
                sum((c.t - c.s) / 1e6) FILTER (c.d = {n})
            FROM first f LEFT JOIN best USING (p) GROUP BY ALL
        """).fetchall()
    converters = sum(int(r[2]) for r in rows if r[1] == n)
    total = sum(float(r[3]) for r in rows if r[1] == n)
    return funnel_answer([r[:3] for r in rows], total / converters if converters else None)


# --------------------------------------------------------------------------- paths

PATH_DEPTH = 5
TOP_PATHS = 20


def paths_answer(counted: Any, transitions: Any) -> dict[str, Any]:
    """The canonical paths answer from (path, people) rows and (source, target, count,
    people) rows: the top paths (people, ties by path), everyone with a path, transitions."""
    ranked = sorted(((tuple(p), int(n)) for p, n in counted), key=lambda i: (-i[1], i[0]))
    return {
        "people": sum(n for _, n in ranked),
        "paths": dict(ranked[:TOP_PATHS]),
        "transitions": {(s, t): (int(c), int(n)) for s, t, c, n in transitions},
    }


def paths_sql(files: LakeFiles, threads: int) -> dict[str, Any]:
    """Channel paths of active events, consecutive repeats collapsed: the top paths of each
    person's first PATH_DEPTH channels, and the transitions. One window pass (lag) finds the
    changes of channel; a top-n aggregate takes each person's first PATH_DEPTH of them."""
    events = sql_events(files, "e.channel, e.ts, e.event_id", "e.active")
    with connect(files, threads) as db:
        db.execute(f"""
            CREATE TEMP TABLE changes AS SELECT * FROM (
                SELECT person, channel, ts, event_id,
                    lag(channel) OVER (PARTITION BY person ORDER BY ts, event_id) AS previous
                FROM ({events})
            ) WHERE previous IS DISTINCT FROM channel
        """)
        transitions = db.execute(
            "SELECT previous, channel, count(*), count(DISTINCT person) FROM changes "
            "WHERE previous IS NOT NULL GROUP BY ALL"
        ).fetchall()
        counted = db.execute(
            "SELECT path, count(*) FROM (SELECT arg_min(channel, {'ts': ts, 'id': event_id}, "
            f"{PATH_DEPTH}) AS path FROM changes GROUP BY person) GROUP BY path"
        ).fetchall()
    return paths_answer(counted, transitions)
