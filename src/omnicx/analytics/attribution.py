"""Multi-touch attribution: which channels get the credit for a conversion event.

Each conversion's journey (journeys.py) shares one conversion, and its revenue, among its
touchpoints' channels:

- `first_touch` / `last_touch`: all of it to the first / last touchpoint;
- `linear`: equal parts to every touchpoint;
- `time_decay`: in proportion to 2^(−Δt / half_life), Δt the time from touchpoint to conversion;
- `position_based`: 40% to the first, 40% to the last, 20% shared by those between
  (one touchpoint: 100%; two: 50/50);
- `markov`: data-driven. Journeys with and without conversion make an absorbing Markov chain
  (markov.py); each channel's credit is its removal effect's share of all removal effects,
  times the conversions (and the revenue).

A touchpoint repeated (web, web, email) counts each time. Heuristic credits of a channel add
up over conversions; every model's credits sum to the conversions and the revenue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb

from omnicx.analytics import markov
from omnicx.analytics.journeys import CONVERSIONS, TOUCHES, build_journeys
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.phrases import analytics_wording as _say
from omnicx.analytics.scope import Scope
from omnicx.wording import WordedError

ORDER_COMPLETED = "Order Completed"
HEURISTIC_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
MODELS = (*HEURISTIC_MODELS, "markov")
"""Every attribution model, in the order reports show them."""
MAX_LOOKBACK = timedelta(days=36_600)
"""A century: a longer window is a typing mistake."""
_DECAY_RANGE = 1000
"""Half-lives over which 2^(-Δt/half_life) stays a normal double (2^-1022 is the limit)."""

_SHARES = {
    "first_touch": "firsts::DOUBLE",
    "last_touch": "lasts::DOUBLE",
    "linear": "touches / journey_touches",
    "time_decay": "decay / journey_decay",
    "position_based": "CASE WHEN journey_touches = 1 THEN 1.0 "
    "WHEN journey_touches = 2 THEN 0.5 * touches "
    "ELSE 0.4 * (firsts + lasts) + 0.2 * (touches - firsts - lasts) / (journey_touches - 2) END",
}
"""Each heuristic model's share of one conversion for the touchpoints of one channel in its
journey, in SQL."""


class AttributionError(WordedError):
    """Attribution parameters that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Credit:
    """What a model credits a channel with: conversions (fractions add up) and revenue."""

    conversions: float
    revenue: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready."""
        return {"conversions": self.conversions, "revenue": self.revenue}


@dataclass(frozen=True, slots=True)
class ChannelCredit:
    """One channel's credit under each model asked for, and its Markov removal effect."""

    channel: str
    credit: Mapping[str, Credit]
    removal_effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "channel": self.channel,
            "credit": {model: credit.to_dict() for model, credit in self.credit.items()},
            "removal_effect": self.removal_effect,
        }


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """Credit per channel for `conversion` under each of `models`."""

    conversion: str
    models: tuple[str, ...]
    lookback: timedelta
    half_life: timedelta
    markov_order: int
    conversions: int
    """Conversions in the scope."""
    revenue: float
    """Their revenue (a conversion without one counts 0)."""
    journeys_without_conversion: int
    """Journeys ending in `null` in the Markov chain (people's touchpoints after their last
    conversion, or all of them, in the date range)."""
    channels: tuple[ChannelCredit, ...]
    """Best credited first under the first model."""
    conversion_probability: float | None = None
    """P(conversion) of a journey in the Markov chain (None when it was not asked for)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "conversion": self.conversion,
            "models": list(self.models),
            "lookback_days": self.lookback / timedelta(days=1),
            "half_life_days": self.half_life / timedelta(days=1),
            "markov_order": self.markov_order,
            "conversions": self.conversions,
            "revenue": self.revenue,
            "journeys_without_conversion": self.journeys_without_conversion,
            "conversion_probability": self.conversion_probability,
            "channels": [channel.to_dict() for channel in self.channels],
        }


def attribution(
    lake: LakeSnapshot,
    *,
    conversion: str = ORDER_COMPLETED,
    models: Sequence[str] = MODELS,
    lookback: timedelta = timedelta(days=30),
    half_life: timedelta = timedelta(days=7),
    markov_order: int = 1,
    scope: Scope | None = None,
) -> AttributionResult:
    """Credits each channel with the `conversion` events of the scope under each of `models`
    (see MODELS), looking back `lookback` before each conversion; `half_life` is the time
    decay model's, `markov_order` how many recent channels a Markov state remembers."""
    scope = scope or Scope()
    models = check_models(models)
    if not conversion.strip():
        raise AttributionError(_say("conversion_unnamed"))
    if lookback <= timedelta(0):
        raise AttributionError(_say("lookback_not_positive", lookback=str(lookback)))
    if lookback > MAX_LOOKBACK:
        raise AttributionError(_say("lookback_too_long", days=MAX_LOOKBACK.days))
    if half_life <= timedelta(0):
        raise AttributionError(_say("half_life_not_positive", half_life=str(half_life)))
    if not 1 <= markov_order <= markov.MAX_ORDER:
        raise AttributionError(
            _say("markov_order", low=1, high=markov.MAX_ORDER, order=markov_order)
        )
    with lake.connect(scope) as db:
        build_journeys(
            db, scope=scope, conversion=conversion, lookback=lookback, order=markov_order
        )
        count, revenue = db.execute(
            f"SELECT count(*), coalesce(sum(revenue), 0) FROM {CONVERSIONS}"
        ).fetchone() or (0, 0.0)
        credits = _heuristic_credits(db, [m for m in models if m in _SHARES], lookback, half_life)
        (nulls,) = db.execute(
            f"SELECT count(*) FROM {TOUCHES} WHERE journey IS NULL AND first"
        ).fetchone() or (0,)
        try:
            chain = _markov(db) if "markov" in models else None
        except ValueError as exc:
            raise AttributionError(_say("markov_unsolvable", detail=str(exc))) from None
    if chain is not None:
        for channel, share in chain.shares().items():
            credits.setdefault(channel, {})["markov"] = Credit(share * count, share * revenue)
    zero = Credit(0.0, 0.0)
    first = models[0]
    channels = sorted(
        credits,
        key=lambda c: (-credits[c].get(first, zero).conversions, c),
    )
    return AttributionResult(
        conversion=conversion,
        models=models,
        lookback=lookback,
        half_life=half_life,
        markov_order=markov_order,
        conversions=int(count),
        revenue=float(revenue),
        journeys_without_conversion=int(nulls),
        channels=tuple(
            ChannelCredit(
                channel,
                {model: credits[channel].get(model, zero) for model in models},
                chain.removal_effects.get(channel, 0.0) if chain is not None else None,
            )
            for channel in channels
        ),
        conversion_probability=chain.conversion_probability if chain is not None else None,
    )


