"""Probabilistic matching of stored profiles: people who share no identifier.

A batch job. Each profile with enough traits to compare (a name and one more field: birth
date, postcode, city, street, e-mail, phone) becomes one record; Splink finds the records
that are probably the same person (`identity.matching`). Pairs at or above the automatic-merge
threshold are joined by an identity link: evidence that goes through the same rules as
events (identifier limits, unmerge separations), is logged as a merge with the match as its
reason, can be undone with unmerge and is kept across rebuilds. Pairs of the review band below
it wait in the review queue until someone accepts or rejects them. Profiles' traits, computed
traits and consents follow the merges in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from omnicx.identity import links
from omnicx.identity import service as identity
from omnicx.profiles import repository as repo
from omnicx.profiles.consumer import apply_identity_changes
from omnicx.profiles.matching_records import (
    FIELDS,
    TRAITS,
    ProfileMatch,
    label,
    name_distances,
    pair_of,
    record_of,
    records_table,
    varied_columns,
)
from omnicx.profiles.service import ProfileError

Progress = Callable[[str, str], None]
"""Called with (phase, what is being done): reading, then Splink's phases, merging, queueing."""

AUTO_MERGE = 0.99
"""Pairs at least this likely to be the same person are merged without asking anyone."""
REVIEW_FROM = 0.80
"""Pairs at least this likely (and below AUTO_MERGE) go to the review queue."""
MIN_RECORDS = 50
"""Fewer comparable profiles than this cannot train a model: the job refuses to run."""
STATUSES = ("pending", "accepted", "rejected", "all")
"""What the review queue can be filtered by."""


class MatchJobError(ProfileError):
    """The matching job, or a review decision, cannot go ahead; `code` says why."""


@dataclass(frozen=True, slots=True)
class ProfileRecords:
    """The records to match, read from the profiles' traits."""

    profiles: int
    """Profiles holding any of the traits read."""
    records: list[dict[str, str | None]]
    """One per profile with enough fields to compare: its id and its fields' values."""
    fields: tuple[str, ...]
    """The fields compared (FIELDS, or those chosen)."""


@dataclass(frozen=True, slots=True)
class FoundMatches:
    """What matching found, before anything is merged or queued."""

    profiles: int
    """Profiles holding any of the traits read."""
    records: int
    """Profiles with enough fields to compare (a name and one more field)."""
    compared: tuple[str, ...]
    """The record columns compared (those with at least two different values)."""
    pairs: tuple[ProfileMatch, ...]
    """Every pair at least `review_from` likely, most likely first."""
    review_from: float
    seconds: float


