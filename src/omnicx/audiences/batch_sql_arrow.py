"""The columnar form of `PersonFacts` that batch_sql evaluates (schema in batch_sql's doc).

`facts_to_arrow` builds it from facts in memory: the tests use it, and it is the reference for
a bulk export from the database, which should produce the same columns directly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Final

import pyarrow as pa

from omnicx.audiences.batch_sql_values import DATE_PREFIX, INSTANT_PREFIX, OPAQUE
from omnicx.audiences.definition import COMPUTED_TRAITS
from omnicx.audiences.facts import PersonFacts
from omnicx.audiences.values import is_collection
from omnicx.store.clock import as_utc

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
COMPUTED_TYPES: Final[dict[str, pa.DataType]] = {
    "instant": TIMESTAMP,
    "number": pa.float64(),
    "text": pa.string(),
    "set": pa.list_(pa.string()),
    "object": pa.string(),  # encoded like a trait value: only `exists` makes sense for it
}
"""The Arrow type of each kind of computed trait (definition.COMPUTED_TRAITS)."""

PEOPLE_SCHEMA: Final = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("traits", pa.map_(pa.string(), pa.string())),
        *(pa.field(name, COMPUTED_TYPES[kind]) for name, kind in COMPUTED_TRAITS.items()),
        pa.field("identities", pa.list_(pa.string())),
        pa.field("consents", pa.list_(pa.string())),
        pa.field("memberships", pa.list_(pa.string())),
    ]
)
HITS_SCHEMA: Final = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
    ]
)


def _json(value: Any) -> str:
    # Standard json, not orjson: it takes integers past 64 bits, and refuses NaN (never sent).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _element(value: Any) -> Any:
    """An element of a list (or an object's key) as JSON can hold it, reading the same way."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        # A NaN or infinite element reads as nothing, like null.
        return value if math.isfinite(value) else None
    if isinstance(value, date):  # datetime too
        raise ValueError(
            f"a date inside a list cannot be exported to JSON: {value!r} (stored traits are "
            "JSON, so they never hold one)"
        )
    if is_collection(value):
        return []  # a collection inside a collection never equals anything: only its kind counts
    return None  # any other object reads as nothing, like null


def trait_text(value: Any) -> str | None:
    """How a trait value is stored in `traits`: its JSON text, or an `@` form for what JSON
    cannot hold; None when missing (a JSON null is the same as no trait)."""
    if value is None:
        return None
    if isinstance(value, str | bool | int):
        return _json(value)
    if isinstance(value, float):
        return _json(value) if math.isfinite(value) else OPAQUE
    if isinstance(value, datetime):
        return INSTANT_PREFIX + as_utc(value).replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return DATE_PREFIX + value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"an object's keys must be text to be exported: {value!r}")
        return _json({k: _element(v) for k, v in value.items()})
    if is_collection(value):
        return _json([_element(v) for v in value])
    return OPAQUE  # present, but reads as nothing (a NaN, a Decimal, a model...)


def _computed(name: str, kind: str, value: Any) -> Any:
    """A computed trait's value in its column's type; TypeError when it is not of its kind."""
    if value is None:
        return None
    if kind == "object":
        return trait_text(value)
    if kind == "instant" and isinstance(value, date):
        # A date reads exactly as its midnight UTC would (values.read), so it can be one.
        return (
            as_utc(value) if isinstance(value, datetime) else datetime.combine(value, time(), UTC)
        )
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "set" and isinstance(value, Collection) and not isinstance(value, str | bytes):
        elements = list(value)
        if all(isinstance(e, str) for e in elements):
            return sorted(elements)
    raise TypeError(f"computed trait {name!r} should be of kind {kind}, not {value!r}")


def _consent(channel: str, purpose: str) -> str:
    if "/" in channel:
        raise ValueError(f"a consent channel cannot contain '/': {channel!r}")
    return f"{channel}/{purpose}"


def facts_to_arrow(facts: Mapping[str, PersonFacts]) -> tuple[pa.Table, pa.Table]:
    """The people and hits tables (PEOPLE_SCHEMA, HITS_SCHEMA) of facts by person id."""
    columns: dict[str, list[Any]] = {field.name: [] for field in PEOPLE_SCHEMA}
    hit_people: list[str] = []
    hit_keys: list[str] = []
    hit_times: list[datetime] = []
    for person_id, person in facts.items():
        columns["person_id"].append(person_id)
        traits = [(name, trait_text(value)) for name, value in person.traits.items()]
        columns["traits"].append([(name, text) for name, text in traits if text is not None])
        for name, kind in COMPUTED_TRAITS.items():
            columns[name].append(_computed(name, kind, person.computed.get(name)))
        columns["identities"].append(sorted(t for t, values in person.identities.items() if values))
        columns["consents"].append(
            sorted(_consent(c, p) for (c, p), granted in person.consents.items() if granted is True)
        )
        columns["memberships"].append(sorted(person.memberships))
        for key, times in person.events.items():
            for at in times:
                hit_people.append(person_id)
                hit_keys.append(key)
                hit_times.append(as_utc(at))
    people = pa.table(
        {field.name: pa.array(columns[field.name], field.type) for field in PEOPLE_SCHEMA},
        schema=PEOPLE_SCHEMA,
    )
    hits = pa.table(
        {
            "person_id": pa.array(hit_people, pa.string()),
            "key": pa.array(hit_keys, pa.string()),
            "ts": pa.array(hit_times, TIMESTAMP),
        },
        schema=HITS_SCHEMA,
    )
    return people, hits