def check_models(models: Sequence[str]) -> tuple[str, ...]:
    """The models asked for, without repeats; an error naming any unknown one."""
    if isinstance(models, str):
        models = [models]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise AttributionError(_say("model_unknown", model=unknown[0], models=", ".join(MODELS)))
    if not models:
        raise AttributionError(_say("no_model", models=", ".join(MODELS)))
    return tuple(dict.fromkeys(models))


def _heuristic_credits(
    db: duckdb.DuckDBPyConnection, models: list[str], lookback: timedelta, half_life: timedelta
) -> dict[str, dict[str, Credit]]:
    """Channel → model → credit, from each journey's touchpoints grouped by channel."""
    if not models:
        return {}
    half_life_us = half_life / timedelta(microseconds=1)
    # Weights 2^(-Δt/half_life) are relative: measured from the conversion they stay above
    # 2^-1000 over the lookback, else from the journey's latest touchpoint (slower, exact).
    latest, join = "0", ""
    if "time_decay" in models and lookback > _DECAY_RANGE * half_life:
        latest = "latest.before_us"
        join = (
            f"JOIN (SELECT journey, min(before_us) AS before_us FROM {TOUCHES} "
            "WHERE journey IS NOT NULL GROUP BY journey) latest USING (journey)"
        )
    sums = ", ".join(
        f"sum({m}) AS {m}_conversions, sum({m} * revenue) AS {m}_revenue" for m in models
    )
    shares = ", ".join(f"{_SHARES[m]} AS {m}" for m in models)
    rows = db.execute(
        f"""
        WITH grouped AS (
            SELECT t.journey, t.channel, count(*) AS touches,
                count(*) FILTER (t.first) AS firsts, count(*) FILTER (t.last) AS lasts,
                sum(pow(2.0, -(t.before_us - {latest}) / {half_life_us})) AS decay
            FROM {TOUCHES} t {join}
            WHERE t.journey IS NOT NULL
            GROUP BY t.journey, t.channel
        ), journeys AS (
            SELECT g.*, c.revenue,
                sum(g.touches) OVER (PARTITION BY g.journey) AS journey_touches,
                sum(g.decay) OVER (PARTITION BY g.journey) AS journey_decay
            FROM grouped g JOIN {CONVERSIONS} c USING (journey)
        ), shares AS (SELECT channel, revenue, {shares} FROM journeys)
        SELECT channel, {sums} FROM shares GROUP BY channel
        """
    ).fetchall()
    credits: dict[str, dict[str, Credit]] = {}
    for channel, *values in rows:
        credits[channel] = {
            m: Credit(float(values[2 * i]), float(values[2 * i + 1])) for i, m in enumerate(models)
        }
    return credits


def _markov(db: duckdb.DuckDBPyConnection) -> markov.MarkovResult:
    """The chain of the journeys' transitions (start → states → conversion or null)."""
    transitions: dict[tuple[markov.State, markov.State], float] = {}
    for previous, state, last, converted, count in db.execute(
        f"SELECT previous, state, last, journey IS NOT NULL, count(*) FROM {TOUCHES} GROUP BY ALL"
    ).fetchall():
        source = _state(previous) if previous is not None else markov.START_STATE
        key = (source, _state(state))
        transitions[key] = transitions.get(key, 0.0) + count
        if last:
            end = (_state(state), markov.CONVERSION_STATE if converted else markov.NULL_STATE)
            transitions[end] = transitions.get(end, 0.0) + count
    return markov.solve(transitions)


def _state(value: str | list[str]) -> markov.State:
    """A state as journeys.py stores it: one channel, or a list of them."""
    return (value,) if isinstance(value, str) else tuple(value)
