"""Every query of the profiles domain's own tables."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, delete, func, select, update

from omnicx.profiles.consent import ConsentSignal
from omnicx.profiles.facts import TraitValue
from omnicx.profiles.fold import Stats
from omnicx.profiles.name_keys import NAME_TRAITS, forget_name_keys, refresh_name_keys
from omnicx.profiles.tables import (
    profile_consent_history,
    profile_consents,
    profile_positions,
    profile_stats,
    profile_trait_observations,
    profile_traits,
)
from omnicx.store.bulk import chunks, insert_ignoring_duplicates, upsert
from omnicx.store.clock import as_utc, utc_now

CHANGES = "changes"
EVENTS = "events"


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts rows (one statement executed for all rows)."""
    if rows:
        connection.execute(table.insert(), list(rows))


def positions(connection: Connection) -> dict[str, int]:
    """The builder's positions: the last identity change applied, the last event folded."""
    return {
        r.name: int(r.position)
        for r in connection.execute(select(profile_positions.c.name, profile_positions.c.position))
    }


def set_positions(connection: Connection, values: Mapping[str, int]) -> None:
    """Stores the builder's positions."""
    upsert(
        connection,
        profile_positions,
        [{"name": k, "position": v} for k, v in values.items()],
        ["name"],
    )


def stats_of(connection: Connection, profile_ids: Collection[str]) -> dict[str, Stats]:
    """The stored computed traits of these profiles."""
    found: dict[str, Stats] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(profile_stats).where(profile_stats.c.profile_id.in_(chunk))
        ):
            found[row.profile_id] = Stats.from_row(row)
    return found


def stats_row(connection: Connection, profile_id: str) -> Any:
    """One profile's computed traits row, or None."""
    return connection.execute(
        select(profile_stats).where(profile_stats.c.profile_id == profile_id)
    ).first()


def _trait(row: Any) -> TraitValue:
    return TraitValue(
        row.name,
        row.value,
        row.source_id,
        row.channel,
        row.event_id,
        row.message_id,
        as_utc(row.observed_at),
    )


def traits_of(
    connection: Connection, profile_ids: Collection[str]
) -> dict[str, dict[str, TraitValue]]:
    """The winning trait values of these profiles."""
    found: dict[str, dict[str, TraitValue]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(profile_traits).where(profile_traits.c.profile_id.in_(chunk))
        ):
            found.setdefault(row.profile_id, {})[row.name] = _trait(row)
    return found


def consent_signal(row: Any) -> ConsentSignal:
    return ConsentSignal(
        row.channel,
        row.purpose,
        bool(row.granted),
        as_utc(row.occurred_at),
        row.signal,
        event_id=row.event_id,
        source_id=row.source_id,
        message_id=row.message_id,
        actor=row.actor,
        note=row.note,
    )


def consents_of(
    connection: Connection, profile_ids: Collection[str]
) -> dict[str, dict[tuple[str, str], ConsentSignal]]:
    """The consents in force for these profiles."""
    found: dict[str, dict[tuple[str, str], ConsentSignal]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(profile_consents).where(profile_consents.c.profile_id.in_(chunk))
        ):
            found.setdefault(row.profile_id, {})[(row.channel, row.purpose)] = consent_signal(row)
    return found


def consent_rows(profile_id: str, signals: Collection[ConsentSignal]) -> list[dict[str, Any]]:
    """`profile_consents` rows for a profile's consents in force."""
    return [
        {
            "profile_id": profile_id,
            "channel": s.channel,
            "purpose": s.purpose,
            "granted": s.granted,
            "occurred_at": s.occurred_at,
            "event_id": s.event_id,
            "source_id": s.source_id,
            "message_id": s.message_id,
            "signal": s.signal,
            "actor": s.actor,
            "note": s.note,
        }
        for s in signals
    ]


def history_rows(signals: Collection[ConsentSignal]) -> list[dict[str, Any]]:
    """`profile_consent_history` rows for signals events carried."""
    now = utc_now()
    return [
        {
            "event_id": s.event_id,
            "given_to": None,
            "profile_id": None,
            "channel": s.channel,
            "purpose": s.purpose,
            "granted": s.granted,
            "source_id": s.source_id,
            "message_id": s.message_id,
            "signal": s.signal,
            "actor": None,
            "note": None,
            "occurred_at": s.occurred_at,
            "recorded_at": now,
        }
        for s in signals
    ]


