"""Stored segments: create, change, list, delete. Definitions are checked before they are kept.

A new or changed definition is not live at once: the membership consumer first evaluates it for
everyone (filling in the hits of any new event condition from the stored events), then sets
`ready_version` to its `version`; until then the old members (none for a new segment) stand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import orjson
from sqlalchemy import Connection, delete, func, select, update

from omnicx.audiences.definition import Definition, segment_references, to_json

__all__ = ["Segment", "SegmentError", "to_json"]
from omnicx.audiences.errors import DefinitionError, Problem
from omnicx.audiences.phrases import SEGMENT_ERRORS
from omnicx.audiences.tables import audience_members, audience_segments
from omnicx.audiences.validation import check_cycles, parse_definition
from omnicx.profiles import service as profiles
from omnicx.store.clock import as_utc, utc_now
from omnicx.wording import Wording, worded

KEY_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
"""A segment's key: what definitions and URLs name it by."""
MAX_SEGMENTS: Final = 1000
_ID: Final = re.compile(r"[0-9]{1,9}")  # an id fits an INTEGER column


class SegmentError(ValueError):
    """A segment operation refused: `code` for programs, the message for people (`wording`
    when it is one of SEGMENT_ERRORS, for the console to write in its reader's language)."""

    def __init__(self, code: str, text: str | Wording, problems: Sequence[Problem] = ()) -> None:
        super().__init__(text.text() if isinstance(text, Wording) else text)
        self.code = code
        self.problems = list(problems)
        self.wording = text if isinstance(text, Wording) else None


def _refused(code: str, **fields: Any) -> SegmentError:
    return SegmentError(code, worded(SEGMENT_ERRORS, code, fields))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stored segment."""

    id: int
    key: str
    name: str
    description: str
    definition: Definition
    version: int
    ready_version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def ready(self) -> bool:
        """Whether its members follow its current definition."""
        return self.ready_version == self.version

    @property
    def document(self) -> dict[str, Any]:
        """The definition's JSON form."""
        return to_json(self.definition)


@lru_cache(maxsize=4096)
def _stored_definition(text: str) -> Definition:
    # Stored definitions were checked when stored: only the shape is read back, once per text
    # (definitions are immutable; the live consumer reads every segment each batch).
    return parse_definition(text)


def _segment(row: Any) -> Segment:
    return Segment(
        id=row.id,
        key=row.key,
        name=row.name,
        description=row.description,
        definition=_stored_definition(row.definition),
        version=row.version,
        ready_version=row.ready_version,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        updated_by=row.updated_by,
    )


def all_segments(connection: Connection) -> list[Segment]:
    """Every segment, by key."""
    rows = connection.execute(select(audience_segments).order_by(audience_segments.c.key))
    return [_segment(r) for r in rows]


def get(connection: Connection, reference: str | int) -> Segment:
    """A segment by key or id; SegmentError `not_found` when there is none."""
    column = audience_segments.c.id if isinstance(reference, int) else audience_segments.c.key
    row = connection.execute(select(audience_segments).where(column == reference)).first()
    if row is None and isinstance(reference, str) and _ID.fullmatch(reference):
        row = connection.execute(
            select(audience_segments).where(audience_segments.c.id == int(reference))
        ).first()
    if row is None:
        raise _refused("not_found", reference=reference)
    return _segment(row)


def check(
    connection: Connection,
    document: Mapping[str, Any] | str | bytes,
    *,
    key: str | None = None,
    allow_new_traits: bool = False,
) -> Definition:
    """The definition, checked against this installation: the traits profiles hold (unless
    `allow_new_traits`), the segments there are, no cycle. Raises DefinitionError."""
    others = {s.key: s.definition for s in all_segments(connection) if s.key != key}
    definition = parse_definition(
        document,
        traits=None if allow_new_traits else profiles.trait_names(connection),
        segments=set(others),
        key=key,
    )
    if key is not None:
        check_cycles({**others, key: definition})
    return definition


def _checked_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise _refused("invalid_key", key=key, low=1, high=100)
    return key


def _checked_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise _refused("invalid_name", low=1, high=200)
    return name


def create(
    connection: Connection,
    *,
    key: str,
    name: str,
    definition: Mapping[str, Any] | str | bytes,
    description: str = "",
    actor: str,
    allow_new_traits: bool = False,
) -> Segment:
    """Stores a new segment (not ready until the membership consumer has evaluated it)."""
    _checked_key(key)
    name = _checked_name(name)
    if connection.execute(
        select(audience_segments.c.id).where(audience_segments.c.key == key)
    ).first():
        raise _refused("exists", key=key)
    count = connection.execute(select(func.count()).select_from(audience_segments)).scalar_one()
    if count >= MAX_SEGMENTS:
        raise _refused("too_many", count=count)
    checked = _definition(connection, definition, key, allow_new_traits)
    now = utc_now()
    connection.execute(
        audience_segments.insert().values(
            key=key,
            name=name,
            description=description,
            definition=orjson.dumps(to_json(checked)).decode(),
            version=1,
            ready_version=0,
            created_at=now,
            updated_at=now,
            updated_by=actor,
        )
    )
    return get(connection, key)


def _definition(
    connection: Connection,
    document: Mapping[str, Any] | str | bytes,
    key: str,
    allow_new_traits: bool,
) -> Definition:
    try:
        return check(connection, document, key=key, allow_new_traits=allow_new_traits)
    except DefinitionError as error:
        raise SegmentError("invalid_definition", str(error), error.problems) from None


def change(
    connection: Connection,
    reference: str | int,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: Mapping[str, Any] | str | bytes | None = None,
    actor: str,
    allow_new_traits: bool = False,
) -> Segment:
    """Changes a segment; a new definition makes it evaluated again for everyone."""
    segment = get(connection, reference)
    values: dict[str, Any] = {"updated_at": utc_now(), "updated_by": actor}
    if name is not None:
        values["name"] = _checked_name(name)
    if description is not None:
        values["description"] = description
    if definition is not None:
        checked = _definition(connection, definition, segment.key, allow_new_traits)
        if to_json(checked) != segment.document:
            values["definition"] = orjson.dumps(to_json(checked)).decode()
            values["version"] = segment.version + 1
    connection.execute(
        update(audience_segments).where(audience_segments.c.id == segment.id).values(**values)
    )
    return get(connection, segment.id)


def remove(connection: Connection, reference: str | int) -> Segment:
    """Deletes a segment and its members (no `Segment Exited` events: the segment is gone).
    Refused while another segment refers to it."""
    segment = get(connection, reference)
    users = sorted(
        s.key
        for s in all_segments(connection)
        if segment.key in segment_references(s.definition) and s.key != segment.key
    )
    if users:
        raise _refused("in_use", key=segment.key, users=", ".join(users))
    connection.execute(delete(audience_members).where(audience_members.c.segment_id == segment.id))
    connection.execute(delete(audience_segments).where(audience_segments.c.id == segment.id))
    return segment


def mark_ready(connection: Connection, segment_id: int, version: int) -> None:
    """Records that the members of `version` are computed."""
    connection.execute(
        update(audience_segments)
        .where(audience_segments.c.id == segment_id)
        .values(ready_version=version)
    )
