"""The profiles domain's public functions: the profile document, timeline, merges and
conflicts, unmerge, consents.

Every function takes the caller's connection (one transaction per request or command) and
raises ProfileError, whose `code` says what went wrong.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from omnicx.collect import history
from omnicx.collect.processing import lock_consumer
from omnicx.identity import service as identity
from omnicx.profiles import consent, rfm
from omnicx.profiles import repository as repo
from omnicx.profiles.consent import ConsentSignal
from omnicx.profiles.consumer import CONSUMER_NAME, apply_identity_changes
from omnicx.profiles.fold import Stats, offer_consent, open_cart, stamp, unstamp
from omnicx.profiles.schemas import (
    CartItem,
    ChangeOut,
    ComputedTraits,
    ConflictOut,
    ConsentOut,
    ConsentsOut,
    IdentifierRef,
    IdentityOut,
    LastOrder,
    OpenCartOut,
    ProfileDocument,
    RfmOut,
    TimelineEvent,
    TimelinePage,
    TraitOut,
    UnmergeOut,
)
from omnicx.profiles.tables import profile_consent_history
from omnicx.store.clock import as_utc, utc_now

MAX_PAGE = 500


class ProfileError(ValueError):
    """A request about a profile that cannot be met; `code` says which kind."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _from_identity(error: identity.IdentityError) -> ProfileError:
    return ProfileError(error.code, str(error))


def resolve(connection: Connection, profile_id: str) -> str:
    """The profile an id stands for now (following merges); ProfileError when none."""
    current = identity.current_profile_id(connection, profile_id)
    if current is None:
        raise ProfileError("not_found", f"No profile {profile_id!r} (or it was erased).")
    return current


def lookup(connection: Connection, type_name: str, value: str) -> str:
    """The profile id holding an identifier."""
    try:
        return identity.lookup(connection, type_name, value)
    except identity.IdentityError as error:
        raise _from_identity(error) from None


def find(connection: Connection, reference: str) -> str:
    """A profile from `TYPE:VALUE` (e.g. `email:ada@example.com`) or a profile id."""
    type_name, separator, value = reference.partition(":")
    if not separator:
        return resolve(connection, reference.strip())
    return lookup(connection, type_name.strip(), value)


def document(connection: Connection, profile_id: str) -> ProfileDocument:
    """The profile document of an id (a merged-away id answers with its current profile)."""
    current = resolve(connection, profile_id)
    return _document(
        connection,
        current,
        merged_from=profile_id if profile_id != current else None,
        found=identity.identities_of(connection, current),
        trait_rows=repo.traits_row(connection, current),
        stats_row=repo.stats_row(connection, current),
        consent_rows=repo.consents_rows(connection, current),
        names=history.source_names(connection),
    )


def documents(connection: Connection, profile_ids: Collection[str]) -> dict[str, ProfileDocument]:
    """The documents of many current profile ids at once, in a few queries each (for
    audiences); ids that are not a current profile's are left out."""
    ids = sorted(set(profile_ids))
    held = identity.identities_of_profiles(connection, ids)
    ids = [p for p in ids if p in held]
    traits = repo.traits_rows_of(connection, ids)
    stats = repo.stats_rows_of(connection, ids)
    consents = repo.consents_rows_of(connection, ids)
    names = history.source_names(connection)
    return {
        p: _document(
            connection,
            p,
            merged_from=None,
            found=held[p],
            trait_rows=traits.get(p, []),
            stats_row=stats.get(p),
            consent_rows=consents.get(p, []),
            names=names,
        )
        for p in ids
    }


def trait_names(connection: Connection) -> list[str]:
    """The names of every trait some profile holds, sorted (what conditions may name)."""
    return repo.trait_names(connection)