def save_traits(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores winning trait values (replacing the previous winners); a changed name is
    searchable at once."""
    upsert(connection, profile_traits, rows, ["profile_id", "name"])
    named = {str(row["profile_id"]) for row in rows if row["name"] in NAME_TRAITS}
    if named:
        refresh_name_keys(connection, named)


def save_stats(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores computed traits."""
    upsert(connection, profile_stats, rows, ["profile_id"])


def save_consents(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores consents in force."""
    upsert(connection, profile_consents, rows, ["profile_id", "channel", "purpose"])


def add_observations(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Records trait values events carried (an event recorded twice keeps its first)."""
    insert_ignoring_duplicates(connection, profile_trait_observations, rows)


def add_history(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Records consent signals."""
    insert_rows(connection, profile_consent_history, rows)


def delete_derived(connection: Connection, profile_ids: Collection[str]) -> None:
    """Forgets the traits, computed traits and consents in force of these profiles."""
    forget_name_keys(connection, profile_ids)
    for chunk in chunks(sorted(profile_ids)):
        for table in (profile_traits, profile_stats, profile_consents):
            connection.execute(delete(table).where(table.c.profile_id.in_(chunk)))


def wipe(connection: Connection) -> None:
    """Forgets everything derived from events (a rebuild); consents given through the API
    stay, and are in force again until events say otherwise."""
    for table in (profile_traits, profile_stats, profile_consents, profile_trait_observations):
        connection.execute(delete(table))
    forget_name_keys(connection, None)
    connection.execute(
        delete(profile_consent_history).where(profile_consent_history.c.event_id.is_not(None))
    )
    held: dict[str, dict[tuple[str, str], ConsentSignal]] = {}
    for row in connection.execute(
        select(profile_consent_history)
        .where(profile_consent_history.c.profile_id.is_not(None))
        .order_by(profile_consent_history.c.id)
    ):
        held.setdefault(row.profile_id, {})[(row.channel, row.purpose)] = consent_signal(row)
    save_consents(connection, [r for p, c in held.items() for r in consent_rows(p, c.values())])


def observations_for(
    connection: Connection, keyed: Select[Any], *, until: int
) -> list[tuple[str, TraitValue]]:
    """(profile id, trait value) for the events of `keyed` (event id, profile id)."""
    sub = keyed.subquery()
    event_id, profile = list(sub.c)[:2]
    obs = profile_trait_observations
    rows = connection.execute(
        select(obs, profile.label("key"))
        .join(sub, event_id == obs.c.event_id)
        .where(obs.c.event_id <= until)
    )
    return [(row.key, _trait(row)) for row in rows]


def event_consents_for(
    connection: Connection, keyed: Select[Any], *, until: int
) -> list[tuple[str, ConsentSignal]]:
    """(profile id, signal) for the consent signals the events of `keyed` carried."""
    sub = keyed.subquery()
    event_id, profile = list(sub.c)[:2]
    history = profile_consent_history
    rows = connection.execute(
        select(history, profile.label("key"))
        .join(sub, event_id == history.c.event_id)
        .where(history.c.event_id <= until)
    )
    return [(row.key, consent_signal(row)) for row in rows]


def given_consents(
    connection: Connection, profile_ids: Collection[str]
) -> list[tuple[str, ConsentSignal]]:
    """(profile id, signal) for consents given through the API to these profiles."""
    found = []
    history = profile_consent_history
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(history).where(history.c.profile_id.in_(chunk)).order_by(history.c.id)
        ):
            found.append((row.profile_id, consent_signal(row)))
    return found


def given_to_any(connection: Connection, profile_ids: Collection[str]) -> list[tuple[int, str]]:
    """(history id, profile it was given to) for API consents that belong to, or were given
    to, these profiles."""
    history = profile_consent_history
    found: list[tuple[int, str]] = []
    for chunk in chunks(sorted(profile_ids)):
        found.extend(
            (row.id, row.given_to)
            for row in connection.execute(
                select(history.c.id, history.c.given_to).where(
                    history.c.event_id.is_(None),
                    history.c.given_to.in_(chunk) | history.c.profile_id.in_(chunk),
                )
            )
        )
    return found


def move_given(connection: Connection, moves: Mapping[int, str | None]) -> None:
    """Sets the profile API consents belong to now."""
    for history_id, profile_id in moves.items():
        connection.execute(
            update(profile_consent_history)
            .where(profile_consent_history.c.id == history_id)
            .values(profile_id=profile_id)
        )


def history_of(connection: Connection, event_ids: Select[Any], profile_id: str) -> list[Any]:
    """A profile's consent history: its events' signals and the consents given to it."""
    history = profile_consent_history
    rows = connection.execute(
        select(history)
        .where(
            history.c.event_id.in_(event_ids.scalar_subquery())
            | (history.c.event_id.is_(None) & (history.c.profile_id == profile_id))
        )
        .order_by(history.c.occurred_at, history.c.id)
    )
    return list(rows)


def trait_observations_of(connection: Connection, event_ids: Select[Any]) -> list[Any]:
    """Every trait value a profile's events carried, oldest first."""
    obs = profile_trait_observations
    return list(
        connection.execute(
            select(obs)
            .where(obs.c.event_id.in_(event_ids.scalar_subquery()))
            .order_by(obs.c.observed_at, obs.c.event_id, obs.c.name)
        )
    )


def traits_row(connection: Connection, profile_id: str) -> list[Any]:
    """A profile's winning trait values, by name."""
    return list(
        connection.execute(
            select(profile_traits)
            .where(profile_traits.c.profile_id == profile_id)
            .order_by(profile_traits.c.name)
        )
    )


def consents_rows(connection: Connection, profile_id: str) -> list[Any]:
    """A profile's consents in force."""
    return list(
        connection.execute(
            select(profile_consents)
            .where(profile_consents.c.profile_id == profile_id)
            .order_by(profile_consents.c.channel, profile_consents.c.purpose)
        )
    )


def _rows_by_profile(
    connection: Connection, table: Table, profile_ids: Collection[str], order: Sequence[Any]
) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for chunk in chunks(sorted(profile_ids)):
        for row in connection.execute(
            select(table).where(table.c.profile_id.in_(chunk)).order_by(*order)
        ):
            found.setdefault(row.profile_id, []).append(row)
    return found


def traits_rows_of(connection: Connection, profile_ids: Collection[str]) -> dict[str, list[Any]]:
    """`traits_row` of many profiles."""
    return _rows_by_profile(connection, profile_traits, profile_ids, [profile_traits.c.name])


def consents_rows_of(connection: Connection, profile_ids: Collection[str]) -> dict[str, list[Any]]:
    """`consents_rows` of many profiles."""
    order = [profile_consents.c.channel, profile_consents.c.purpose]
    return _rows_by_profile(connection, profile_consents, profile_ids, order)


def stats_rows_of(connection: Connection, profile_ids: Collection[str]) -> dict[str, Any]:
    """`stats_row` of many profiles (those without computed traits yet are absent)."""
    found = _rows_by_profile(connection, profile_stats, profile_ids, [])
    return {p: rows[0] for p, rows in found.items()}


def trait_names(connection: Connection) -> list[str]:
    """Every trait name some profile holds, sorted."""
    return list(
        connection.execute(
            select(profile_traits.c.name)
            .group_by(profile_traits.c.name)
            .order_by(profile_traits.c.name)
        ).scalars()
    )


def erase(connection: Connection, profile_id: str, event_ids: Collection[int]) -> dict[str, int]:
    """Deletes everything held about a profile and its events; returns rows deleted per kind."""
    forget_name_keys(connection, [profile_id])
    counts = {"trait_observations": 0, "consent_history": 0}
    for chunk in chunks(sorted(event_ids)):
        counts["trait_observations"] += (
            connection.execute(
                delete(profile_trait_observations).where(
                    profile_trait_observations.c.event_id.in_(chunk)
                )
            ).rowcount
            or 0
        )
        counts["consent_history"] += (
            connection.execute(
                delete(profile_consent_history).where(profile_consent_history.c.event_id.in_(chunk))
            ).rowcount
            or 0
        )
    history = profile_consent_history
    counts["consent_history"] += (
        connection.execute(
            delete(history).where(
                history.c.event_id.is_(None),
                (history.c.profile_id == profile_id) | (history.c.given_to == profile_id),
            )
        ).rowcount
        or 0
    )
    for name, table in (
        ("traits", profile_traits),
        ("computed_traits", profile_stats),
        ("consents", profile_consents),
    ):
        counts[name] = (
            connection.execute(delete(table).where(table.c.profile_id == profile_id)).rowcount or 0
        )
    return counts


def count(connection: Connection, table: Table) -> int:
    """Rows of a table (for status displays)."""
    return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)


def profiles_with_traits(connection: Connection) -> list[str]:
    """Every profile holding a trait value."""
    return list(
        connection.execute(
            select(profile_traits.c.profile_id).distinct().order_by(profile_traits.c.profile_id)
        ).scalars()
    )


def delete_traits(connection: Connection, profile_ids: Collection[str]) -> None:
    """Forgets the winning trait values of these profiles."""
    forget_name_keys(connection, profile_ids)
    for chunk in chunks(sorted(profile_ids)):
        connection.execute(delete(profile_traits).where(profile_traits.c.profile_id.in_(chunk)))


def traits_named(connection: Connection, names: Collection[str]) -> Iterator[Any]:
    """(profile_id, name, value) of every profile's winning values of these traits, by
    profile (for the matching job)."""
    yield from connection.execute(
        select(profile_traits.c.profile_id, profile_traits.c.name, profile_traits.c.value)
        .where(profile_traits.c.name.in_(sorted(names)))
        .order_by(profile_traits.c.profile_id)
    )
