"""Attribution computed the plain way, to check omnicx.analytics.attribution: journeys one
person at a time, each model's credit one conversion at a time, and the Markov chain's
removal effects from its fundamental matrix (a different computation from markov.py's)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import numpy as np

from tests.analytics.reference_paths import Event


@dataclass(frozen=True)
class Journey:
    """Touchpoints (channel, time) in order, and the conversion ending it (None: null)."""

    touches: tuple[tuple[str, datetime], ...]
    converted_at: datetime | None = None
    revenue: float = 0.0


def journeys(
    events: Iterable[Event],
    *,
    conversion: str = "Order Completed",
    lookback: timedelta = timedelta(days=30),
    start: date | None = None,
    end: date | None = None,
    keep: Callable[[Event], bool] = lambda e: True,
) -> list[Journey]:
    """Every conversion's journey in the date range, then the journeys without conversion."""
    start_at = datetime.combine(start, time()) if start else None
    end_before = datetime.combine(end + timedelta(days=1), time()) if end else None
    by_person: dict[str, list[Event]] = {}
    for event in events:
        if keep(event) and (end_before is None or event.row.ts < end_before):
            by_person.setdefault(event.person, []).append(event)
    converting: list[Journey] = []
    nulls: list[Journey] = []
    for person in sorted(by_person):
        stream = sorted(
            by_person[person],
            key=lambda e: (e.row.ts, e.row.event == conversion, e.event_id),
        )
        pending: list[Event] = []
        for event in stream:
            row = event.row
            if row.event == conversion:
                if start_at is None or row.ts >= start_at:
                    window = [
                        (e.row.channel, e.row.ts) for e in pending if row.ts - e.row.ts <= lookback
                    ]
                    converting.append(
                        Journey(
                            tuple(window or [(row.channel, row.ts)]), row.ts, row.revenue or 0.0
                        )
                    )
                pending = []
            elif row.active:
                pending.append(event)
        trailing = [
            (e.row.channel, e.row.ts) for e in pending if start_at is None or e.row.ts >= start_at
        ]
        if trailing:
            nulls.append(Journey(tuple(trailing)))
    return converting + nulls


def shares(journey: Journey, model: str, half_life: timedelta) -> list[float]:
    """Each touchpoint's share of the journey's conversion under a heuristic model."""
    n = len(journey.touches)
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position_based":
        if n == 1:
            return [1.0]
        if n == 2:
            return [0.5, 0.5]
        return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    if model == "time_decay":
        assert journey.converted_at is not None
        weights = [2.0 ** (-((journey.converted_at - ts) / half_life)) for _, ts in journey.touches]
        return [w / sum(weights) for w in weights]
    raise AssertionError(model)


def heuristic_credits(
    all_journeys: Iterable[Journey], model: str, half_life: timedelta = timedelta(days=7)
) -> dict[str, tuple[float, float]]:
    """Channel → (conversions, revenue) credited by a heuristic model."""
    credit: dict[str, list[float]] = {}
    for journey in all_journeys:
        if journey.converted_at is None:
            continue
        for (channel, _), share in zip(
            journey.touches, shares(journey, model, half_life), strict=True
        ):
            entry = credit.setdefault(channel, [0.0, 0.0])
            entry[0] += share
            entry[1] += share * journey.revenue
    return {channel: (c, r) for channel, (c, r) in credit.items()}


def aggregate(all_journeys: Iterable[Journey]) -> dict[tuple[str, ...], tuple[int, int]]:
    """Channel paths → (conversions, nulls), as the mta package's data set has them."""
    out: dict[tuple[str, ...], list[int]] = {}
    for journey in all_journeys:
        entry = out.setdefault(tuple(c for c, _ in journey.touches), [0, 0])
        entry[0 if journey.converted_at is not None else 1] += 1
    return {path: (c, n) for path, (c, n) in out.items()}


def exact_removal_effects(
    paths: Mapping[tuple[str, ...], tuple[float, float]], order: int = 1
) -> tuple[float, dict[str, float]]:
    """P(conversion) and each channel's removal effect, from the chain's fundamental matrix
    N = (I − Q)⁻¹ and absorption probabilities B = N·R; a channel is removed by rebuilding
    the chain with every transition into a state holding it sent to null."""
    counts: dict[tuple[tuple[str, ...], tuple[str, ...]], float] = {}
    for path, (conversions, nulls) in paths.items():
        states = [("<start>",)] + [path[max(0, i + 1 - order) : i + 1] for i in range(len(path))]
        for a, b in pairwise(states):
            counts[a, b] = counts.get((a, b), 0.0) + conversions + nulls
        counts[states[-1], ("<conversion>",)] = (
            counts.get((states[-1], ("<conversion>",)), 0.0) + conversions
        )
        counts[states[-1], ("<null>",)] = counts.get((states[-1], ("<null>",)), 0.0) + nulls
    channels = sorted({c for path in paths for c in path})
    if not counts:
        return 0.0, {}
    base = _absorbed(counts, removed=None)
    effects = {c: 1.0 - _absorbed(counts, removed=c) / base if base else 0.0 for c in channels}
    return base, effects


def _absorbed(
    counts: Mapping[tuple[tuple[str, ...], tuple[str, ...]], float], removed: str | None
) -> float:
    rebuilt: dict[tuple[tuple[str, ...], tuple[str, ...]], float] = {}
    for (a, b), count in counts.items():
        if removed is not None and removed in a:
            continue
        target = ("<null>",) if removed is not None and removed in b else b
        rebuilt[a, target] = rebuilt.get((a, target), 0.0) + count
    transient = sorted({a for a, _ in rebuilt})
    absorbing = [("<conversion>",), ("<null>",)]
    index = {s: i for i, s in enumerate(transient)}
    q = np.zeros((len(transient), len(transient)))
    r = np.zeros((len(transient), 2))
    totals: dict[tuple[str, ...], float] = {}
    for (a, _), count in rebuilt.items():
        totals[a] = totals.get(a, 0.0) + count
    for (a, b), count in rebuilt.items():
        if b in absorbing:
            r[index[a], absorbing.index(b)] += count / totals[a]
        else:
            q[index[a], index[b]] += count / totals[a]
    fundamental = np.linalg.inv(np.eye(len(transient)) - q)
    absorption = fundamental @ r
    return float(absorption[index[("<start>",)], 0])
