"""Profiles' names as search keys: folded (case, accents and punctuation ignored, Turkish
dotless i as i), one key from every word on ("ayse nur yilmaz", "nur yilmaz", "yilmaz"), kept
in `profile_name_keys` by the repository whenever a profile's name traits change, so a prefix
of any word of a name is one range scan of an index (profiles/search.py reads them)."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from omnicx.profiles.tables import profile_name_keys, profile_traits
from omnicx.store.bulk import chunks

FIRST_NAME_TRAITS = ("firstName", "first_name")
LAST_NAME_TRAITS = ("lastName", "last_name")
FULL_NAME_TRAITS = ("name", "fullName", "full_name")
NAME_TRAITS = frozenset((*FIRST_NAME_TRAITS, *LAST_NAME_TRAITS, *FULL_NAME_TRAITS))
"""The traits a name is read from."""

MAX_KEY = 200
MAX_WORDS = 8


def fold(text: str) -> str:
    """`text` as name search compares it: lower case, without accents or punctuation, one
    space between words (`Ayşe-Nur  Yılmaz` -> `ayse nur yilmaz`)."""
    text = text.replace("ı", "i").replace("İ", "i")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for character in decomposed:
        category = unicodedata.category(character)
        if category.startswith("M"):
            continue
        kept.append(" " if category[0] in "PSZC" else character)
    return " ".join("".join(kept).split())


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first(values: Mapping[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        found = _text(values.get(name))
        if found:
            return found
    return None


def full_name(values: Mapping[str, Any]) -> str | None:
    """A profile's name from its trait values (first and last name, else `name`), or None."""
    parts = [_first(values, FIRST_NAME_TRAITS), _first(values, LAST_NAME_TRAITS)]
    joined = " ".join(p for p in parts if p)
    return joined or _first(values, FULL_NAME_TRAITS)


def name_keys(values: Mapping[str, Any]) -> set[str]:
    """The search keys of a profile's name traits (trait name -> value)."""
    parts = [_first(values, FIRST_NAME_TRAITS), _first(values, LAST_NAME_TRAITS)]
    names = {" ".join(p for p in parts if p), *(_text(values.get(n)) for n in FULL_NAME_TRAITS)}
    keys: set[str] = set()
    for name in names:
        words = fold(name or "").split()[:MAX_WORDS]
        keys.update(" ".join(words[i:])[:MAX_KEY] for i in range(len(words)))
    return keys


def refresh_name_keys(connection: Connection, profile_ids: Collection[str]) -> None:
    """Writes the name keys of these profiles again from their winning trait values."""
    forget_name_keys(connection, profile_ids)
    values: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(profile_traits.c.profile_id, profile_traits.c.name, profile_traits.c.value)
            .where(profile_traits.c.profile_id.in_(chunk))
            .where(profile_traits.c.name.in_(sorted(NAME_TRAITS)))
        ):
            values.setdefault(row.profile_id, {})[row.name] = orjson.loads(row.value)
    rows = [
        {"key": key, "profile_id": profile_id}
        for profile_id, held in values.items()
        for key in sorted(name_keys(held))
    ]
    for part in chunks(rows, 2000):
        connection.execute(profile_name_keys.insert(), list(part))


def forget_name_keys(connection: Connection, profile_ids: Collection[str] | None) -> None:
    """Drops the name keys of these profiles (None: of every profile)."""
    if profile_ids is None:
        connection.execute(delete(profile_name_keys))
        return
    for chunk in chunks(sorted(profile_ids)):
        connection.execute(
            delete(profile_name_keys).where(profile_name_keys.c.profile_id.in_(chunk))
        )
