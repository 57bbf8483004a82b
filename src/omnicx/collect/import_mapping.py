"""Mappings from a file's columns to Segment spec messages: loading, checking and applying them.

A mapping (TOML or JSON, documented in docs/import.md) gives each message field a rule: a
column name, `{ column = ..., type = ... }` for a column with a cast, `{ value = ... }` for a
constant or `{ template = "pos-{store}-{receipt}" }` for text built from columns. Problems with
the mapping or the file raise ImportFileError before anything is stored; problems with one
row raise the row's IntakeError, so the row is rejected like a bad message at the HTTP API.
"""

from __future__ import annotations

import codecs
import difflib
import math
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from omnicx.collect.errors import IntakeError
from omnicx.collect.messages import MESSAGE_TYPES
from omnicx.store.clock import iso

IMPORT_TEXT: dict[str, str] = {
    # The file, the mapping or the source cannot be used: the import stops, nothing is stored.
    "file_missing": "{file}: no such file.",
    "file_unreadable": "{file}: cannot be read: {detail}.",
    "unknown_format": (
        "{file}: cannot tell the format from the name; use --format csv, jsonl or parquet."
    ),
    "bad_format": "Unknown format {value!r}; expected csv, jsonl or parquet.",
    "empty_csv": "{file}: the file is empty; a CSV file starts with a line naming its columns.",
    "duplicate_column": "{file}: the column {column!r} appears twice in the header.",
    "not_text": (
        "{file}: line {line} is not {encoding} text ({detail}); is it a CSV file, or does it "
        "need an encoding under [csv] in a mapping?"
    ),
    "not_jsonl": "{file}: line {line}: {detail}; JSON Lines holds one message object per line.",
    "not_parquet": "{file}: not a Parquet file: {detail}.",
    "parquet_read": (
        "{file}: rows from {row} on cannot be read: {detail}. The rows before were stored; "
        "importing the file again stores each row once."
    ),
    "unknown_column": (
        "{file}: column {column!r} is not a message field ({expected}, or properties.NAME, "
        "traits.NAME, context.NAME, integrations.NAME); describe the file with --mapping."
    ),
    "missing_column": "{mapping} key {key!r}: no column {column!r} in {file}.{hint}",
    "mapping_syntax": "{mapping}: not valid {kind}: {detail}",
    "mapping_key": "{mapping} key {key!r}: {problem}",
    "incomplete": "{where}: {problem}",
    "rejected_dir": "{path}: cannot write the rejected rows there ({detail}); choose --rejected.",
    # The database failed part way: what was stored before stays, a new run completes it.
    "store_failed": (
        "{file}: rows {first} to {last} could not be stored: {detail}. The rows before were "
        "stored; importing the file again stores each row once."
    ),
    # One row is wrong: it is rejected, the import goes on. `{path}` is `row 17`.
    "invalid_json_row": "{path}: not valid JSON: {detail}.",
    "invalid_csv_row": "{path}: not valid CSV: {detail}.",
    "column_count": "{path}: has {count} values; the header names {expected} columns.",
    "invalid_value": "{path}.{field}: column {column!r} holds {value}, not {expected}.",
    "invalid_time": "{path}.{field}: {value} does not match the time format {format!r}.",
}


class ImportFileError(ValueError):
    """A file, mapping or source the import cannot use; says what is wrong and where."""


class ImportSourceError(ImportFileError):
    """The source to import into does not exist or is disabled."""


class ImportStoreError(ImportFileError):
    """The database failed while rows were stored; the batches before it are kept."""


def file_error(code: str, **fields: object) -> ImportFileError:
    """Builds the ImportFileError `code` with its message filled from `fields`."""
    return ImportFileError(IMPORT_TEXT[code].format(**fields))


def row_error(code: str, path: str, **fields: object) -> IntakeError:
    """Builds the IntakeError `code` for one row (400, like a bad message at the HTTP API)."""
    return IntakeError(code, IMPORT_TEXT[code].format(path=path, **fields), 400, path)


FIELDS = (
    "type", "event", "name", "category", "userId", "anonymousId", "groupId", "previousId",
    "messageId", "timestamp",
)  # fmt: skip
"""The message fields a column or a rule can give, besides the objects below."""
OBJECTS = ("properties", "traits", "context", "integrations")
CASTS = ("str", "int", "float", "bool", "json", "timestamp")
TIME_FORMATS = ("iso", "unix", "unix_ms")
_SOURCES = ("column", "value", "template")
_RULE_KEYS = (*_SOURCES, "type", "format", "timezone")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
# What a constant message type needs besides an identity, to refuse a mapping that would reject
# every row. messages.normalise stays the judge of each row.
_NEEDS = {"track": ("event",), "group": ("groupId",), "alias": ("previousId", "userId")}

