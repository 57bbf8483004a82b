"""People a report lists (those who dropped out of a funnel): a page of them at a time, with
their names and e-mail addresses from their profiles (masked by the template for readers
who may not see personal data)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from omnicx.analytics.funnel_results import DroppedPerson
from omnicx.profiles import service as profiles

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ListedPerson:
    """A person in a list: their profile (None when it is no longer a current profile: merged
    away or erased since the lake saw it), name, e-mail address and when they did it."""

    profile_id: str
    at: datetime
    current: bool
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class PeoplePage:
    """One page of a list ordered by profile id; `next_after` continues it."""

    people: tuple[ListedPerson, ...]
    total: int
    next_after: str | None


def page_of(people: Sequence[DroppedPerson], after: str | None) -> list[DroppedPerson]:
    """The PAGE_SIZE people after the profile id `after` (the list is by profile id)."""
    start = bisect_right([p.profile_id for p in people], after) if after else 0
    return list(people[start : start + PAGE_SIZE + 1])


def people_page(engine: Engine, people: Sequence[DroppedPerson], after: str | None) -> PeoplePage:
    """A page of `people` (ordered by profile id) after `after`, with their profiles' names
    and e-mail addresses."""
    chosen = page_of(people, after)
    more = len(chosen) > PAGE_SIZE
    chosen = chosen[:PAGE_SIZE]
    with engine.connect() as connection:
        documents = profiles.documents(connection, [p.profile_id for p in chosen])
    listed = []
    for person in chosen:
        found = documents.get(person.profile_id)
        if found is None:
            listed.append(ListedPerson(person.profile_id, person.reached_at, current=False))
            continue
        traits = {name: trait.value for name, trait in found.traits.items()}
        emails = found.identities.get("email") or []
        listed.append(
            ListedPerson(
                person.profile_id,
                person.reached_at,
                current=True,
                name=display_name(traits),
                email=emails[0].value if emails else _text(traits.get("email")),
            )
        )
    return PeoplePage(
        tuple(listed), len(people), chosen[-1].profile_id if more and chosen else None
    )


def display_name(traits: dict[str, Any]) -> str | None:
    """A person's name from their traits: `name`, else first and last name."""
    name = _text(traits.get("name"))
    if name:
        return name
    first = _text(traits.get("first_name")) or _text(traits.get("firstName"))
    last = _text(traits.get("last_name")) or _text(traits.get("lastName"))
    joined = " ".join(p for p in (first, last) if p)
    return joined or None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
