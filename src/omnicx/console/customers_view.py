"""What the customers pages show, gathered from the domains: search results, the customer 360
and timeline events ready for the templates (personal data masked for readers who may not
see it). No words here: the templates write them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from omnicx.audiences import scoring_store
from omnicx.audiences.membership import memberships_of
from omnicx.console.masking import mask
from omnicx.identity import service as identity
from omnicx.profiles import search, service
from omnicx.profiles.name_keys import full_name
from omnicx.profiles.schemas import (
    ChangeOut,
    ConflictOut,
    ConsentOut,
    ProfileDocument,
    TimelineEvent,
    TimelinePage,
)

TIMELINE_PAGE = 50
"""Events per page of the timeline (the first with the page, the next as the reader scrolls)."""

NAME_RESULTS = 50
"""Customers listed for a name search; more means the reader should type more."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FACT_LIMIT = 4
_SKIPPED_PROPERTIES = frozenset({"products", "context", "traits"})


def personal_kind(name: str, value: object) -> str | None:
    """How a named value is masked: `email`, `phone`, or None when it is no personal data."""
    if not isinstance(value, str):
        return None
    lowered = name.lower()
    if "email" in lowered or _EMAIL.match(value.strip()):
        return "email"
    if "phone" in lowered:
        return "phone"
    return None


def masked_message(value: Any, key: str = "") -> Any:
    """A message with every e-mail address and phone number masked, at any depth."""
    if isinstance(value, Mapping):
        return {k: masked_message(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_message(v, key) for v in value]
    kind = personal_kind(key, value)
    return mask(value, kind) if kind else value


@dataclass(frozen=True, slots=True)
class EventView:
    """One event of the timeline as the page lists it."""

    id: int
    type: str
    name: str | None
    """The track event's name, or the page or screen's name."""
    channel: str
    source: str
    timestamp: datetime
    facts: list[tuple[str, str]]
    """A few of its properties (name, value), personal ones masked as needed."""
    message: str
    """The whole message as indented JSON."""


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) and str(value).strip():
        return str(value)[:120]
    return None


def event_view(event: TimelineEvent, *, personal: bool) -> EventView:
    """A timeline event for the page; `personal`: the reader sees personal data unmasked."""
    message = event.message if personal else masked_message(event.message)
    properties = message.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    name = event.event
    if event.type in ("page", "screen"):
        name = _scalar(message.get("name")) or _scalar(properties.get("title"))
    facts = []
    if event.type == "page":
        path = _scalar(properties.get("path")) or _scalar(properties.get("url"))
        if path:
            facts.append(("path", path))
    for key, value in properties.items():
        if len(facts) >= _FACT_LIMIT:
            break
        shown = _scalar(value)
        if key in _SKIPPED_PROPERTIES or key in ("path", "url", "title") or shown is None:
            continue
        facts.append((str(key), shown))
    if event.type == "identify":
        traits = message.get("traits")
        for key, value in (traits if isinstance(traits, Mapping) else {}).items():
            shown = _scalar(value)
            if shown is not None and len(facts) < _FACT_LIMIT:
                facts.append((str(key), shown))
    return EventView(
        id=event.id,
        type=event.type,
        name=name,
        channel=event.channel,
        source=event.source,
        timestamp=event.timestamp,
        facts=facts,
        message=orjson.dumps(message, option=orjson.OPT_INDENT_2).decode(),
    )


def timeline_views(page: TimelinePage, *, personal: bool) -> list[EventView]:
    """A page of the timeline for the template."""
    return [event_view(e, personal=personal) for e in page.events]


@dataclass(frozen=True, slots=True)
class ScoreView:
    """A profile's lead score under one scoring model, as last evaluated."""

    key: str
    name: str
    score: float | None
    stage: str | None
    updated_at: datetime | None
    ready: bool