_Complaint = Callable[[str], ImportFileError]
"""Builds the error for a problem with one mapping key."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Where one message field comes from: a column (with a cast), a constant or a template."""

    key: str
    kind: str
    column: str = ""
    constant: Any = None
    template: tuple[tuple[str, str | None], ...] = ()
    cast: str | None = None
    time_format: str = "iso"
    timezone: tzinfo = UTC
    path: tuple[str, ...] = field(init=False)
    """Where the value goes in the message: the key split at its dots."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", tuple(self.key.split(".")))  # frozen: set once, here

    def columns(self) -> tuple[str, ...]:
        """The columns the rule reads."""
        if self.kind == "column":
            return (self.column,)
        return tuple(name for _, name in self.template if name is not None)

    def value(self, row: Mapping[str, Any], where: str) -> Any:
        """The field's value for `row`; None when the row has none (an empty cell)."""
        if self.kind == "value":
            return self.constant
        if self.kind == "template":
            return _fill(self.template, row)
        raw = row.get(self.column)
        if raw is None or raw == "":
            return None
        if self.cast is None:
            return plain(raw)
        return _cast(self, raw, where)


@dataclass(frozen=True, slots=True)
class ImportMapping:
    """A checked mapping: its rules, and how to read a CSV file."""

    rules: tuple[FieldRule, ...]
    origin: str = "mapping"
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    def check_columns(self, columns: Sequence[str], file: str) -> None:
        """Raises ImportFileError when a rule reads a column the file does not have."""
        for rule in self.rules:
            for column in rule.columns():
                if column not in columns:
                    raise file_error(
                        "missing_column", mapping=self.origin, key=rule.key, column=column,
                        file=file, hint=_hint(column, columns),
                    )  # fmt: skip

    def message(self, row: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Builds the message for one row; raises the row's IntakeError when a cast fails."""
        message: dict[str, Any] = {}
        for rule in self.rules:
            value = rule.value(row, where)
            if value is not None:
                _put(message, rule.path, value)
        return message


def load_mapping(path: Path) -> ImportMapping:
    """Reads and checks a mapping file: JSON when it ends in .json, else TOML."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise file_error("file_missing", file=path) from None
    except OSError as exc:
        raise file_error("file_unreadable", file=path, detail=exc.strerror or exc) from None
    try:
        if path.suffix.lower() == ".json":
            document = orjson.loads(raw)
        else:
            document = tomllib.loads(raw.decode("utf-8"))
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise file_error("mapping_syntax", mapping=path.name, kind=kind, detail=exc) from None
    return parse_mapping(document, origin=path.name)


def parse_mapping(document: Any, *, origin: str = "mapping") -> ImportMapping:
    """Checks a mapping given as data (what a TOML or JSON mapping file holds)."""
    if not isinstance(document, dict):
        raise file_error("mapping_syntax", mapping=origin, kind="mapping", detail="not a table")
    fields = dict(document)
    delimiter, encoding = _csv_options(fields.pop("csv", {}), origin)
    rules: list[FieldRule] = []
    for key, spec in fields.items():
        if key in OBJECTS:
            rules.extend(_object_rules(spec, key, origin))
        elif key in FIELDS:
            rules.append(_rule(spec, key, origin))
        else:
            expected = ", ".join((*FIELDS, *OBJECTS, "csv"))
            problem = (
                f"not a message field; expected one of {expected}.{_hint(key, (*FIELDS, *OBJECTS))}"
            )
            raise file_error("mapping_key", mapping=origin, key=key, problem=problem)
    _check_complete(rules, f"mapping {origin}")
    return ImportMapping(tuple(rules), origin, delimiter, encoding)


def mapping_from_columns(columns: Sequence[str], file: str) -> ImportMapping:
    """The mapping used without --mapping: each column named like a message field is that field."""
    rules: list[FieldRule] = []
    for column in columns:
        top, _, rest = column.partition(".")
        if not ((top in OBJECTS and rest != "") or column in FIELDS or column in OBJECTS):
            raise file_error("unknown_column", file=file, column=column, expected=", ".join(FIELDS))
        cast = "json" if column in OBJECTS else "timestamp" if column == "timestamp" else None
        rules.append(FieldRule(column, "column", column=column, cast=cast))
    for rule in rules:
        for other in rules:
            if other.key.startswith(rule.key + "."):
                problem = f"columns {rule.key!r} and {other.key!r} both give {rule.key}."
                raise file_error("incomplete", where=file, problem=problem)
    _check_complete(rules, f"{file} (without --mapping, columns are message fields)")
    return ImportMapping(tuple(rules), file)


def plain(value: Any) -> Any:
    """Turns what a Parquet file holds (decimals, datetimes, bytes) into JSON values."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _csv_options(spec: Any, origin: str) -> tuple[str, str]:
    if not isinstance(spec, dict) or not spec.keys() <= {"delimiter", "encoding"}:
        problem = 'expected a table with delimiter and encoding, e.g. delimiter = ";".'
        raise file_error("mapping_key", mapping=origin, key="csv", problem=problem)
    delimiter = spec.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        problem = f"the delimiter is one character, not {delimiter!r}."
        raise file_error("mapping_key", mapping=origin, key="csv.delimiter", problem=problem)
    encoding = spec.get("encoding", "utf-8-sig")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        problem = f"unknown encoding {encoding!r}; e.g. utf-8, latin-1, cp1252."
        raise file_error(
            "mapping_key", mapping=origin, key="csv.encoding", problem=problem
        ) from None
    return delimiter, encoding


def _object_rules(spec: Any, key: str, origin: str) -> list[FieldRule]:
    if not isinstance(spec, dict):
        problem = 'expected a table of fields, e.g. [properties] revenue = "total".'
        raise file_error("mapping_key", mapping=origin, key=key, problem=problem)
    rules: list[FieldRule] = []
    for name, inner in spec.items():
        inner_key = f"{key}.{name}"
        if isinstance(inner, dict) and not inner.keys() & set(_SOURCES):
            rules.extend(_object_rules(inner, inner_key, origin))  # a nested object
        else:
            rules.append(_rule(inner, inner_key, origin))
    return rules


def _rule(spec: Any, key: str, origin: str) -> FieldRule:
    def bad(problem: str) -> ImportFileError:
        return file_error("mapping_key", mapping=origin, key=key, problem=problem)

    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        shown = orjson.dumps(spec).decode()
        raise bad(f'write a column name ("total") or a constant ({{ value = {shown} }}).')
    sources = [name for name in _SOURCES if name in spec]
    if len(sources) != 1:
        raise bad("give exactly one of column, value or template.")
    if unknown := spec.keys() - set(_RULE_KEYS):
        raise bad(f"unknown setting {sorted(unknown)[0]!r}; expected {', '.join(_RULE_KEYS)}.")
    kind = sources[0]
    if kind != "column" and spec.keys() & {"type", "format", "timezone"}:
        raise bad("type, format and timezone apply to a column only.")
    if kind == "value":
        return FieldRule(key, kind, constant=plain(_constant(spec["value"], key, bad)))
    if kind == "template":
        return FieldRule(key, kind, template=_template(spec["template"], bad))
    return _column_rule(spec, key, bad)


def _column_rule(spec: dict[str, Any], key: str, bad: _Complaint) -> FieldRule:
    column = spec["column"]
    if not isinstance(column, str) or not column:
        raise bad("the column is a name in quotes.")
    cast = spec.get("type", "timestamp" if key == "timestamp" else None)
    if cast is not None and cast not in CASTS:
        raise bad(f"unknown type {cast!r}; expected one of {', '.join(CASTS)}.")
    if key == "timestamp" and cast != "timestamp":
        raise bad('the timestamp is a time; leave out type or write type = "timestamp".')
    if cast != "timestamp" and spec.keys() & {"format", "timezone"}:
        raise bad('format and timezone apply to type = "timestamp".')
    time_format = spec.get("format", "iso")
    if time_format not in TIME_FORMATS and "%" not in str(time_format):
        raise bad(
            f"unknown time format {time_format!r}; expected iso, unix, unix_ms or a "
            'strftime pattern such as "%d/%m/%Y %H:%M".'
        )
    return FieldRule(
        key, "column", column=column, cast=cast, time_format=str(time_format),
        timezone=_zone(spec.get("timezone"), bad),
    )  # fmt: skip


def _constant(value: Any, key: str, bad: _Complaint) -> Any:
    if key == "messageId":
        raise bad("a constant messageId would make every row the same message; use a column.")
    if key == "type" and value not in MESSAGE_TYPES:
        raise bad(f"unknown message type {value!r}; expected one of {', '.join(MESSAGE_TYPES)}.")
    if key in FIELDS and not isinstance(value, str):
        raise bad(f"expected a string constant, got {value!r}.")
    return value


def _template(text: Any, bad: _Complaint) -> tuple[tuple[str, str | None], ...]:
    if not isinstance(text, str):
        raise bad('a template is text naming columns in braces: "pos-{store_id}".')
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise bad(f"invalid template: {exc}.") from None
    if any(spec or conversion for _, _, spec, conversion in parts):
        raise bad("a template names columns in braces, without ! or : formats.")
    if not any(name for _, name, _, _ in parts) or any(name == "" for _, name, _, _ in parts):
        raise bad('a template names at least one column in braces, e.g. "pos-{store_id}".')
    return tuple((literal, name) for literal, name, _, _ in parts)


def _zone(name: Any, bad: _Complaint) -> tzinfo:
    if name is None or name == "UTC":
        return UTC
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(f"unknown timezone {name!r}; use an IANA name such as Europe/Paris.") from None


def _check_complete(rules: Sequence[FieldRule], where: str) -> None:
    given = {rule.key: rule for rule in rules}
    if "type" not in given:
        problem = 'nothing gives the message type; e.g. type = { value = "track" }.'
        raise file_error("incomplete", where=where, problem=problem)
    if "userId" not in given and "anonymousId" not in given:
        problem = "nothing gives a userId or an anonymousId; every message needs one."
        raise file_error("incomplete", where=where, problem=problem)
    kind = given["type"].constant if given["type"].kind == "value" else None
    for needed in _NEEDS.get(kind or "", ()):
        if needed not in given:
            problem = f"a {kind} message needs {needed}, and nothing gives it."
            raise file_error("incomplete", where=where, problem=problem)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _put(message: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = message
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _fill(template: tuple[tuple[str, str | None], ...], row: Mapping[str, Any]) -> str | None:
    pieces: list[str] = []
    for literal, column in template:
        pieces.append(literal)
        if column is not None:
            value = row.get(column)
            if value is None or value == "":
                return None  # "pos-12-" would make distinct rows collide
            pieces.append(_text(value))
    return "".join(pieces)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    converted = plain(value)
    return converted if isinstance(converted, str) else orjson.dumps(converted).decode()


def _cast(rule: FieldRule, raw: Any, where: str) -> Any:
    try:
        return _CASTERS[rule.cast or "str"](raw, rule)
    except (ValueError, TypeError, ArithmeticError, OSError):
        expected = _EXPECTED[rule.cast or "str"]
        shown = repr(raw if len(str(raw)) <= 40 else str(raw)[:39] + "…")
        if rule.cast == "timestamp" and "%" in rule.time_format:
            raise row_error(
                "invalid_time", where, field=rule.key, value=shown, format=rule.time_format
            ) from None
        raise row_error(
            "invalid_value", where, field=rule.key, column=rule.column, value=shown,
            expected=expected.format(format=rule.time_format),
        ) from None  # fmt: skip


def _to_int(raw: Any, _rule: FieldRule) -> int:
    if isinstance(raw, bool):
        raise TypeError
    if isinstance(raw, int):
        return raw
    number = Decimal(raw.strip() if isinstance(raw, str) else raw)  # exact: "12.0" yes, "1.5" no
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError
    return int(number)


def _to_float(raw: Any, _rule: FieldRule) -> float:
    if isinstance(raw, bool):
        raise TypeError
    number = float(raw.strip() if isinstance(raw, str) else raw)
    if not math.isfinite(number):
        raise ValueError
    return number


def _to_bool(raw: Any, _rule: FieldRule) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def _to_json(raw: Any, _rule: FieldRule) -> Any:
    return orjson.loads(raw) if isinstance(raw, str) else plain(raw)


def _to_time(raw: Any, rule: FieldRule) -> str:
    unix = rule.time_format in ("unix", "unix_ms")
    if isinstance(raw, str) and not unix:
        if rule.time_format == "iso" and rule.timezone is UTC:
            return raw  # unchanged: normalise checks it and words the error like the HTTP API
        return _parse_time(raw.strip(), rule.time_format, rule.timezone)
    if isinstance(raw, date) and not isinstance(raw, datetime):
        raw = datetime.combine(raw, time())  # a Parquet date: midnight in the rule's timezone
    if isinstance(raw, datetime):
        return iso(_in_zone(raw, rule.timezone))
    if unix:
        seconds = _to_float(raw, rule) / (1000 if rule.time_format == "unix_ms" else 1)
        return iso(datetime.fromtimestamp(seconds, UTC))
    raise TypeError


@lru_cache(maxsize=8192)
def _parse_time(text: str, time_format: str, zone: tzinfo) -> str:
    """Parses a time as written in a file; cached because exports repeat the same minutes."""
    if time_format == "iso":
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            return text  # normalise refuses it, in the HTTP API's words
    else:
        instant = datetime.strptime(text, time_format)
    return iso(_in_zone(instant, zone))


def _in_zone(instant: datetime, zone: tzinfo) -> datetime:
    """A time written without an offset is in the mapping's timezone (UTC by default)."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=zone)


_CASTERS = {
    "str": lambda raw, _rule: _text(raw),
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "json": _to_json,
    "timestamp": _to_time,
}
_EXPECTED = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "json": "JSON",
    "timestamp": "a time ({format})",
}
