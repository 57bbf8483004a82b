"""The segment builder's form: rows of conditions in groups, to and from the definition's
JSON form (docs/audiences-definitions.md), and each problem the domain finds put back on
the row (and the field) it came from.

Every row has a path (`c` the outer group, `c-0` its first row, `c-0-2` the third row of
that group...) that prefixes its fields' names (`c-0.kind`, `c-0.event`, `c-0.where-1.op`),
so that the form describes the tree without any script. Paths stay stable while the form is
edited (removing a row leaves a gap), which keeps the reader's focus where it was.

Values are typed as text: `12` and `12.5` are numbers, `true` / `false` yes-or-no, anything
else text (`"12"` in double quotes is the text 12); lists (`is one of`) are separated by
commas, and a value holding a comma is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from omnicx.audiences.errors import Problem

ROOT: Final = "c"
LEAF_KINDS: Final = ("event", "trait", "computed", "consent", "identity", "segment")
"""The kinds of condition a row can be (a group is the other kind of row)."""
GROUP: Final = "group"
MAX_GROUP_DEPTH: Final = 3
"""Groups the builder lets a reader nest (the language allows deeper: such definitions
still show and save)."""
TIMES: Final = ("any", "gte", "lte", "eq", "gt", "lt", "between")
"""How often an event happened: `any` is at least once (no count)."""
WINDOWS: Final = ("ever", "last_days", "last_hours", "between")
NO_VALUE_OPS: Final = frozenset({"exists", "not_exists"})
LIST_OPS: Final = frozenset({"in", "not_in"})
LEAF_FIELDS: Final = (
    *("event", "did", "times", "n", "n2", "window", "span", "start", "end"),
    *("trait", "computed", "op", "value", "value2"),
    *("identity", "present", "consent_channel", "purpose", "granted", "segment", "member"),
)
FILTER_FIELDS: Final = ("property", "op", "value", "value2")
_PATH: Final = re.compile(r"^c(-[0-9]{1,4}){0,12}$")
_FILTER: Final = re.compile(r"^(c(?:-[0-9]{1,4}){0,12})\.where-([0-9]{1,3})\.([a-z0-9]+)$")
_NUMBER: Final = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_ITEM: Final = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,]*?)\s*(,|$)')
MAX_ROWS: Final = 200


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem on a row: the field it is about (None: the row as a whole), and either the
    domain's message or one of the builder's own `code`s (the template words those)."""

    field: str | None
    message: str = ""
    code: str = ""


