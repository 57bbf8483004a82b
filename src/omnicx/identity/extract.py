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


class Extractor:
    """Extracts normalised identifiers from messages; one per configuration, reused."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self._filter = ValueFilter(config)
        self._rules: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {}
        self._regions: dict[str, str | None] = {}

    def _source(self, source_name: str) -> tuple[tuple[tuple[str, ...], str], ...]:
        rules = self._rules.get(source_name)
        if rules is None:
            source_rules: SourceRules = self.config.rules_for(source_name)
            rules = tuple((tuple(p.split(".")), kind) for p, kind in source_rules.fields)
            self._rules[source_name] = rules
            self._regions[source_name] = source_rules.phone_region
        return rules

    def extract(self, message: Mapping[str, Any], source_name: str) -> Extracted:
        """The message's identifiers, normalised, deduplicated, blocked values removed."""
        found: dict[Identifier, None] = {}
        blocked = invalid = 0
        region: str | None = None
        region_known = False
        for path, kind in self._source(source_name):
            top = message.get(path[0])
            if top is None:
                continue
            raw = top if len(path) == 1 else _at(top, path[1:])
            if raw is None or raw == "":
                continue
            type_ = self.config.types[kind]
            if type_.normaliser == "phone" and not region_known:
                region = _region_hint(message) or self._regions[source_name]
                region_known = True
            value = normalise(type_.normaliser, raw, region)
            if value is None:
                invalid += 1
            elif self._filter.blocked(value):
                blocked += 1
            else:
                found[(kind, value)] = None
        ordered = sorted(found, key=lambda i: (self.config.rank(i[0]), i[0], i[1]))
        return Extracted(tuple(ordered), blocked, invalid)
