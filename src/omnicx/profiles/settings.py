"""Profile settings: which sources a trait's value is taken from first.

One TOML (or JSON) document, stored in the database by `omnicx profiles configure`, so every
process ranks traits by the same rules (docs/profiles.md):

    [traits.email]
    sources = ["crm", "web"]      # the CRM's e-mail first, then the web shop's, then any other

    [traits."*"]                  # every trait without a table of its own
    sources = ["crm"]

Without an entry, the latest observation of a trait wins, whatever its source.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select

from omnicx.profiles.tables import profile_settings
from omnicx.store.clock import utc_now

ANY_TRAIT = "*"
_TRAIT_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")


class ProfileSettingsError(ValueError):
    """The profile settings are invalid; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """The rules the profile builder follows."""

    trait_sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Trait name (or `*`) -> source names, most trusted first."""

    def sources_for(self, trait: str) -> tuple[str, ...]:
        """The sources a trait is taken from first, in order (empty: latest wins)."""
        found = self.trait_sources.get(trait)
        if found is None:
            found = self.trait_sources.get(ANY_TRAIT, ())
        return found

    def document(self) -> dict[str, Any]:
        """The settings as a document (what `omnicx profiles settings --json` prints)."""
        return {"traits": {name: {"sources": list(s)} for name, s in self.trait_sources.items()}}


def parse_settings(
    document: Mapping[str, Any], *, name: str = "profile settings"
) -> ProfileSettings:
    """Checks a settings document and builds the settings, naming any bad key."""
    unknown = set(document) - {"traits"}
    if unknown:
        raise ProfileSettingsError(
            f"{name} key {sorted(unknown)[0]!r}: unknown setting; expected traits"
        )
    traits = document.get("traits", {})
    if not isinstance(traits, dict):
        raise ProfileSettingsError(
            f"{name} key 'traits': expected a table with one table per trait"
        )
    sources: dict[str, tuple[str, ...]] = {}
    for trait, spec in traits.items():
        key = f"traits.{trait}"
        if not _TRAIT_NAME.match(trait):
            raise ProfileSettingsError(f"{name} key {key!r}: not a usable trait name")
        if not isinstance(spec, dict):
            raise ProfileSettingsError(f"{name} key {key!r}: expected a table with sources")
        extra = set(spec) - {"sources"}
        if extra:
            raise ProfileSettingsError(f"{name} key '{key}.{sorted(extra)[0]}': unknown setting")
        listed = spec.get("sources", [])
        if not isinstance(listed, list) or not all(isinstance(s, str) and s for s in listed):
            raise ProfileSettingsError(
                f"{name} key '{key}.sources': expected a list of source names, most trusted first"
            )
        if len(set(listed)) != len(listed):
            raise ProfileSettingsError(f"{name} key '{key}.sources': a source is listed twice")
        sources[trait] = tuple(listed)
    return ProfileSettings(sources)


def load_text(text: str, *, name: str = "profile settings") -> ProfileSettings:
    """Parses settings from TOML or JSON text (JSON when it starts with `{`)."""
    try:
        document = orjson.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileSettingsError(f"{name}: not valid TOML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ProfileSettingsError(f"{name}: expected a table of settings")
    return parse_settings(document, name=name)


DEFAULTS = ProfileSettings()
_cache: dict[str, ProfileSettings] = {}


def current_version(connection: Connection) -> int:
    """The version of the settings in force (0: the built-in defaults)."""
    return int(connection.execute(select(func.max(profile_settings.c.version))).scalar() or 0)


def current_document(connection: Connection) -> str | None:
    """The settings text in force, or None when the defaults apply."""
    return connection.execute(
        select(profile_settings.c.document).order_by(profile_settings.c.version.desc()).limit(1)
    ).scalar()


def current_settings(connection: Connection) -> ProfileSettings:
    """The settings in force, parsed once per distinct document."""
    text = current_document(connection)
    if text is None:
        return DEFAULTS
    found = _cache.get(text)
    if found is None:
        found = load_text(text, name="stored profile settings")
        if len(_cache) > 100:
            _cache.clear()
        _cache[text] = found
    return found


def store(connection: Connection, text: str, *, name: str) -> int:
    """Checks settings text (raising ProfileSettingsError) and makes it the new version."""
    load_text(text, name=name)
    version = current_version(connection) + 1
    connection.execute(
        insert(profile_settings).values(version=version, document=text, created_at=utc_now())
    )
    return version
