"""Reading the identifiers a message carries, as its source's rules say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnicx.identity.config import IdentityConfig, SourceRules
from omnicx.identity.normalise import ValueFilter, normalise

Identifier = tuple[str, str]
"""(type, normalised value)."""

_REGION_HINTS = (
    ("traits", "address", "country"),
    ("context", "traits", "address", "country"),
)


@dataclass(frozen=True, slots=True)
class Extracted:
    """The identifiers found in one message, in priority order, and what was left out."""

    identifiers: tuple[Identifier, ...]
    blocked: int
    invalid: int


def _at(message: Mapping[str, Any], path: tuple[str, ...]) -> object:
    node: object = message
    for part in path:
        # Messages are decoded JSON: plain dicts (an exact type check is much cheaper than
        # isinstance against Mapping on this hot path).
        if type(node) is not dict:
            return None
        node = node.get(part)
    return node


def _region_hint(message: Mapping[str, Any]) -> str | None:
    """The country the message says the person is in, to read national phone numbers."""
    for path in _REGION_HINTS:
        country = _at(message, path)
        if isinstance(country, str) and len(country.strip()) == 2:
            return country.strip().upper()
    locale = _at(message, ("context", "locale"))
    if isinstance(locale, str):
        parts = locale.replace("_", "-").split("-")
        if len(parts) >= 2 and len(parts[-1]) == 2 and parts[-1].isalpha():
            return parts[-1].upper()
    return None


@dataclass(frozen=True, slots=True)
class _Field:
    top: str
    rest: tuple[str, ...]
    kind: str
    normaliser: str
    rank: tuple[int, str]


class Extractor:
    """Extracts normalised identifiers from messages; one per configuration, reused."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self._filter = ValueFilter(config)
        self._fields: dict[str, tuple[_Field, ...]] = {}
        self._regions: dict[str, str | None] = {}
        self._blocked: dict[str, bool] = {}

    def _source(self, source_name: str) -> tuple[_Field, ...]:
        fields = self._fields.get(source_name)
        if fields is None:
            rules: SourceRules = self.config.rules_for(source_name)
            fields = tuple(
                _Field(
                    path.split(".")[0],
                    tuple(path.split(".")[1:]),
                    kind,
                    self.config.types[kind].normaliser,
                    (self.config.rank(kind), kind),
                )
                for path, kind in rules.fields
            )
            self._fields[source_name] = fields
            self._regions[source_name] = rules.phone_region
        return fields

    def _is_blocked(self, value: str) -> bool:
        known = self._blocked.get(value)
        if known is None:
            known = self._filter.blocked(value)
            if len(self._blocked) > 100_000:
                self._blocked.clear()
            self._blocked[value] = known
        return known

    def extract(self, message: Mapping[str, Any], source_name: str) -> Extracted:
        """The message's identifiers, normalised, deduplicated, blocked values removed."""
        found: dict[Identifier, tuple[int, str]] = {}
        blocked = invalid = 0
        region: str | None = None
        region_known = False
        for field in self._source(source_name):
            raw = message.get(field.top)
            if raw is None:
                continue
            if field.rest:
                raw = _at(raw, field.rest)
                if raw is None:
                    continue
            if raw == "":
                continue
            if field.normaliser == "phone" and not region_known:
                region = _region_hint(message) or self._regions[source_name]
                region_known = True
            value = normalise(field.normaliser, raw, region)
            if value is None:
                invalid += 1
            elif self._is_blocked(value):
                blocked += 1
            else:
                found[(field.kind, value)] = field.rank
        if len(found) < 2:
            return Extracted(tuple(found), blocked, invalid)
        ordered = sorted(found, key=lambda i: (found[i], i[1]))
        return Extracted(tuple(ordered), blocked, invalid)
