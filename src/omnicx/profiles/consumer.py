"""The profile builder: the stream consumer after identity resolution.

Each batch it (1) follows the identity change feed and recomputes every profile a merge,
split, unmerge, sharing or erasure changed, from that profile's events up to the builder's
position, then (2) folds the batch's events into their profiles. Both run inside the batch's
transaction, so a crash repeats or loses nothing.

A checkpoint set back below the builder's own position (an identity rebuild, `reset`) or a
`rebuild` change in the feed makes it forget everything derived and start again from the
events (docs/profiles.md#processing).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from sqlalchemy import Connection

from omnicx.collect import history
from omnicx.collect.emit import SYSTEM_CHANNEL
from omnicx.collect.history import SourceNames
from omnicx.collect.processing import StoredEvent, lock_consumer, read_events
from omnicx.identity import service as identity
from omnicx.identity.consumer import CONSUMER_NAME as IDENTITY_CONSUMER
from omnicx.profiles import repository as repo
from omnicx.profiles.consent import ConsentSignal
from omnicx.profiles.facts import (
    CART_EVENTS,
    COMMERCE_EVENTS,
    ORDER_EVENT,
    PASSIVE_EVENTS,
    TraitValue,
    cart_change_of,
    facts_of,
    order_of,
)
from omnicx.profiles.fold import Stats, TraitRanking, offer_consent, offer_trait
from omnicx.profiles.settings import current_settings
from omnicx.store.bulk import chunks

log = logging.getLogger("omnicx.profiles")

CONSUMER_NAME = "profiles.builder"
RECOMPUTE_CHUNK = 400
"""Profiles recomputed per round of queries."""


class ProfileBuilder:
    """Stream consumer: keeps traits, computed traits and consents of every profile."""

    name = CONSUMER_NAME
    upstream = IDENTITY_CONSUMER
    needs_payload = True

    def __init__(self) -> None:
        self._sources = SourceNames()

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        """Applies identity changes to the profiles built so far, then folds the batch in."""
        bound = batch[0].id - 1  # every event up to here is folded in already
        catch_up(connection, bound=bound, sources=self._sources)
        fold_events(connection, batch, sources=self._sources)
        repo.set_positions(connection, {repo.EVENTS: batch[-1].id})


def apply_identity_changes(connection: Connection) -> int:
    """Recomputes now the profiles that identity changes since the last batch touched (after
    an unmerge through the API, say); returns how many changes were read."""
    position = lock_consumer(connection, CONSUMER_NAME)
    if repo.positions(connection).get(repo.EVENTS, 0) > position:
        return 0  # the builder was reset: its next batch starts again anyway
    return catch_up(connection, bound=position, sources=SourceNames())


def catch_up(connection: Connection, *, bound: int, sources: SourceNames) -> int:
    """Applies the identity changes logged since the last call to the profiles built from
    events up to `bound`; returns how many changes were read."""
    held = repo.positions(connection)
    if held.get(repo.EVENTS, 0) > bound:
        log.info("the builder's checkpoint was set back to %d: starting again", bound)
        start_again(connection, bound=bound, sources=sources)
        return 0
    last = held.get(repo.CHANGES, 0)
    named: set[str] = set()
    rebuilt = False
    read = 0
    while page := identity.changes_since(connection, last, limit=1000):
        for change in page:
            rebuilt = rebuilt or change.kind == "rebuild"
            named.update(p for p in (change.profile_id, change.other_profile_id) if p)
        last = page[-1].id
        read += len(page)
    if rebuilt:
        log.info("identity was rebuilt: profiles start again")
        start_again(connection, bound=bound, sources=sources)
        return read
    if named:
        recompute(connection, named, bound=bound, sources=sources)
    if read:
        repo.set_positions(connection, {repo.CHANGES: last})
    return read


def _latest_change(connection: Connection, after: int) -> int:
    while page := identity.changes_since(connection, after, limit=1000):
        after = page[-1].id
    return after


def start_again(connection: Connection, *, bound: int, sources: SourceNames) -> None:
    """Forgets everything derived, then folds the events up to `bound` again (none when the
    builder itself was set back to the start, as a rebuild does)."""
    latest = _latest_change(connection, repo.positions(connection).get(repo.CHANGES, 0))
    repo.wipe(connection)
    after = 0
    while batch := read_events(connection, after=after, limit=5000, until=bound):
        fold_events(connection, batch, sources=sources)
        after = batch[-1].id
    repo.set_positions(connection, {repo.CHANGES: latest, repo.EVENTS: bound})


def fold_events(
    connection: Connection, batch: Sequence[StoredEvent], *, sources: SourceNames
) -> None:
    """Folds new events into their profiles: one read and one write per table. Events omnicx
    emitted itself (segment entered...) are not the person's activity and carry no traits."""
    batch = [e for e in batch if e.channel != SYSTEM_CHANNEL]
    if not batch:
        return
    attributed = identity.profiles_of_events(connection, [e.id for e in batch])
    names = sources.of(connection, {e.source_id for e in batch})
    ranking = TraitRanking(current_settings(connection).sources_for, names)
    found = [(attributed.get(e.id), facts_of(e)) for e in batch]
    touched = {p for p, _ in found if p is not None}
    stats = repo.stats_of(connection, touched)
    observations: list[dict[str, object]] = []
    with_traits: set[str] = set()
    with_consents: set[str] = set()
    for profile, facts in found:
        observations.extend(t.row() for t in facts.traits)
        if profile is None:
            continue
        state = stats.get(profile)
        if state is None:
            state = stats[profile] = Stats(profile)
        state.add_activity(facts.at, facts.channel, facts.own)
        if facts.order is not None:
            state.add_order(facts.order)
        if facts.cart is not None:
            state.add_cart_change(facts.cart)
        if facts.traits:
            with_traits.add(profile)
        if facts.consents or facts.preferences:
            with_consents.add(profile)

    winners = repo.traits_of(connection, with_traits)
    changed: set[tuple[str, str]] = set()
    current = repo.consents_of(connection, with_consents)
    signals: list[ConsentSignal] = []
    moved: set[tuple[str, str, str]] = set()
    for profile, facts in found:
        signals.extend(facts.consents)
        if profile is None:
            continue
        if facts.traits:
            held = winners.setdefault(profile, {})
            changed.update((profile, t.name) for t in facts.traits if offer_trait(held, t, ranking))
        if facts.consents or facts.preferences:
            in_force = current.setdefault(profile, {})
            for signal in facts.consents:
                if offer_consent(in_force, signal):
                    moved.add((profile, signal.channel, signal.purpose))
            for signal in facts.preferences:
                # A banner's choice is repeated on every event: only a change is a signal.
                now = in_force.get((signal.channel, signal.purpose))
                if now is not None and now.granted == signal.granted:
                    continue
                signals.append(signal)
                if offer_consent(in_force, signal):
                    moved.add((profile, signal.channel, signal.purpose))

    repo.add_observations(connection, observations)
    repo.save_traits(
        connection, [{"profile_id": p, **winners[p][name].row()} for p, name in sorted(changed)]
    )
    rows = []
    for state in stats.values():
        state.finish()
        rows.append(state.row())
    repo.save_stats(connection, rows)
    repo.add_history(connection, repo.history_rows(signals))
    repo.save_consents(
        connection,
        [
            row
            for p, channel, purpose in sorted(moved)
            for row in repo.consent_rows(p, [current[p][(channel, purpose)]])
        ],
    )


