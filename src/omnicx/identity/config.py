"""Identity resolution settings: identifier types, limits, priority, blocked values, sources.

The settings are one TOML (or JSON) document, documented in docs/identity.md. Built-in defaults
follow the Segment spec's identifier fields and are safe: one userId per profile, five of every
other type, the usual junk values blocked, and an identifier seen with more than five different
people (a shared store tablet, an info@ mailbox) never merges anything.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

NORMALISERS = ("exact", "lower", "upper", "digits", "email", "phone")
"""How an identifier's value is normalised before it is linked (see identity/normalise.py)."""

BUILT_IN_TYPES: dict[str, str] = {
    "user_id": "exact",
    "email": "email",
    "phone": "phone",
    "loyalty_card": "digits",
    "device_id": "exact",
    "anonymous_id": "exact",
}
"""Identifier types every installation knows, with their normaliser."""

DEFAULT_PRIORITY = ("user_id", "email", "phone", "loyalty_card", "device_id", "anonymous_id")

DEFAULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("userId", "user_id"),
    ("anonymousId", "anonymous_id"),
    ("traits.email", "email"),
    ("context.traits.email", "email"),
    ("properties.email", "email"),
    ("traits.phone", "phone"),
    ("context.traits.phone", "phone"),
    ("properties.phone", "phone"),
    ("traits.loyaltyCard", "loyalty_card"),
    ("context.traits.loyaltyCard", "loyalty_card"),
    ("properties.loyaltyCard", "loyalty_card"),
    ("context.device.id", "device_id"),
)
"""Where identifiers are read from in every source's messages (path in the message -> type)."""

DEFAULT_BLOCKED_VALUES = (
    "null",
    "undefined",
    "anonymous",
    "none",
    "nil",
    "nan",
    "n/a",
    "na",
    "unknown",
    "[object object]",
    "test",
    "guest",
    "-1",
    "0",
)

# All zeros, dashes, dots or spaces: `0000`, `00000000-0000-0000-0000-000000000000`, `---`.
ZERO_OR_DASH = r"^[0\-.\s_]*$"

DEFAULT_LIMIT = 5
DEFAULT_MAX_PEOPLE = 5

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PATH = re.compile(r"^[A-Za-z_$][\w$-]*(\.[\w$-]+){0,7}$")
_REGION = re.compile(r"^[A-Z]{2}$")