@dataclass(frozen=True, slots=True)
class MatchJobReport:
    """What a run of the matching job did."""

    profiles: int
    records: int
    compared: tuple[str, ...]
    pairs: int
    """Pairs found at least `review_from` likely."""
    merged: int
    """Pairs joined into one profile."""
    refused: int
    """Pairs a rule refused to join (two userIds, an unmerge), now or in an earlier run."""
    queued: int
    """Pairs newly added to the review queue (those of the review band, and held ones)."""
    held: int
    """Pairs at least `auto_merge` likely offered for review instead of merged: nothing but
    the name and the city agrees, or a surname or the birth dates differ."""
    dismissed: int
    """Pairs of two people whatever the model says (the given names differ, or the surnames
    and the birth dates do: members of a household, namesakes): neither merged nor queued."""
    skipped: int
    """Pairs already one profile, rejected by a reviewer, or already in the review queue."""
    auto_merge: float
    review_from: float
    seconds: float


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A review with the profiles its two sides stand for now."""

    review: links.Review
    current_profile_ids: tuple[str, ...]
    """One id once the two are one profile, two while apart, fewer if one was erased."""


def _silent(_phase: str, _message: str) -> None:
    return None


def check_thresholds(auto_merge: float, review_from: float) -> None:
    """Refuses thresholds outside 0 < review_from <= auto_merge <= 1."""
    _check_threshold("auto_merge", auto_merge)
    _check_threshold("review_from", review_from)
    if review_from > auto_merge:
        raise MatchJobError(
            "invalid_thresholds",
            f"review_from ({review_from}) must not be above auto_merge ({auto_merge}): the "
            "review band lies below the automatic-merge threshold.",
        )


def _check_threshold(name: str, value: float) -> None:
    if not 0.0 < value <= 1.0:  # also refuses NaN
        raise MatchJobError(
            "invalid_thresholds", f"{name} must be above 0 and at most 1, not {value}."
        )


def check_fields(fields: Collection[str] | None) -> tuple[str, ...]:
    """The fields to compare (all by default); refuses unknown ones."""
    if fields is None:
        return tuple(FIELDS)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise MatchJobError(
            "unknown_field",
            f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}.",
        )
    chosen = tuple(f for f in FIELDS if f in fields)
    if len(chosen) < 2:
        raise MatchJobError("unknown_field", "choose at least two fields to compare.")
    return chosen


def match_profiles(
    connection: Connection,
    *,
    auto_merge: float = AUTO_MERGE,
    review_from: float = REVIEW_FROM,
    fields: Collection[str] | None = None,
    actor: str,
    progress: Progress | None = None,
) -> MatchJobReport:
    """Finds profiles that are probably the same person, merges those at least `auto_merge`
    likely and queues for review those at least `review_from` likely, in the caller's
    transaction (`run` holds none while matching)."""
    check_thresholds(auto_merge, review_from)
    records = read_records(connection, fields=fields, progress=progress)
    found = find_matches(records, review_from=review_from, progress=progress)
    return apply_matches(connection, found, auto_merge=auto_merge, actor=actor, progress=progress)


def run(
    engine: Engine,
    *,
    auto_merge: float = AUTO_MERGE,
    review_from: float = REVIEW_FROM,
    fields: Collection[str] | None = None,
    actor: str,
    progress: Progress | None = None,
) -> MatchJobReport:
    """`match_profiles` in two short transactions, reading then merging, with matching in
    between holding none (on SQLite every transaction holds the database's write lock)."""
    check_thresholds(auto_merge, review_from)
    with engine.connect() as connection:
        records = read_records(connection, fields=fields, progress=progress)
    found = find_matches(records, review_from=review_from, progress=progress)
    with engine.begin() as connection:
        return apply_matches(
            connection, found, auto_merge=auto_merge, actor=actor, progress=progress
        )


def find_matches(
    records: ProfileRecords,
    *,
    review_from: float = REVIEW_FROM,
    progress: Progress | None = None,
) -> FoundMatches:
    """The pairs of records at least `review_from` likely to be the same person (with Splink,
    in memory: no database is touched)."""
    from omnicx.identity.matching import MatchError, match_frames

    report = progress or _silent
    started = time.perf_counter()
    _check_threshold("review_from", review_from)
    chosen, rows = records.fields, records.records
    columns = varied_columns(rows, chosen)
    if len(rows) < MIN_RECORDS or not columns:
        count = len(rows)
        raise MatchJobError(
            "too_few_records",
            f"too few profiles to learn from: matching needs at least {MIN_RECORDS} with a "
            "name and another field to compare "
            f"({', '.join(label(f) for f in chosen if f != 'name')}), and there "
            f"{'is' if count == 1 else 'are'} {count:,}. Nothing was merged.",
        )
    try:
        result = match_frames(
            records_table(rows, columns),
            id_column="profile_id",
            threshold=review_from,
            # Names are left to inference, which tells the given name from the surname (and
            # so scores the two swapped); the other columns' kinds are set.
            comparisons={column: kind for column, kind in columns if kind != "name"},
            progress=report,
            names=("profiles", "profiles"),
        )
    except MatchError as error:
        raise MatchJobError("cannot_match", f"cannot match the profiles: {error}") from None
    except Exception as error:  # duckdb or splink failing underneath
        if type(error).__module__.split(".")[0] not in ("duckdb", "_duckdb", "splink"):
            raise
        raise MatchJobError(
            "matching_failed", f"matching failed: {type(error).__name__}: {error}"
        ) from None
    by_id = {r["profile_id"]: r for r in rows}
    names = [column for column, _ in columns]
    found = list(
        zip(
            result.pairs.column("left_id").to_pylist(),
            result.pairs.column("right_id").to_pylist(),
            result.pairs.column("match_probability").to_pylist(),
            strict=True,
        )
    )
    distances = name_distances(
        (by_id[left].get(c), by_id[right].get(c))
        for left, right, _ in found
        for c in ("first_name", "last_name")
    )
    return FoundMatches(
        profiles=records.profiles,
        records=len(rows),
        compared=tuple(names),
        pairs=tuple(
            pair_of(by_id[left], by_id[right], float(p), names, chosen, distances)
            for left, right, p in found
        ),
        review_from=review_from,
        seconds=time.perf_counter() - started,
    )


def apply_matches(
    connection: Connection,
    found: FoundMatches,
    *,
    auto_merge: float = AUTO_MERGE,
    actor: str,
    progress: Progress | None = None,
) -> MatchJobReport:
    """Merges the pairs at least `auto_merge` likely and queues the others for review,
    following merges made since they were found; then rebuilds the profiles that changed."""
    report = progress or _silent
    started = time.perf_counter()
    check_thresholds(auto_merge, found.review_from)
    rejected = _rejected_pairs(connection)
    merged = refused = skipped = 0
    automatic = [m for m in found.pairs if m.probability >= auto_merge and m.corroborated]
    dismissed = sum(1 for m in found.pairs if m.distinct)
    held = sum(
        1
        for m in found.pairs
        if m.probability >= auto_merge and not m.corroborated and not m.distinct
    )
    for done, match in enumerate(automatic, 1):
        report("merging", f"{done:,}/{len(automatic):,} pairs (p >= {auto_merge:g})")
        pair = _current_pair(connection, match)
        if pair is None or frozenset(pair) in rejected:
            skipped += 1
        elif _refused_before(connection, *pair):
            refused += 1  # a link would be refused again: do not stack up links
        else:
            linked = links.link_profiles(
                connection,
                *pair,
                reason=match.reason,
                actor=actor,
                probability=match.probability,
            )
            merged += linked.joined
            refused += not linked.joined
    band = [
        m
        for m in found.pairs
        if not m.distinct and (m.probability < auto_merge or not m.corroborated)
    ]
    report("queueing", f"{len(band):,} pairs for review")
    queue: list[tuple[str, str, float, dict[str, Any]]] = []
    for match in band:
        pair = _current_pair(connection, match)
        if pair is None or frozenset(pair) in rejected:
            skipped += 1
            continue
        detail: Mapping[str, list[str | None]] = match.detail
        if pair[0] > pair[1]:  # the queue keeps the smaller id on the left: so do the values
            pair = (pair[1], pair[0])
            detail = {k: [v[1], v[0]] for k, v in detail.items()}
        queue.append((pair[0], pair[1], match.probability, dict(detail)))
    queued = links.queue_for_review(connection, queue)
    skipped += len(queue) - queued
    if merged or refused:
        report("profiles", "rebuilding the merged profiles' traits")
        apply_identity_changes(connection)
    return MatchJobReport(
        profiles=found.profiles,
        records=found.records,
        compared=found.compared,
        pairs=len(found.pairs),
        merged=merged,
        refused=refused,
        queued=queued,
        held=held,
        dismissed=dismissed,
        skipped=skipped,
        auto_merge=auto_merge,
        review_from=found.review_from,
        seconds=found.seconds + time.perf_counter() - started,
    )


def _current_pair(connection: Connection, match: ProfileMatch) -> tuple[str, str] | None:
    """The two profiles the match's records stand for now; None when they are one by now,
    or one was erased."""
    left = identity.current_profile_id(connection, match.left_profile_id)
    right = identity.current_profile_id(connection, match.right_profile_id)
    if left is None or right is None or left == right:
        return None
    return left, right


def _rejected_pairs(connection: Connection) -> set[frozenset[str]]:
    """The pairs a reviewer rejected, as the profiles they stand for now."""
    found: set[frozenset[str]] = set()
    for review in links.reviews(connection, status="rejected", limit=1_000_000):
        left = identity.current_profile_id(connection, review.left_profile_id)
        right = identity.current_profile_id(connection, review.right_profile_id)
        if left and right:
            found.add(frozenset((left, right)))
    return found


def _refused_before(connection: Connection, left: str, right: str) -> bool:
    """Whether a rule has already refused to join the two profiles."""
    return any(
        {c.profile_id, c.other_profile_id} == {left, right}
        for c in identity.conflicts_of(connection, left)
    )


def list_reviews(
    connection: Connection, *, status: str = "pending", limit: int = 100
) -> list[ReviewView]:
    """The review queue, most probable first, with what each side stands for now."""
    if status not in STATUSES:
        raise MatchJobError(
            "invalid_status", f"unknown status {status!r}; choose one of {', '.join(STATUSES)}."
        )
    return [
        _view(connection, review)
        for review in links.reviews(connection, status=status, limit=limit)
    ]


def decide_review(
    connection: Connection, review_id: int, *, accept: bool, actor: str
) -> ReviewView:
    """Accepts (joins the two profiles, as a link) or rejects a queued match; the profiles'
    traits follow at once."""
    try:
        review = links.decide(connection, review_id, accept=accept, actor=actor)
    except links.LinkError as error:
        raise MatchJobError(error.code, str(error)) from None
    if accept:
        apply_identity_changes(connection)
    return _view(connection, review)


def _view(connection: Connection, review: links.Review) -> ReviewView:
    current = (
        identity.current_profile_id(connection, review.left_profile_id),
        identity.current_profile_id(connection, review.right_profile_id),
    )
    return ReviewView(review, tuple(dict.fromkeys(p for p in current if p)))


def read_records(
    connection: Connection,
    *,
    fields: Collection[str] | None = None,
    progress: Progress | None = None,
) -> ProfileRecords:
    """The record of every profile with enough of `fields` (default all) to compare, from the
    traits it holds now."""
    report = progress or _silent
    chosen = check_fields(fields)
    report("reading", "reading the profiles' traits")
    profiles = 0
    records: list[dict[str, str | None]] = []
    current: str | None = None
    traits: dict[str, Any] = {}

    def flush() -> None:
        nonlocal profiles
        if current is None:
            return
        profiles += 1
        record = record_of(traits, chosen)
        if record is not None:
            records.append({"profile_id": current, **record})

    for row in repo.traits_named(connection, TRAITS):
        if row.profile_id != current:
            flush()
            current, traits = row.profile_id, {}
        try:
            traits[row.name] = orjson.loads(row.value)
        except orjson.JSONDecodeError:
            continue
    flush()
    report("reading", f"{len(records):,} of {profiles:,} profiles have enough fields to compare")
    return ProfileRecords(profiles, records, chosen)
