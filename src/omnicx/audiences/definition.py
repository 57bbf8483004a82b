"""A segment definition's JSON form, as pydantic models (docs/audiences-definitions.md).

A definition is one condition, usually a group: `{"all": [...]}`, `{"any": [...]}` or
`{"not": {...}}` around conditions on traits, computed traits, events, identities, consent and
other segments. The models check the shape (keys, types); `validation.parse_definition` adds
the checks that need context (known names, windows, values for the operator) and is how
definitions should be built. Models are frozen: a parsed definition can be shared freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from hashlib import sha256
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    field_serializer,
    field_validator,
)

from omnicx.audiences.values import TraitOp, temporal
from omnicx.store.clock import as_utc

MAX_NAME = 200
"""Longest trait, event, property or segment name (a trait name's limit in profiles)."""

CountOp = Literal["eq", "gt", "gte", "lt", "lte", "between"]

COMPUTED_TRAITS: Final[dict[str, str]] = {
    "first_seen_at": "instant",
    "last_seen_at": "instant",
    "events": "number",
    "channels": "set",
    "preferred_channel": "text",
    "orders": "number",
    "lifetime_value": "number",
    "last_order.at": "instant",
    "last_order.value": "number",
    "last_order.currency": "text",
    "last_order.channel": "text",
    "open_cart": "object",
    "open_cart.value": "number",
    "open_cart.updated_at": "instant",
    "rfm.recency": "number",
    "rfm.frequency": "number",
    "rfm.monetary": "number",
    "rfm.code": "text",
}
"""Computed traits a condition can name, with their kind: the fields of the profile's
`computed` document (profiles.schemas.ComputedTraits), sub-fields after a dot; `channels` is
the set of channels the person was seen on."""


def _freeze(value: Any) -> Any:
    # Lists become tuples so that definitions stay immutable (and operands can be cached).
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class AllOf(_Model):
    """Every condition holds."""

    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Model):
    """At least one condition holds."""

    any: tuple[Condition, ...] = Field(min_length=1)


class NotOf(_Model):
    """The condition does not hold."""

    not_: Condition = Field(alias="not")


class _Compared(_Model):
    """A value compared with `op` to the condition's `value` (values.compare)."""

    @field_validator("value", mode="before", check_fields=False)
    @classmethod
    def _frozen(cls, value: Any) -> Any:
        return _freeze(value)


class TraitCondition(_Compared):
    """A trait of the profile (a top-level key of its traits) compared to a value."""

    trait: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    op: TraitOp
    value: Any = None


class ComputedCondition(_Compared):
    """A computed trait (COMPUTED_TRAITS) compared to a value."""

    computed: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    op: TraitOp
    value: Any = None


class PropertyFilter(_Compared):
    """A property of the event (a top-level key, else a dotted path into objects)."""

    property: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    op: TraitOp
    value: Any = None


class Count(_Model):
    """How many matching events: `value` a whole number, or [low, high] for `between`."""

    op: CountOp
    value: Any = None

    @field_validator("value", mode="before")
    @classmethod
    def _frozen(cls, value: Any) -> Any:
        return _freeze(value)


class Window(_Model):
    """When the events count: the last N days or hours up to now, or between two dates."""

    last_days: StrictInt | None = None
    last_hours: StrictInt | None = None
    between: Any = None

    @field_validator("between", mode="before")
    @classmethod
    def _frozen(cls, value: Any) -> Any:
        return _freeze(value)

    @cached_property
    def span(self) -> timedelta | None:
        """The length of a sliding window; None for a fixed one."""
        if self.last_days is not None:
            return timedelta(days=self.last_days)
        if self.last_hours is not None:
            return timedelta(hours=self.last_hours)
        return None

    @cached_property
    def bounds(self) -> tuple[datetime, datetime] | None:
        """A fixed window as [start, end): a date starts at its midnight, UTC; an end date
        includes its whole day. None for a sliding window."""
        if self.between is None:
            return None
        start, end = (temporal(str(v)) for v in self.between)
        return _instant(start, end_of_day=False), _instant(end, end_of_day=True)