def recompute(
    connection: Connection, profile_ids: Collection[str], *, bound: int, sources: SourceNames
) -> None:
    """Builds these profiles again from nothing: their events up to `bound`, the trait
    values and consent signals those carried, the consents given to them."""
    ids = set(profile_ids) | _move_given_consents(connection, profile_ids)
    repo.delete_derived(connection, ids)
    settings = current_settings(connection)
    for chunk in chunks(sorted(ids), RECOMPUTE_CHUNK):
        keyed = identity.event_ids_of_profiles(chunk)
        stats: dict[str, Stats] = {}
        winners: dict[str, dict[str, TraitValue]] = {}
        in_force: dict[str, dict[tuple[str, str], ConsentSignal]] = {}
        if bound > 0:
            for event in history.summaries_of(connection, keyed, until=bound):
                if event.channel == SYSTEM_CHANNEL:
                    continue
                state = _state(stats, event.key)
                own = not (event.type == "track" and event.event in PASSIVE_EVENTS)
                state.add_activity(event.timestamp, event.channel, own)
            for event, message in history.messages_of(
                connection, keyed, until=bound, names=COMMERCE_EVENTS
            ):
                properties = message.get("properties")
                properties = properties if isinstance(properties, dict) else {}
                if event.event == ORDER_EVENT:
                    _state(stats, event.key).add_order(
                        order_of(event.id, event.timestamp, event.channel, properties)
                    )
                elif event.event in CART_EVENTS:
                    _state(stats, event.key).add_cart_change(
                        cart_change_of(event.id, event.timestamp, event.event, properties)
                    )
            observed = repo.observations_for(connection, keyed, until=bound)
            names = sources.of(connection, {v.source_id for _, v in observed})
            ranking = TraitRanking(settings.sources_for, names)
            for profile, value in observed:
                offer_trait(winners.setdefault(profile, {}), value, ranking)
            for profile, signal in repo.event_consents_for(connection, keyed, until=bound):
                offer_consent(in_force.setdefault(profile, {}), signal)
        for profile, signal in repo.given_consents(connection, chunk):
            offer_consent(in_force.setdefault(profile, {}), signal)
        rows = []
        for state in stats.values():
            if state.first_seen_at is not None:  # (an event attributed while we read: next batch)
                state.finish()
                rows.append(state.row())
        repo.save_stats(connection, rows)
        repo.save_traits(
            connection,
            [{"profile_id": p, **v.row()} for p, held in winners.items() for v in held.values()],
        )
        repo.save_consents(
            connection,
            [r for p, held in in_force.items() for r in repo.consent_rows(p, held.values())],
        )


