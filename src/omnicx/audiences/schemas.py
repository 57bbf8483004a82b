"""The audiences API's request and answer models (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SegmentIn(BaseModel):
    """A new segment."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        description="Lower-case letters, digits, `_ . -`; how definitions and URLs name it."
    )
    name: str = Field(description="What people call it.")
    description: str = ""
    definition: dict[str, Any] = Field(
        description="The definition's JSON form (docs/audiences-definitions.md)."
    )
    allow_new_traits: bool = Field(
        default=False,
        description="Accept trait names no profile holds yet (otherwise they are an error, "
        "which catches typos).",
    )


class SegmentChange(BaseModel):
    """Changes to a segment; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    definition: dict[str, Any] | None = None
    allow_new_traits: bool = False


class DefinitionCheck(BaseModel):
    """A definition to check without storing it."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]
    key: str | None = Field(default=None, description="The segment it is for, if it exists.")
    allow_new_traits: bool = False


class CheckedDefinition(BaseModel):
    """A definition that passed every check, and its text form."""

    definition: dict[str, Any]
    text: str


class SegmentOut(BaseModel):
    """A segment."""

    id: int
    key: str
    name: str
    description: str
    definition: dict[str, Any]
    text: str = Field(description="The definition as people read it.")
    version: int
    ready: bool = Field(
        description="False while a new or changed definition is being evaluated for everyone; "
        "members then still follow the previous one."
    )
    members: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SegmentList(BaseModel):
    """Every segment."""

    segments: list[SegmentOut]


class MemberOut(BaseModel):
    """A member of a segment."""

    profile_id: str
    entered_at: datetime


class MembersPage(BaseModel):
    """A page of members, by profile id."""

    segment: str
    members: list[MemberOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class MembershipOut(BaseModel):
    """A segment a profile is in."""

    segment: str
    name: str
    entered_at: datetime


class ProfileSegments(BaseModel):
    """The segments a profile is in."""

    profile_id: str
    segments: list[MembershipOut]