def _instant(value: date | datetime | None, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if value is None:
        raise ValueError("not a date")  # validation rules this out before any use
    midnight = datetime.combine(value, time(), UTC)
    return midnight + timedelta(days=1) if end_of_day else midnight


class EventCondition(_Model):
    """Did (or did not) do an event: how many times, when, on which channels, with which
    properties. Without `count`, "did" means at least once and "did not" means never."""

    event: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    did: StrictBool = True
    count: Count | None = None
    within: Window | None = None
    where: tuple[PropertyFilter, ...] = ()
    channel: tuple[StrictStr, ...] | None = None

    @field_validator("channel", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else _freeze(value)

    @field_serializer("channel")
    def _channel_json(self, value: tuple[str, ...] | None) -> str | list[str] | None:
        if value is not None and len(value) == 1:
            return value[0]
        return list(value) if value is not None else None

    @cached_property
    def key(self) -> str:
        """Stable across processes: the same event, channels and filters (in any order) give
        the same key, whatever the count and window. Facts carry timestamps per key."""
        filters = sorted(
            orjson.dumps(f.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) for f in self.where
        )
        canonical = [self.event, sorted(self.channel or ()), [f.decode() for f in filters]]
        return "ev_" + sha256(orjson.dumps(canonical)).hexdigest()[:20]


class IdentityCondition(_Model):
    """The profile has (or has no) identifier of a type."""

    identity: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    present: StrictBool = True


class ConsentRef(_Model):
    """A consent's channel and purpose (profiles.consent)."""

    channel: StrictStr
    purpose: StrictStr


class ConsentCondition(_Model):
    """The consent in force for a channel and purpose is granted (or is not)."""

    consent: ConsentRef
    granted: StrictBool = True


class SegmentCondition(_Model):
    """The profile is (or is not) a member of another segment."""

    segment: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    member: StrictBool = True


KINDS: Final[dict[str, type[_Model]]] = {
    "all": AllOf,
    "any": AnyOf,
    "not": NotOf,
    "trait": TraitCondition,
    "computed": ComputedCondition,
    "event": EventCondition,
    "identity": IdentityCondition,
    "consent": ConsentCondition,
    "segment": SegmentCondition,
}
"""Each condition's identifying key and its model."""

TAGS: Final = frozenset(f"#{kind}" for kind in KINDS)
"""The union's tags, as pydantic puts them in error locations (never user-facing)."""

_TAG_OF = {model: f"#{kind}" for kind, model in KINDS.items()}


def _kind(value: Any) -> str | None:
    """The tag of a condition: the first identifying key it has."""
    if isinstance(value, dict):
        return next((f"#{kind}" for kind in KINDS if kind in value), None)
    return _TAG_OF.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("#all")]
    | Annotated[AnyOf, Tag("#any")]
    | Annotated[NotOf, Tag("#not")]
    | Annotated[TraitCondition, Tag("#trait")]
    | Annotated[ComputedCondition, Tag("#computed")]
    | Annotated[EventCondition, Tag("#event")]
    | Annotated[IdentityCondition, Tag("#identity")]
    | Annotated[ConsentCondition, Tag("#consent")]
    | Annotated[SegmentCondition, Tag("#segment")],
    Discriminator(
        _kind, custom_error_type="not_a_condition", custom_error_message="not a condition"
    ),
]
"""Any condition; a whole definition is its root condition."""

Definition = Condition
"""A segment definition: its root condition."""

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()

CONDITION: Final[TypeAdapter[Condition]] = TypeAdapter(Condition)


def to_json(definition: Definition) -> dict[str, Any]:
    """The JSON form, without default values (`did: true`...): `parse_definition` of it gives
    the same definition back."""
    found: dict[str, Any] = CONDITION.dump_python(definition, mode="json", exclude_defaults=True)
    return found


def join(path: str, name: str | int) -> str:
    """A JSON path one step further: `all[2]` + `count` is `all[2].count`."""
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def walk(definition: Definition, path: str = "") -> Iterator[tuple[str, Condition]]:
    """Every condition with its JSON path, parents before children, in document order."""
    yield path, definition
    if isinstance(definition, AllOf | AnyOf):
        name = "all" if isinstance(definition, AllOf) else "any"
        children = definition.all if isinstance(definition, AllOf) else definition.any
        for i, child in enumerate(children):
            yield from walk(child, join(join(path, name), i))
    elif isinstance(definition, NotOf):
        yield from walk(definition.not_, join(path, "not"))


def event_conditions(definition: Definition) -> dict[str, EventCondition]:
    """The definition's event conditions by key (conditions differing only in count, window
    or `did` share one key: they need the same timestamps)."""
    found: dict[str, EventCondition] = {}
    for _, condition in walk(definition):
        if isinstance(condition, EventCondition):
            found.setdefault(condition.key, condition)
    return found


def segment_references(definition: Definition) -> dict[str, str]:
    """The segments the definition refers to, each with the path of its first reference."""
    found: dict[str, str] = {}
    for path, condition in walk(definition):
        if isinstance(condition, SegmentCondition):
            found.setdefault(condition.segment, path)
    return found
