"""`values.compare` as DuckDB SQL, operator by operator (for batch_sql).

`compare_sql` follows `values.compare` branch by branch over a `Value`'s readings, with the
condition's operands read by `values.operand` itself, so both sides agree on what a condition
value means. Every condition comes out as a BOOLEAN that is never NULL: SQL's three-valued
logic would otherwise turn `not` of an unknown into unknown, where Python says true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from omnicx.audiences.batch_sql_text import FALSE, Sql, ex, quote
from omnicx.audiences.batch_sql_values import Value, element_define, micros
from omnicx.audiences.values import Operand, operand


def literal(wanted: Operand) -> str:
    """An operand as a SQL literal of the type its reading has."""
    value = wanted.value
    if wanted.kind == "bool":
        return "true" if value else "false"
    if wanted.kind == "number":
        assert isinstance(value, float)
        # repr is the shortest text that reads back as the same double.
        return f"CAST('{value!r}' AS DOUBLE)"
    if wanted.kind == "instant":
        assert isinstance(value, datetime)
        return f"make_timestamp(CAST({micros(value)} AS BIGINT))"
    if wanted.kind == "date":
        assert isinstance(value, date)
        return f"DATE '{value.isoformat()}'"
    return quote(str(value))


def _or(parts: Iterable[Sql]) -> Sql:
    found = [p for p in parts if p is not FALSE]
    if not found:
        return FALSE
    return ex("(" + " OR ".join(str(p) for p in found) + ")", *found)


def _not(part: Sql) -> Sql:
    return ex(f"(NOT {part})", part)


def _equal(value: Value, wanted: Operand) -> Sql:
    """`values._equal`: collections read as nothing, so a non-NULL reading is enough."""
    return _equal_any(value, [wanted])


def _equal_any(value: Value, listed: list[Operand]) -> Sql:
    """Any of `_equal(value, w)`: one reading and one IN list per kind of operand."""
    by_kind: dict[str, list[str]] = {}
    for wanted in listed:
        by_kind.setdefault(wanted.kind, []).append(literal(wanted))
    parts = []
    for kind, literals in by_kind.items():
        found = value.reading(kind)
        if found is not None:
            parts.append(ex(f"coalesce({found} IN ({', '.join(literals)}), false)", found))
    return _or(parts)


def _any_element(value: Value, holds: Callable[[Value], Sql]) -> Sql:
    parts = []
    for items, element in value.element_lists():
        test = holds(element(element_define(value.define, items), ex(f"{items}[_i]", items)))
        if test is FALSE:
            continue
        parts.append(
            ex(
                f"coalesce(list_bool_or(list_transform({items}, lambda _x, _i: {test})), false)",
                items,
                test,
            )
        )
    return _or(parts)


def _ordered(value: Value, op: str, wanted: Operand) -> Sql:
    if wanted.kind not in ("number", "date", "instant"):
        return FALSE
    found = value.reading(wanted.kind)
    if found is None:
        return FALSE
    sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return ex(f"coalesce({found} {sign} {literal(wanted)}, false)", found)


def compare_sql(op: str, value: Value, wanted: Any) -> Sql:
    """`values.compare(op, actual, wanted)` for every person at once."""
    if op == "exists":
        return value.present()
    if op == "not_exists":
        return _not(value.present())
    if op == "neq":
        return _not(compare_sql("eq", value, wanted))
    if op == "not_in":
        return _not(compare_sql("in", value, wanted))
    if op == "eq":
        return _equal(value, operand(wanted))
    if op == "in":
        listed = [operand(w) for w in wanted]
        alone = _equal_any(value, listed)
        return _or([alone, _any_element(value, lambda e: _equal_any(e, listed))])
    if op in ("contains", "starts_with"):
        target = operand(wanted, as_text=True)
        text = value.reading("text") if target.kind == "text" else None
        function = "contains" if op == "contains" else "starts_with"
        own = FALSE
        if text is not None:
            own = ex(f"coalesce({function}({text}, {literal(target)}), false)", text)
        if op == "starts_with":
            return own
        exact = operand(wanted)
        return _or([own, _any_element(value, lambda e: _equal(e, exact))])
    if op == "between":
        low, high = operand(wanted[0]), operand(wanted[1])
        if low.kind != high.kind:
            raise ValueError(f"between needs two values of one kind, not {wanted!r}")
        found = value.reading(low.kind)
        if found is None:
            return FALSE
        return ex(f"coalesce({found} BETWEEN {literal(low)} AND {literal(high)}, false)", found)
    if op in ("gt", "gte", "lt", "lte"):
        return _ordered(value, op, operand(wanted))
    raise ValueError(f"unknown operator {op!r}")
