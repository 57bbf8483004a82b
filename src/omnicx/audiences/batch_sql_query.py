"""The query batch_sql compiles: hits counted per person, readings in layers, segments.

Shape of the query: `counts` aggregates the hits once, one count per (key, window) that any
condition uses; `base` joins them to the people; then layers of projections, each adding the
columns that need only earlier ones (a trait's raw text, then its JSON type, then its string,
then its readings...), segment columns among them; the last SELECT names the segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from omnicx.audiences.batch_sql_compare import compare_sql
from omnicx.audiences.batch_sql_text import FALSE, Sql, ex, identifier, quote
from omnicx.audiences.batch_sql_values import (
    InstantValue,
    JsonValue,
    NumberValue,
    TextListValue,
    TextValue,
    Value,
    micros,
)
from omnicx.audiences.definition import (
    COMPUTED_TRAITS,
    AllOf,
    AnyOf,
    ComputedCondition,
    Condition,
    ConsentCondition,
    Count,
    EventCondition,
    IdentityCondition,
    NotOf,
    SegmentCondition,
    TraitCondition,
    Window,
)
from omnicx.store.clock import as_utc

_COUNT_SIGNS: Final = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class Query:
    """The query being built: columns by layer, event counts, segment columns."""

    def __init__(self, now: datetime, people: str, hits: str) -> None:
        self.now = micros(as_utc(now))
        self.people, self.hits = people, hits
        self.layers: list[list[tuple[str, str]]] = []
        self.columns: dict[str, Sql] = {}
        self.counts: dict[tuple[str, str], str] = {}
        self.values: dict[tuple[str, str], Value] = {}
        self.segments: dict[str, Sql] = {}

    def define(self, fragment: Sql, hint: str) -> Sql:
        """A column holding `fragment`, readable one layer after the fragment's; the same
        expression is computed once whatever asks for it."""
        found = self.columns.get(fragment.text)
        if found is None:
            name = f"__{hint}{len(self.columns)}"
            while len(self.layers) <= fragment.layer:
                self.layers.append([])
            self.layers[fragment.layer].append((name, fragment.text))
            found = self.columns[fragment.text] = Sql(name, fragment.layer + 1)
        return found

    def count(self, condition: EventCondition) -> Sql:
        """The column counting the person's hits of the condition's key in its window."""
        window = self._window(condition.within)
        name = self.counts.setdefault((condition.key, window), f"__n{len(self.counts)}")
        return Sql(name)

    def _window(self, within: Window | None) -> str:
        # Hits are compared as microseconds since the epoch (`us`), as count_at compares
        # datetimes, and only hits up to now are aggregated at all (future-stamped ones do
        # not count yet): so (now - span, now] for a sliding window, [start, end) for a
        # fixed one, and no test without one.
        if within is None:
            return ""
        span = within.span
        if span is not None:
            return f" AND us > {self.now - span // timedelta(microseconds=1)}"
        bounds = within.bounds
        assert bounds is not None
        start, end = (micros(b) for b in bounds)
        return f" AND us >= {start} AND us < {end}"

    def trait(self, name: str) -> Value:
        key = ("trait", name)
        if key not in self.values:
            raw = self.define(Sql(f"traits[{quote(name)}]"), "raw")
            self.values[key] = JsonValue(raw, self.define, top=True)
        return self.values[key]

    def computed(self, name: str) -> Value:
        kind = COMPUTED_TRAITS.get(name)
        if kind is None:
            raise ValueError(f"unknown computed trait {name!r} (parse_definition refuses it)")
        key = ("computed", name)
        if key not in self.values:
            column = Sql(identifier(name))
            value: Value
            if kind == "instant":
                value = InstantValue(column, self.define)
            elif kind == "number":
                value = NumberValue(column, self.define)
            elif kind == "text":
                value = TextValue(column, self.define)
            elif kind == "set":
                value = TextListValue(column, self.define)
            else:  # an object: only whether there is one
                value = JsonValue(column, self.define, top=True)
            self.values[key] = value
        return self.values[key]

    def condition(self, condition: Condition) -> Sql:
        """The condition as a BOOLEAN that is never NULL."""
        if isinstance(condition, AllOf | AnyOf):
            every = isinstance(condition, AllOf)
            children = condition.all if isinstance(condition, AllOf) else condition.any
            parts = [self.condition(c) for c in children]
            joiner = " AND " if every else " OR "
            return ex("(" + joiner.join(str(p) for p in parts) + ")", *parts)
        if isinstance(condition, NotOf):
            inner = self.condition(condition.not_)
            return ex(f"(NOT {inner})", inner)
        if isinstance(condition, TraitCondition):
            return compare_sql(condition.op, self.trait(condition.trait), condition.value)
        if isinstance(condition, ComputedCondition):
            return compare_sql(condition.op, self.computed(condition.computed), condition.value)
        if isinstance(condition, EventCondition):
            return _event(condition, self.count(condition))
        if isinstance(condition, IdentityCondition):
            return _listed("identities", condition.identity, condition.present)
        if isinstance(condition, ConsentCondition):
            wanted = condition.consent
            if "/" in wanted.channel:  # no stored consent has one (facts_to_arrow refuses it)
                return _negated(FALSE, condition.granted)
            return _listed("consents", f"{wanted.channel}/{wanted.purpose}", condition.granted)
        if isinstance(condition, SegmentCondition):
            column = self.segments.get(condition.segment)
            if column is None:
                return _listed("memberships", condition.segment, condition.member)
            return _negated(column, condition.member)
        raise TypeError(f"not a condition: {condition!r}")

    def sql(self, keys: Sequence[str]) -> str:
        # Names of our own (double underscore) cannot hide the caller's tables.
        ctes = [f"__base AS ({self._base()})"]
        previous = "__base"
        for n, definitions in enumerate(self.layers):
            columns = ", ".join(f"{text} AS {name}" for name, text in definitions)
            ctes.append(
                f"__layer{n} AS (SELECT *{', ' if columns else ''}{columns} FROM {previous})"
            )
            previous = f"__layer{n}"
        if self.counts:
            ctes.insert(0, f"__counts AS ({self._counts()})")
        results = "".join(f", {self.segments[k]} AS {identifier(k)}" for k in keys)
        return "WITH " + ",\n".join(ctes) + f"\nSELECT person_id{results} FROM {previous}"

    def _counts(self) -> str:
        # One pass over the hits, one count per (key, window) any condition uses. count_if
        # rather than count(*) FILTER: DuckDB runs a FILTER clause as its own selection per
        # aggregate, measured 4.5 times slower with the benchmark's 66 counts.
        # Hits of other keys only cost their scan: `key IN (...)` first was a join, slower.
        counts = ", ".join(
            f"count_if(key = {quote(key)}{window}) AS {name}"
            for (key, window), name in self.counts.items()
        )
        return (
            f"SELECT person_id, {counts} FROM (SELECT person_id, key, epoch_us(ts) AS us "
            f"FROM {identifier(self.hits)}) WHERE us <= {self.now} GROUP BY person_id"
        )

    def _base(self) -> str:
        people = f"SELECT p.* FROM {identifier(self.people)} p"
        if not self.counts:
            return people
        counts = "".join(f", coalesce(c.{n}, 0) AS {n}" for n in self.counts.values())
        return (
            f"SELECT p.*{counts} FROM {identifier(self.people)} p "
            "LEFT JOIN __counts c ON c.person_id = p.person_id"
        )


def _negated(holds: Sql, wanted: bool) -> Sql:
    return holds if wanted else ex(f"(NOT {holds})", holds)


def _listed(column: str, item: str, wanted: bool) -> Sql:
    return _negated(Sql(f"coalesce(list_contains({column}, {quote(item)}), false)"), wanted)


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a count must be a number, not {value!r}")
    return str(value) if isinstance(value, int) else f"CAST('{value!r}' AS DOUBLE)"


def _count_holds(count: Count, n: Sql) -> Sql:
    if count.op == "between":
        low, high = count.value
        return ex(f"({n} BETWEEN {_number(low)} AND {_number(high)})", n)
    return ex(f"({n} {_COUNT_SIGNS[count.op]} {_number(count.value)})", n)


def _event(condition: EventCondition, n: Sql) -> Sql:
    """evaluate._event_holds on the count of hits in the window."""
    if not condition.did:
        return ex(f"({n} = 0)", n)
    if condition.count is None:
        return ex(f"({n} >= 1)", n)
    return _count_holds(condition.count, n)
