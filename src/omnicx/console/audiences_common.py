"""What the audiences section's modules share: a transaction per request, the segment or
model a path names (404 otherwise), who did it, and the event names the builder suggests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from fastapi import HTTPException, Request
from sqlalchemy import Connection

from omnicx.access.sessions import ConsoleSession
from omnicx.audiences import scoring_store
from omnicx.audiences import segments as store
from omnicx.audiences.definition import EventCondition, walk
from omnicx.audiences.scoring import model_event_conditions
from omnicx.audiences.segments import Segment, SegmentError
from omnicx.console.security import engine_of

SECTION: Final = "audiences"
MAX_ID: Final = 2**31 - 1
"""Ids are INTEGER columns: a larger number names nothing (and must not reach the query)."""

COMMON_EVENTS: Final = (
    "Order Completed",
    "Product Added",
    "Product Removed",
    "Product Viewed",
    "Products Searched",
    "Cart Viewed",
    "Checkout Started",
    "Signed Up",
    "Signed In",
    "Email Opened",
    "Email Link Clicked",
    "Unsubscribed",
    "Segment Entered",
    "Segment Exited",
    "Lead Stage Changed",
)
"""Event names the builder offers (from the tracking spec most sources follow), besides
those stored segments and models already use."""


@contextmanager
def transaction(request: Request) -> Iterator[Connection]:
    """One transaction for the request."""
    with engine_of(request).begin() as connection:
        yield connection


def actor(session: ConsoleSession) -> str:
    """The audit log's and the segments' name for the reader."""
    return f"console:{session.user.email}"


def segment_or_404(connection: Connection, segment_id: int) -> Segment:
    """The segment with this id; a 404 page when there is none."""
    if segment_id > MAX_ID:
        raise HTTPException(404)
    try:
        return store.get(connection, segment_id)
    except SegmentError as error:
        if error.code == "not_found":
            raise HTTPException(404) from None
        raise


def model_or_404(connection: Connection, key: str) -> scoring_store.StoredModel:
    """The scoring model with this key; a 404 page when there is none."""
    try:
        return scoring_store.get_model(connection, key)
    except SegmentError as error:
        if error.code == "not_found":
            raise HTTPException(404) from None
        raise


def known_event_names(connection: Connection) -> list[str]:
    """The event names stored segments and scoring models use, with COMMON_EVENTS."""
    names = set(COMMON_EVENTS)
    for segment in store.all_segments(connection):
        names.update(c.event for _, c in walk(segment.definition) if isinstance(c, EventCondition))
    for model in scoring_store.all_models(connection):
        names.update(c.event for c in model_event_conditions(model.model).values())
    return sorted(names)