def _state(stats: dict[str, Stats], profile_id: str) -> Stats:
    found = stats.get(profile_id)
    if found is None:
        found = stats[profile_id] = Stats(profile_id)
    return found


def _move_given_consents(connection: Connection, profile_ids: Collection[str]) -> set[str]:
    """Moves consents given through the API to the profile their id stands for now (a merge
    takes them along, an unmerge gives them back); returns the profiles they moved to."""
    moves: dict[int, str | None] = {}
    for history_id, given_to in repo.given_to_any(connection, profile_ids):
        moves[history_id] = identity.current_profile_id(connection, given_to)
    repo.move_given(connection, moves)
    return {p for p in moves.values() if p is not None}


def rerank_traits(connection: Connection) -> int:
    """Chooses every profile's trait values again by the settings in force (after
    `profiles configure`); returns how many profiles were ranked."""
    position = lock_consumer(connection, CONSUMER_NAME)
    bound = min(position, repo.positions(connection).get(repo.EVENTS, 0))
    settings = current_settings(connection)
    sources = SourceNames()
    profiles = repo.profiles_with_traits(connection)
    for chunk in chunks(profiles, RECOMPUTE_CHUNK):
        observed = repo.observations_for(
            connection, identity.event_ids_of_profiles(chunk), until=bound
        )
        ranking = TraitRanking(
            settings.sources_for, sources.of(connection, {v.source_id for _, v in observed})
        )
        winners: dict[str, dict[str, TraitValue]] = {}
        for profile, value in observed:
            offer_trait(winners.setdefault(profile, {}), value, ranking)
        repo.delete_traits(connection, chunk)
        repo.save_traits(
            connection,
            [{"profile_id": p, **v.row()} for p, held in winners.items() for v in held.values()],
        )
    return len(profiles)