class IdentityConfigError(ValueError):
    """The identity settings are invalid; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class IdentifierType:
    """One kind of identifier and the rules that guard merges through it."""

    name: str
    normaliser: str
    limit: int
    """How many values of this type one profile may hold."""
    window_days: int | None = None
    """When set, the limit counts only values first seen within this many days of each other."""
    bridges: bool = True
    """False: this identifier may join a profile, but never join two profiles that each hold
    an identifier of a bridging type (a family iPad's device id between two known people)."""

    @property
    def is_person_key(self) -> bool:
        """One value per profile: two different values are certainly two different people."""
        return self.limit == 1


@dataclass(frozen=True, slots=True)
class SourceRules:
    """How one source's messages carry identifiers."""

    fields: tuple[tuple[str, str], ...]
    """(path in the message, identifier type), after the source's overrides."""
    phone_region: str | None


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Every rule identity resolution follows."""

    types: Mapping[str, IdentifierType]
    priority: tuple[str, ...]
    default_fields: tuple[tuple[str, str], ...] = DEFAULT_FIELDS
    source_overrides: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    source_regions: Mapping[str, str] = field(default_factory=dict)
    phone_region: str | None = None
    blocked_values: frozenset[str] = frozenset(DEFAULT_BLOCKED_VALUES)
    blocked_patterns: tuple[str, ...] = (ZERO_OR_DASH,)
    max_people: int = DEFAULT_MAX_PEOPLE
    """An identifier seen with more values than this of one person-key type (a type limited to
    one value per profile, such as userId) is shared: it links nothing."""

    def rank(self, type_name: str) -> int:
        """The type's place in the priority order (lower merges first)."""
        try:
            return self.priority.index(type_name)
        except ValueError:
            return len(self.priority)

    def rules_for(self, source_name: str) -> SourceRules:
        """The fields read from a source's messages, with the source's overrides applied."""
        overrides = self.source_overrides.get(source_name, {})
        fields = [(path, kind) for path, kind in self.default_fields if path not in overrides]
        fields.extend((path, kind) for path, kind in overrides.items() if kind is not None)
        return SourceRules(
            fields=tuple(fields),
            phone_region=self.source_regions.get(source_name, self.phone_region),
        )

    @property
    def has_windows(self) -> bool:
        """Whether any limit counts values within a time window."""
        return any(t.window_days for t in self.types.values())


def default_config() -> IdentityConfig:
    """The settings used until `omnicx identity configure` stores others."""
    return parse_config({})


def load_text(text: str, *, name: str = "identity settings") -> IdentityConfig:
    """Parses settings from TOML or JSON text (JSON when it starts with `{`)."""
    stripped = text.lstrip()
    try:
        document = orjson.loads(text) if stripped.startswith("{") else tomllib.loads(text)
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IdentityConfigError(f"{name}: not valid TOML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise IdentityConfigError(f"{name}: expected a table of settings")
    return parse_config(document, name=name)


def _fail(name: str, key: str, problem: str) -> IdentityConfigError:
    return IdentityConfigError(f"{name} key {key!r}: {problem}")


def _int(name: str, key: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(name, key, f"expected a whole number of at least {minimum}, got {value!r}")
    return value


def _parse_types(name: str, raw: Any) -> dict[str, IdentifierType]:
    if not isinstance(raw, dict):
        raise _fail(name, "identifiers", "expected a table of identifier types")
    types: dict[str, IdentifierType] = {}
    for type_name, default_normaliser in BUILT_IN_TYPES.items():
        limit = 1 if type_name == "user_id" else DEFAULT_LIMIT
        types[type_name] = IdentifierType(type_name, default_normaliser, limit)
    for type_name, spec in raw.items():
        key = f"identifiers.{type_name}"
        if not _TYPE_NAME.match(type_name):
            raise _fail(name, key, "a type name is lower-case letters, digits and _")
        if not isinstance(spec, dict):
            raise _fail(name, key, "expected a table with normalise, limit, window_days, bridges")
        unknown = set(spec) - {"normalise", "limit", "window_days", "bridges"}
        if unknown:
            raise _fail(name, f"{key}.{sorted(unknown)[0]}", "unknown setting")
        base = types.get(type_name, IdentifierType(type_name, "exact", DEFAULT_LIMIT))
        normaliser = spec.get("normalise", base.normaliser)
        if normaliser not in NORMALISERS:
            raise _fail(name, f"{key}.normalise", f"expected one of {', '.join(NORMALISERS)}")
        limit = _int(name, f"{key}.limit", spec.get("limit", base.limit), minimum=1)
        window = spec.get("window_days", base.window_days)
        if window is not None:
            window = _int(name, f"{key}.window_days", window, minimum=1)
        bridges = spec.get("bridges", base.bridges)
        if not isinstance(bridges, bool):
            raise _fail(name, f"{key}.bridges", f"expected true or false, got {bridges!r}")
        types[type_name] = IdentifierType(type_name, normaliser, limit, window, bridges)
    return types


def _parse_priority(name: str, raw: Any, types: Mapping[str, IdentifierType]) -> tuple[str, ...]:
    if raw is None:
        extra = sorted(t for t in types if t not in DEFAULT_PRIORITY)
        # External ids a source declares outrank devices and cookies: systems of record.
        return (*DEFAULT_PRIORITY[:4], *extra, *DEFAULT_PRIORITY[4:])
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise _fail(name, "priority", "expected a list of identifier type names")
    for type_name in raw:
        if type_name not in types:
            raise _fail(name, "priority", f"unknown identifier type {type_name!r}")
    if len(set(raw)) != len(raw):
        raise _fail(name, "priority", "a type is listed twice")
    missing = [t for t in types if t not in raw]
    return (*raw, *sorted(missing))


def _parse_sources(
    name: str, raw: Any, types: Mapping[str, IdentifierType]
) -> tuple[dict[str, dict[str, str | None]], dict[str, str]]:
    if not isinstance(raw, dict):
        raise _fail(name, "sources", "expected a table with one table per source name")
    overrides: dict[str, dict[str, str | None]] = {}
    regions: dict[str, str] = {}
    for source, spec in raw.items():
        key = f"sources.{source}"
        if not isinstance(spec, dict):
            raise _fail(name, key, "expected a table with fields and phone_region")
        unknown = set(spec) - {"fields", "phone_region"}
        if unknown:
            raise _fail(name, f"{key}.{sorted(unknown)[0]}", "unknown setting")
        if "phone_region" in spec:
            regions[source] = _region(name, f"{key}.phone_region", spec["phone_region"])
        fields = spec.get("fields", {})
        if not isinstance(fields, dict):
            raise _fail(name, f"{key}.fields", "expected a table of message path = type")
        mapped: dict[str, str | None] = {}
        for path, kind in fields.items():
            where = f"{key}.fields.{path}"
            if not _PATH.match(path):
                raise _fail(name, where, "expected a message path such as traits.crmId")
            if kind in ("", "ignore", False):
                mapped[path] = None
            elif isinstance(kind, str) and kind in types:
                mapped[path] = kind
            else:
                raise _fail(
                    name,
                    where,
                    f"unknown identifier type {kind!r}; declare it under [identifiers.{kind}]"
                    if isinstance(kind, str)
                    else 'expected an identifier type name, or "ignore"',
                )
        overrides[source] = mapped
    return overrides, regions


def _region(name: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _REGION.match(value.upper()):
        raise _fail(name, key, f"expected a two-letter country code such as TR, got {value!r}")
    return value.upper()


def parse_config(document: Mapping[str, Any], *, name: str = "identity settings") -> IdentityConfig:
    """Checks a settings document and builds the configuration, naming any bad key."""
    known = {"identifiers", "priority", "sources", "blocked", "phone_region"}
    unknown = set(document) - known
    if unknown:
        raise _fail(
            name, sorted(unknown)[0], f"unknown setting; expected {', '.join(sorted(known))}"
        )
    types = _parse_types(name, document.get("identifiers", {}))
    priority = _parse_priority(name, document.get("priority"), types)
    overrides, regions = _parse_sources(name, document.get("sources", {}), types)
    blocked = document.get("blocked", {})
    if not isinstance(blocked, dict):
        raise _fail(name, "blocked", "expected a table with values, patterns and max_people")
    unknown = set(blocked) - {"values", "patterns", "max_people"}
    if unknown:
        raise _fail(name, f"blocked.{sorted(unknown)[0]}", "unknown setting")
    values = blocked.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _fail(name, "blocked.values", "expected a list of strings")
    patterns = blocked.get("patterns", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise _fail(name, "blocked.patterns", "expected a list of regular expressions")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(
                name, "blocked.patterns", f"{pattern!r} is not a regular expression: {exc}"
            ) from None
    max_people = _int(
        name, "blocked.max_people", blocked.get("max_people", DEFAULT_MAX_PEOPLE), minimum=1
    )
    region = document.get("phone_region")
    return IdentityConfig(
        types=types,
        priority=priority,
        source_overrides=overrides,
        source_regions=regions,
        phone_region=_region(name, "phone_region", region) if region is not None else None,
        blocked_values=frozenset(DEFAULT_BLOCKED_VALUES) | {v.strip().lower() for v in values},
        blocked_patterns=(ZERO_OR_DASH, *patterns),
        max_people=max_people,
    )
