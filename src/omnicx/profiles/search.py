"""Finding customers: by any identifier (every configured type at once) or by name.

Name search reads the keys `profiles.name_keys` keeps (a prefix of any word of a name is one
indexed range scan, at any number of profiles; docs/profiles.md#finding-customers).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from omnicx.identity import service as identity
from omnicx.identity.settings_store import current_config
from omnicx.profiles.name_keys import MAX_KEY, fold
from omnicx.profiles.service import ProfileError
from omnicx.profiles.tables import profile_name_keys

MAX_RESULTS = 200
_TOP = "\U0010ffff"
"""Sorts after every character (byte order), closing a prefix range."""


def search_by_name(connection: Connection, text: str, *, limit: int = 50) -> list[str]:
    """Profiles with a name one of whose words starts with `text` (`ayse y` finds Ayşe
    Yılmaz), by name, at most `limit`; one range scan of an index."""
    wanted = fold(text)[:MAX_KEY]
    if not wanted:
        return []
    limit = max(1, min(limit, MAX_RESULTS))
    found: dict[str, None] = {}
    after: tuple[str, str] | None = None
    while len(found) < limit:
        statement = (
            select(profile_name_keys.c.key, profile_name_keys.c.profile_id)
            .where(profile_name_keys.c.key >= wanted)
            .where(profile_name_keys.c.key < wanted + _TOP)
            .order_by(profile_name_keys.c.key, profile_name_keys.c.profile_id)
            .limit(limit * 2)
        )
        if after is not None:
            statement = statement.where(
                (profile_name_keys.c.key > after[0])
                | (
                    (profile_name_keys.c.key == after[0])
                    & (profile_name_keys.c.profile_id > after[1])
                )
            )
        rows = connection.execute(statement).all()
        for row in rows:
            found.setdefault(row.profile_id)
        if len(rows) < limit * 2:
            break
        after = (rows[-1].key, rows[-1].profile_id)
    return list(found)[:limit]


@dataclass(frozen=True, slots=True)
class IdentifierMatch:
    """An identifier the searched text is, once normalised as its type wants."""

    type: str
    value: str
    profile_id: str | None
    """None: the identifier is shared by too many people to identify one."""


def identifier_types(connection: Connection) -> list[str]:
    """The identifier types configured, in priority order."""
    config = current_config(connection)
    return sorted(config.types, key=lambda name: (config.rank(name), name))


def find_by_identifier(
    connection: Connection, text: str, *, type_name: str | None = None
) -> list[IdentifierMatch]:
    """The identifiers `text` is, as any configured type (or only `type_name`), with the
    profile holding each; one indexed lookup per type. With `type_name`, a value that type
    cannot take raises ProfileError (`unknown_type`, `invalid_value`, `blocked_value`)."""
    config = current_config(connection)
    if type_name is not None and type_name not in config.types:
        known = ", ".join(identifier_types(connection))
        raise ProfileError(
            "unknown_type", f"Unknown identifier type {type_name!r}; known: {known}."
        )
    found: list[IdentifierMatch] = []
    for name in [type_name] if type_name else identifier_types(connection):
        try:
            key = identity.normalise_identifier(config, name, text)
            profile_id: str | None = identity.lookup(connection, name, text)
        except identity.IdentityError as error:
            if error.code == "shared":
                profile_id = None
            elif type_name is not None and error.code != "not_found":
                raise ProfileError(error.code, str(error)) from None
            else:
                continue
        found.append(IdentifierMatch(name, key[1], profile_id))
    return found