def _document(
    connection: Connection,
    current: str,
    *,
    merged_from: str | None,
    found: Sequence[identity.Identity],
    trait_rows: Sequence[Any],
    stats_row: Any,
    consent_rows: Sequence[Any],
    names: Mapping[int, str],
) -> ProfileDocument:
    identities: dict[str, list[IdentityOut]] = {}
    for held in found:
        identities.setdefault(held.type, []).append(
            IdentityOut(
                value=held.value,
                first_seen_at=held.first_seen_at,
                last_seen_at=held.last_seen_at,
            )
        )
    traits = {
        row.name: TraitOut(
            value=orjson.loads(row.value),
            source=names.get(row.source_id, f"#{row.source_id}"),
            channel=row.channel,
            event_id=row.event_id,
            message_id=row.message_id,
            observed_at=as_utc(row.observed_at),
        )
        for row in trait_rows
    }
    return ProfileDocument(
        id=current,
        merged_from=merged_from,
        identities=identities,
        traits=traits,
        computed=_computed(connection, stats_row),
        consents=[_consent_out(_signal(row), names) for row in consent_rows],
    )


def computed_traits(connection: Connection, profile_id: str) -> ComputedTraits:
    """A profile's computed traits (empty until the builder has seen its events)."""
    return _computed(connection, repo.stats_row(connection, profile_id))


def _computed(connection: Connection, row: Any) -> ComputedTraits:
    if row is None:
        return ComputedTraits(
            first_seen_at=None,
            last_seen_at=None,
            events=0,
            channels={},
            preferred_channel=None,
            orders=0,
            lifetime_value=0.0,
            last_order=None,
            open_cart=None,
            rfm=None,
        )
    stats = Stats.from_row(row)
    cart = open_cart(stats.cart) if stats.cart else None
    last = stats.last_order
    score = rfm.score(
        rfm.thresholds(connection) if stats.orders else None,
        last_order_at=last.at if last else None,
        orders=stats.orders,
        lifetime_value=stats.lifetime_value,
    )
    return ComputedTraits(
        first_seen_at=stats.first_seen_at,
        last_seen_at=stats.last_seen_at,
        events=stats.events,
        channels=dict(sorted(stats.channels.items(), key=lambda kv: (-kv[1], kv[0]))),
        preferred_channel=row.preferred_channel,
        orders=stats.orders,
        lifetime_value=stats.lifetime_value,
        last_order=LastOrder(
            at=last.at,
            order_id=last.order_id,
            value=last.value,
            currency=last.currency,
            channel=last.channel,
            event_id=last.event_id,
        )
        if last
        else None,
        open_cart=OpenCartOut(
            items=[CartItem(**item) for item in cart.items],
            value=cart.value,
            updated_at=cart.updated_at,
        )
        if cart
        else None,
        rfm=RfmOut(
            recency=score.recency,
            frequency=score.frequency,
            monetary=score.monetary,
            code=score.code,
        )
        if score
        else None,
    )


def _signal(row: object) -> ConsentSignal:
    return repo.consent_signal(row)


def _consent_out(signal: ConsentSignal, names: Mapping[int, str]) -> ConsentOut:
    return ConsentOut(
        channel=signal.channel,
        purpose=signal.purpose,
        granted=signal.granted,
        occurred_at=signal.occurred_at,
        signal=signal.signal,
        source=names.get(signal.source_id) if signal.source_id is not None else None,
        event_id=signal.event_id,
        message_id=signal.message_id,
        actor=signal.actor,
        note=signal.note,
    )