@dataclass(frozen=True, slots=True)
class SegmentView:
    """A segment the profile is a member of."""

    key: str
    name: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class TraitView:
    """A trait's value with its provenance; `kind` says how to mask it."""

    name: str
    value: str
    kind: str | None
    source: str
    channel: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class Customer360:
    """Everything the customer 360 page shows except the timeline."""

    document: ProfileDocument
    name: str | None
    traits: list[TraitView]
    consent_history: list[ConsentOut]
    segments: list[SegmentView]
    scores: list[ScoreView]
    merges: list[ChangeOut]
    conflicts: list[ConflictOut]

    @property
    def id(self) -> str:
        """The profile's id."""
        return self.document.id

    def first(self, identifier_type: str) -> str | None:
        """The profile's first identifier of a type (its e-mail address, say)."""
        held = self.document.identities.get(identifier_type)
        return held[0].value if held else None


def _trait_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def customer_360(connection: Connection, profile_id: str) -> Customer360:
    """The customer 360 of a current profile id (ProfileError `not_found` otherwise)."""
    document = service.document(connection, profile_id)
    current = document.id
    traits = [
        TraitView(
            name,
            _trait_text(trait.value),
            personal_kind(name, trait.value),
            trait.source,
            trait.channel,
            trait.observed_at,
        )
        for name, trait in document.traits.items()
    ]
    models = scoring_store.all_models(connection)
    stored = scoring_store.stored_scores(connection, [current])
    scores = []
    for model in models:
        found = stored.get((model.id, current))
        scores.append(
            ScoreView(
                model.key,
                model.model.name,
                found.score if found else None,
                found.stage if found else None,
                found.updated_at if found else None,
                model.ready,
            )
        )
    return Customer360(
        document=document,
        name=full_name({name: t.value for name, t in document.traits.items()}),
        traits=traits,
        consent_history=list(reversed(service.consents(connection, current).history)),
        segments=[SegmentView(k, n, at) for k, n, at in memberships_of(connection, current)],
        scores=scores,
        merges=service.merges(connection, current),
        conflicts=service.conflicts(connection, current),
    )


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A customer a search found, and how."""

    document: ProfileDocument
    name: str | None
    matched: list[str]
    """What matched: identifier types, or `name`."""

    def first(self, identifier_type: str) -> str | None:
        """The customer's first identifier of a type."""
        held = self.document.identities.get(identifier_type)
        return held[0].value if held else None


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What a search found: one customer to open, or a list."""

    open_profile: str | None
    results: list[SearchResult]
    shared: list[search.IdentifierMatch]
    more: bool
    """More customers match the name than are listed."""


def looks_like_profile_id(text: str) -> bool:
    """Whether the searched text is shaped like a profile id."""
    return bool(_UUID.match(text.strip()))


def find_customers(connection: Connection, text: str, kind: str) -> SearchOutcome:
    """Searches by `kind`: `any` (every identifier type, a profile id, then names), `name`,
    or one identifier type (ProfileError when the text cannot be one)."""
    text = text.strip()
    if kind == "any" and looks_like_profile_id(text):
        current = identity.current_profile_id(connection, text.lower())
        if current is not None:
            return SearchOutcome(current, [], [], False)
    matched: dict[str, list[str]] = {}
    shared: list[search.IdentifierMatch] = []
    if kind != "name":
        for match in search.find_by_identifier(
            connection, text, type_name=None if kind == "any" else kind
        ):
            if match.profile_id is None:
                shared.append(match)
            else:
                matched.setdefault(match.profile_id, []).append(match.type)
    if len(matched) == 1 and not shared:
        return SearchOutcome(next(iter(matched)), [], [], False)
    more = False
    if kind in ("any", "name"):
        named = search.search_by_name(connection, text, limit=NAME_RESULTS + 1)
        more = len(named) > NAME_RESULTS
        for profile_id in named[:NAME_RESULTS]:
            matched.setdefault(profile_id, []).append("name")
    documents = service.documents(connection, matched)
    results = [
        SearchResult(
            documents[p],
            full_name({name: t.value for name, t in documents[p].traits.items()}),
            types,
        )
        for p, types in matched.items()
        if p in documents
    ]
    return SearchOutcome(None, results, shared, more)


def identifier_types(connection: Connection) -> list[str]:
    """The identifier types a search may be limited to."""
    return search.identifier_types(connection)


def channels_of(document: ProfileDocument, chosen: Sequence[str]) -> list[str]:
    """The channels the timeline filter offers: those the customer used, and any chosen."""
    found = list(document.computed.channels)
    return found + [c for c in chosen if c not in found]