@dataclass(slots=True)
class Row:
    """A row of the builder: a group of rows or one condition."""

    path: str
    kind: str
    negate: bool = False
    match: str = "all"
    children: list[Row] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    filters: list[dict[str, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    json_path: str = ""

    @property
    def is_group(self) -> bool:
        return self.kind == GROUP

    @property
    def depth(self) -> int:
        """0 for the outer group."""
        return self.path.count("-")

    def value(self, name: str, default: str = "") -> str:
        """A field's text as typed."""
        return self.values.get(name, default)

    def error(self, name: str | None) -> list[RowError]:
        """The row's problems about field `name` (None: about the row as a whole)."""
        return [e for e in self.errors if e.field == name]

    def walk(self) -> Iterable[Row]:
        """This row and every row inside it, parents first."""
        yield self
        for child in self.children:
            yield from child.walk()


def blank_leaf(path: str, kind: str = "event") -> Row:
    """An empty condition row."""
    return Row(path=path, kind=kind, values={"did": "did", "times": "any", "window": "ever"})


def blank_form() -> Row:
    """A new segment's conditions: one empty condition in an `all` group."""
    return Row(path=ROOT, kind=GROUP, children=[blank_leaf(f"{ROOT}-0")])


# --- Reading the posted form -------------------------------------------------------------


def rows_from_form(form: Mapping[str, Sequence[str]]) -> Row:
    """The rows the posted form describes (`form`: field name -> its values); a form without
    rows gives a blank one."""
    kinds = {
        name.removesuffix(".kind"): values[-1]
        for name, values in form.items()
        if name.endswith(".kind") and _PATH.match(name.removesuffix(".kind")) and values
    }
    if ROOT not in kinds or len(kinds) > MAX_ROWS:
        return blank_form()
    rows: dict[str, Row] = {}
    for path, kind in kinds.items():
        if kind != GROUP and kind not in LEAF_KINDS:
            kind = "event"
        rows[path] = _row_from_form(path, kind, form)
    rows[ROOT].kind = GROUP
    for path in sorted(rows, key=_order):
        if path == ROOT:
            continue
        parent = rows.get(path.rsplit("-", 1)[0])
        if parent is not None and parent.is_group and _reachable(path, rows):
            parent.children.append(rows[path])
    return rows[ROOT]


def _order(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split("-")[1:])


def _reachable(path: str, rows: Mapping[str, Row]) -> bool:
    parts = path.split("-")
    return all("-".join(parts[:i]) in rows for i in range(1, len(parts)))


def _first(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[-1].strip()


def _row_from_form(path: str, kind: str, form: Mapping[str, Sequence[str]]) -> Row:
    row = Row(path=path, kind=kind, negate=_first(form, f"{path}.negate") == "on")
    if kind == GROUP:
        row.match = "any" if _first(form, f"{path}.match") == "any" else "all"
        return row
    row.values = {name: _first(form, f"{path}.{name}") for name in LEAF_FIELDS}
    row.channels = [c for c in form.get(f"{path}.channel", []) if c]
    filters: dict[int, dict[str, str]] = {}
    for name, values in form.items():
        found = _FILTER.match(name)
        if found and found.group(1) == path and found.group(3) in FILTER_FIELDS and values:
            filters.setdefault(int(found.group(2)), {})[found.group(3)] = values[-1].strip()
    row.filters = [filters[i] for i in sorted(filters)]
    return row


# --- Changing the form's shape --------------------------------------------------------------


def apply_action(root: Row, action: str) -> bool:
    """Applies a button of the form (`add:PATH`, `group:PATH`, `remove:PATH`,
    `filter:PATH`, `unfilter:PATH:INDEX`); False when it names nothing there is."""
    verb, _, target = action.partition(":")
    target, _, index = target.partition(":")
    rows = {row.path: row for row in root.walk()}
    row = rows.get(target)
    if row is None or (verb in ("add", "group") and len(rows) >= MAX_ROWS):
        return False
    if verb == "add" and row.is_group:
        row.children.append(blank_leaf(_next_child(row)))
    elif verb == "group" and row.is_group and row.depth + 1 < MAX_GROUP_DEPTH:
        group = Row(path=_next_child(row), kind=GROUP, match="any")
        group.children.append(blank_leaf(f"{group.path}-0"))
        row.children.append(group)
    elif verb == "remove" and target != ROOT:
        parent = rows[target.rsplit("-", 1)[0]]
        parent.children = [c for c in parent.children if c.path != target]
    elif verb == "filter" and row.kind == "event":
        row.filters.append({"property": "", "op": "eq", "value": "", "value2": ""})
    elif verb == "unfilter" and row.kind == "event" and index.isdigit():
        position = int(index)
        if position >= len(row.filters):
            return False
        del row.filters[position]
    else:
        return False
    return True


def _next_child(group: Row) -> str:
    taken = [int(c.path.rsplit("-", 1)[1]) for c in group.children]
    return f"{group.path}-{max(taken, default=-1) + 1}"


# --- Values ---------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A typed value: a number, true/false, or text (double quotes force text)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            found = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text[1:-1]
        return found if isinstance(found, str) else text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _NUMBER.match(text):
        number = float(text)
        return (
            int(number)
            if number.is_integer() and "." not in text and "e" not in text.lower()
            else number
        )
    return text


def parse_list(text: str) -> list[Any]:
    """Comma-separated values (a quoted value may hold commas)."""
    items = []
    for found in _ITEM.finditer(text):
        item = found.group(1)
        if item.strip():
            items.append(parse_value(item))
        if found.group(2) == "":
            break
    return items


def value_text(value: Any) -> str:
    """How a value is typed in the form: what `parse_value` reads back as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if parse_value(text) != text or text != text.strip() or (text[:1] == '"' and text[-1:] == '"'):
        return orjson.dumps(text).decode()
    return text


def list_text(values: Iterable[Any]) -> str:
    """A list as comma-separated values (quoting those with a comma)."""
    parts = []
    for value in values:
        text = value_text(value)
        if "," in text and not text.startswith('"'):
            text = orjson.dumps(str(value)).decode()
        parts.append(text)
    return ", ".join(parts)


# --- Rows to the definition's JSON form -------------------------------------------------------


@dataclass(slots=True)
class Built:
    """The definition a form describes, or the builder's own problems with it."""

    document: dict[str, Any]
    problems: list[tuple[Row, RowError]]


def build(root: Row) -> Built:
    """The definition's JSON form. The outer group of one condition is that condition. Each
    row records its JSON path (for `place_problems`)."""
    problems: list[tuple[Row, RowError]] = []
    if len(root.children) == 1 and not root.negate:
        document = _condition(root.children[0], "", problems)
        root.json_path = ""
    else:
        document = _condition(root, "", problems)
    return Built(document, problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _condition(row: Row, path: str, problems: list[tuple[Row, RowError]]) -> dict[str, Any]:
    inner = _join(path, "not") if row.negate else path
    row.json_path = inner
    body = _group(row, inner, problems) if row.is_group else _leaf(row, problems)
    return {"not": body} if row.negate else body


def _group(row: Row, path: str, problems: list[tuple[Row, RowError]]) -> dict[str, Any]:
    name = row.match
    return {
        name: [
            _condition(child, f"{_join(path, name)}[{i}]", problems)
            for i, child in enumerate(row.children)
        ]
    }


def _compared(values: Mapping[str, str], op: str) -> dict[str, Any]:
    if op in NO_VALUE_OPS:
        return {"op": op}
    value, value2 = values.get("value", ""), values.get("value2", "")
    if op == "between":
        if not value and not value2:
            return {"op": op}
        return {"op": op, "value": [parse_value(value), parse_value(value2)]}
    if op in LIST_OPS:
        return {"op": op, "value": parse_list(value)} if value else {"op": op}
    return {"op": op, "value": parse_value(value)} if value else {"op": op}


def _leaf(row: Row, problems: list[tuple[Row, RowError]]) -> dict[str, Any]:
    v = row.value
    if row.kind in ("trait", "computed"):
        return {row.kind: v(row.kind), **_compared(row.values, v("op") or "eq")}
    if row.kind == "identity":
        return {"identity": v("identity"), "present": v("present", "yes") != "no"}
    if row.kind == "consent":
        return {
            "consent": {"channel": v("consent_channel"), "purpose": v("purpose")},
            "granted": v("granted", "yes") != "no",
        }
    if row.kind == "segment":
        return {"segment": v("segment"), "member": v("member", "yes") != "no"}
    return _event(row, problems)


def _event(row: Row, problems: list[tuple[Row, RowError]]) -> dict[str, Any]:
    v = row.value
    found: dict[str, Any] = {"event": v("event")}
    did = v("did", "did") != "did_not"
    times = v("times", "any")
    if not did:
        found["did"] = False
        if times != "any":
            problems.append((row, RowError("times", code="did_not_count")))
    elif times in TIMES and times != "any":
        count: dict[str, Any] = {"op": times}
        if times == "between":
            count["value"] = [parse_value(v("n")), parse_value(v("n2"))]
        elif v("n"):
            count["value"] = parse_value(v("n"))
        found["count"] = count
    window = v("window", "ever")
    if window in ("last_days", "last_hours"):
        found["within"] = {window: parse_value(v("span"))} if v("span") else {window: None}
    elif window == "between":
        found["within"] = {"between": [v("start"), v("end")]}
    if row.channels:
        found["channel"] = list(row.channels)
    where = [
        {"property": f.get("property", ""), **_compared(f, f.get("op") or "eq")}
        for f in row.filters
        if f.get("property")
    ]
    if where:
        found["where"] = where
    return found


# --- Problems back on their rows ----------------------------------------------------------------


_FIELD_OF: Final = {
    "trait": "trait",
    "computed": "computed",
    "event": "event",
    "identity": "identity",
    "segment": "segment",
    "op": "op",
    "value": "value",
    "count": "n",
    "within": "window",
    "channel": "channel",
    "did": "times",
    "present": "present",
    "granted": "granted",
    "member": "member",
}


def _english(problem: Problem) -> str:
    return problem.message


def place_problems(
    root: Row, problems: Iterable[Problem], words: Callable[[Problem], str] = _english
) -> list[RowError]:
    """Puts each of the domain's problems (JSON paths relative to the definition) on the
    row it is about, with the field, written by `words` (the reader's language); returns
    those no row could take."""
    rows = [(row.json_path, row) for row in root.walk()]
    left: list[RowError] = []
    for problem in problems:
        best: tuple[int, Row] | None = None
        for depth, (path, row) in enumerate(rows):
            if _within(problem.path, path) and (
                best is None or len(path) >= len(best[1].json_path)
            ):
                best = (depth, row)
        if best is None:
            left.append(RowError(None, words(problem)))
            continue
        row = best[1]
        rest = problem.path[len(row.json_path) :].lstrip(".")
        row.errors.append(RowError(_field(row, rest), words(problem)))
    return left


def _within(problem: str, path: str) -> bool:
    if not path:
        return True
    return problem == path or problem.startswith((f"{path}.", f"{path}["))


def _field(row: Row, rest: str) -> str | None:
    if not rest or row.is_group:
        return None
    head = re.split(r"[.\[]", rest, maxsplit=1)[0]
    if head == "where":
        found = re.match(r"where\[([0-9]+)\]", rest)
        if found is None:
            return None
        # The JSON lists only the filters with a property: find the row's filter it was.
        named = [i for i, f in enumerate(row.filters) if f.get("property")]
        index = int(found.group(1))
        return f"where-{named[index]}" if index < len(named) else None
    if head == "consent":
        return "purpose" if rest.startswith("consent.purpose") else "consent_channel"
    if head == "within" and rest.startswith("within.between"):
        return "start"
    if head == "within" and rest.startswith(("within.last_days", "within.last_hours")):
        return "span"
    return _FIELD_OF.get(head)


# --- A stored definition as rows ---------------------------------------------------------------


def rows_from_definition(document: Mapping[str, Any]) -> Row:
    """The rows showing a definition (its JSON form, as `segments.to_json` gives it)."""
    if "all" in document or "any" in document:
        root = _row_of(document, ROOT)
    else:
        root = Row(path=ROOT, kind=GROUP)
        root.children.append(_row_of(document, f"{ROOT}-0"))
    return root


def _row_of(document: Mapping[str, Any], path: str) -> Row:
    if "not" in document:
        inner = _row_of(document["not"], path)
        if inner.negate:  # NOT NOT x: a group of one around the inner NOT
            inner = _renumbered(inner, f"{path}-0")
            return Row(path=path, kind=GROUP, negate=True, children=[inner])
        inner.negate = True
        return inner
    if "all" in document or "any" in document:
        match = "all" if "all" in document else "any"
        row = Row(path=path, kind=GROUP, match=match)
        row.children = [_row_of(child, f"{path}-{i}") for i, child in enumerate(document[match])]
        return row
    for kind in LEAF_KINDS:
        if kind in document:
            return _leaf_of(kind, document, path)
    raise ValueError(f"not a condition: {document!r}")


def _renumbered(row: Row, path: str) -> Row:
    row.path = path
    for i, child in enumerate(row.children):
        _renumbered(child, f"{path}-{i}")
    return row


def _compared_values(document: Mapping[str, Any]) -> dict[str, str]:
    op = str(document.get("op", "eq"))
    value = document.get("value")
    found = {"op": op, "value": "", "value2": ""}
    if op == "between" and isinstance(value, list | tuple) and len(value) == 2:
        found["value"], found["value2"] = value_text(value[0]), value_text(value[1])
    elif op in LIST_OPS and isinstance(value, list | tuple):
        found["value"] = list_text(value)
    elif value is not None:
        found["value"] = value_text(value)
    return found


def _leaf_of(kind: str, document: Mapping[str, Any], path: str) -> Row:
    row = blank_leaf(path, kind)
    values = row.values
    if kind in ("trait", "computed"):
        values[kind] = str(document[kind])
        values.update(_compared_values(document))
    elif kind == "identity":
        values["identity"] = str(document["identity"])
        values["present"] = "yes" if document.get("present", True) else "no"
    elif kind == "consent":
        consent = document.get("consent") or {}
        values["consent_channel"] = str(consent.get("channel", ""))
        values["purpose"] = str(consent.get("purpose", ""))
        values["granted"] = "yes" if document.get("granted", True) else "no"
    elif kind == "segment":
        values["segment"] = str(document["segment"])
        values["member"] = "yes" if document.get("member", True) else "no"
    else:
        _event_values(row, document)
    return row


def _event_values(row: Row, document: Mapping[str, Any]) -> None:
    values = row.values
    values["event"] = str(document["event"])
    values["did"] = "did" if document.get("did", True) else "did_not"
    count = document.get("count")
    if isinstance(count, Mapping):
        values["times"] = str(count.get("op", "gte"))
        value = count.get("value")
        if isinstance(value, list | tuple) and len(value) == 2:
            values["n"], values["n2"] = value_text(value[0]), value_text(value[1])
        elif value is not None:
            values["n"] = value_text(value)
    within = document.get("within")
    if isinstance(within, Mapping):
        for window in ("last_days", "last_hours"):
            if within.get(window) is not None:
                values["window"], values["span"] = window, value_text(within[window])
        between = within.get("between")
        if isinstance(between, list | tuple) and len(between) == 2:
            values["window"] = "between"
            values["start"], values["end"] = str(between[0]), str(between[1])
    channel = document.get("channel")
    if channel is not None:
        row.channels = [channel] if isinstance(channel, str) else [str(c) for c in channel]
    for check in document.get("where") or ():
        row.filters.append({"property": str(check["property"]), **_compared_values(check)})