def encode_cursor(timestamp: datetime, event_id: int) -> str:
    """An opaque cursor for the position after an event."""
    raw = orjson.dumps([stamp(timestamp), event_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor stands for; ProfileError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = orjson.loads(raw)
        if not isinstance(event_id, int) or not isinstance(at, str):
            raise ValueError(cursor)
        return unstamp(at), event_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ProfileError(
            "invalid_cursor", "This cursor was not given by this API; start again without one."
        ) from None


def timeline(
    connection: Connection,
    profile_id: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
    channels: Collection[str] = (),
    types: Collection[str] = (),
) -> TimelinePage:
    """A page of the profile's events across channels, newest first."""
    current = resolve(connection, profile_id)
    before = decode_cursor(cursor) if cursor else None
    limit = max(1, min(limit, MAX_PAGE))
    found = history.page_of_events(
        connection,
        identity.event_ids_of(current),
        limit=limit + 1,
        before=before,
        channels=channels,
        types=types,
    )
    page = found[:limit]
    return TimelinePage(
        profile_id=current,
        events=[
            TimelineEvent(
                id=e.id,
                type=e.type,
                event=e.event,
                channel=e.channel,
                source=e.source,
                message_id=e.message_id,
                timestamp=e.timestamp,
                received_at=e.received_at,
                message=e.message,
            )
            for e in page
        ],
        next_cursor=encode_cursor(page[-1].timestamp, page[-1].id) if len(found) > limit else None,
    )


def _identifier(pair: tuple[str, str] | None) -> IdentifierRef | None:
    return IdentifierRef(type=pair[0], value=pair[1]) if pair else None


def change_out(change: identity.Change) -> ChangeOut:
    """An identity log entry as the API shows it."""
    return ChangeOut(
        id=change.id,
        kind=change.kind,
        profile_id=change.profile_id,
        other_profile_id=change.other_profile_id,
        identifier=_identifier(change.identifier),
        event_id=change.event_id,
        rule=change.rule,
        actor=change.actor,
        created_at=change.created_at,
        undone_by=change.undone_by,
        detail=change.detail,
    )


def merges(connection: Connection, profile_id: str) -> list[ChangeOut]:
    """Merges, splits and unmerges that involved the profile, newest first."""
    return [change_out(c) for c in identity.changes_of(connection, resolve(connection, profile_id))]


def conflicts(connection: Connection, profile_id: str) -> list[ConflictOut]:
    """Joins a rule refused that involve the profile."""
    return [
        ConflictOut(
            id=c.id,
            identifier=IdentifierRef(type=c.identifier[0], value=c.identifier[1]),
            anchor=IdentifierRef(type=c.anchor[0], value=c.anchor[1]),
            profile_id=c.profile_id,
            other_profile_id=c.other_profile_id,
            reason=c.reason,
            detail=c.detail,
            first_event_id=c.first_event_id,
            first_occurred_at=c.first_occurred_at,
            events=c.events,
        )
        for c in identity.conflicts_of(connection, resolve(connection, profile_id))
    ]


def unmerge(connection: Connection, change_id: int, *, actor: str) -> UnmergeOut:
    """Undoes a merge and rebuilds both profiles' traits at once."""
    try:
        result = identity.unmerge(connection, change_id, actor=actor)
    except identity.IdentityError as error:
        raise _from_identity(error) from None
    apply_identity_changes(connection)
    return UnmergeOut(
        change_id=result.change_id,
        kept_profile_id=result.kept_profile_id,
        restored_profile_id=result.restored_profile_id,
    )


def consents(connection: Connection, profile_id: str) -> ConsentsOut:
    """The consents in force and their whole history."""
    current = resolve(connection, profile_id)
    names = history.source_names(connection)
    return ConsentsOut(
        profile_id=current,
        consents=[
            _consent_out(_signal(row), names) for row in repo.consents_rows(connection, current)
        ],
        history=[
            _consent_out(_signal(row), names)
            for row in repo.history_of(connection, identity.event_ids_of(current), current)
        ],
    )


def set_consent(
    connection: Connection,
    profile_id: str,
    *,
    channel: str,
    purpose: str,
    granted: bool,
    actor: str,
    note: str | None = None,
    signal: str = "api",
) -> ConsentsOut:
    """Records a consent given or withdrawn now (it is in force: it is the latest signal)."""
    try:
        consent.check(channel, purpose)
    except ValueError as error:
        raise ProfileError("invalid_consent", str(error)) from None
    lock_consumer(connection, CONSUMER_NAME)
    current = resolve(connection, profile_id)
    now = utc_now()
    given = ConsentSignal(channel, purpose, granted, now, signal, actor=actor, note=note)
    connection.execute(
        profile_consent_history.insert().values(
            event_id=None,
            given_to=current,
            profile_id=current,
            channel=channel,
            purpose=purpose,
            granted=granted,
            source_id=None,
            message_id=None,
            signal=signal,
            actor=actor,
            note=note,
            occurred_at=now,
            recorded_at=now,
        )
    )
    held = repo.consents_of(connection, [current]).get(current, {})
    if offer_consent(held, given):
        repo.save_consents(connection, repo.consent_rows(current, [given]))
    return consents(connection, current)
