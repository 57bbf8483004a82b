"""Scores resolved profiles against the demo's ground truth: pairwise precision and recall.

Every stored event is labelled with the real person its identifiers belong to (truth.jsonl;
events whose identifiers are all shared by a household are left out, as they belong to no one
person) and with the profile identity resolution attributed it to. Pairs of events in the
same profile are the predicted links, pairs of the same person the true ones.

It also reports the evidence ceiling: the recall of an oracle that links two events whenever
they share an identifier (as identity resolution observed them) used by no one else, knowing
from the ground truth which identifiers are shared. No resolver working from identifiers can
do better; what is missing under it are islands of a person's activity that share no
identifier with the rest (a second browser never signed in, a social account, a number only
the SMS gateway knows).

    .venv/bin/python bench/identity_quality.py --db sqlite:///omnicx.db \
        --truth demo-output/truth.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from omnicx.collect.tables import events
from omnicx.identity import service
from omnicx.identity.tables import identity_observations
from omnicx.store.engine import make_engine


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def person_index(truth: Path) -> dict[str, str | None]:
    """Identifier as written -> person (None when several people used it)."""
    owner: dict[str, str | None] = {}
    for line in truth.read_text().splitlines():
        person = json.loads(line)
        shared = {v for values in person["shared"].values() for v in values}
        for field in ("userIds", "anonymousIds", "crmIds", "loyaltyCards", "deviceIds"):
            for value in person[field]:
                if value in shared or (value in owner and owner[value] != person["person"]):
                    owner[value] = None
                else:
                    owner[value] = person["person"]
    return owner


def score(db: str, truth: Path) -> dict[str, float]:
    owner = person_index(truth)
    engine = make_engine(db)
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.id, events.c.user_id, events.c.anonymous_id, events.c.payload)
        ).all()
        profile_of = service.profiles_of_events(connection, [r.id for r in rows])
        observed = connection.execute(
            select(identity_observations.c.identifier_id, identity_observations.c.event_id)
        ).all()
    engine.dispose()
    person_of: dict[int, str] = {}
    unlabelled = 0
    for row in rows:
        device = json.loads(row.payload).get("context", {}).get("device", {}).get("id")
        people = {owner.get(v) for v in (row.user_id, row.anonymous_id, device) if v and v in owner}
        people.discard(None)
        if len(people) == 1:
            person_of[row.id] = str(people.pop())
        else:
            unlabelled += 1
    unattributed = sum(1 for event in person_of if profile_of.get(event) is None)
    resolved = quality(
        {event: profile_of.get(event) or f"none-{event}" for event in person_of}, person_of
    )
    ceiling = quality(evidence_oracle(person_of, observed), person_of)
    return {
        "events": len(rows),
        "labelled": len(person_of),
        "unlabelled": unlabelled,
        "unattributed": unattributed,
        "people": resolved["people"],
        "profiles": resolved["profiles"],
        "people_in_one_profile": resolved["people_in_one_profile"],
        "precision": resolved["precision"],
        "recall": resolved["recall"],
        "f1": resolved["f1"],
        "evidence_ceiling_recall": ceiling["recall"],
        "share_of_ceiling": resolved["recall"] / ceiling["recall"] if ceiling["recall"] else 1.0,
    }


def quality(cluster_of: dict[int, str], person_of: dict[int, str]) -> dict[str, float]:
    """Pairwise precision and recall of a clustering of the labelled events."""
    cells: Counter[tuple[str, str]] = Counter(
        (person_of[event], cluster) for event, cluster in cluster_of.items()
    )
    by_person: Counter[str] = Counter()
    by_cluster: Counter[str] = Counter()
    for (person, cluster), n in cells.items():
        by_person[person] += n
        by_cluster[cluster] += n
    true_positive = sum(pairs(n) for n in cells.values())
    predicted = sum(pairs(n) for n in by_cluster.values())
    actual = sum(pairs(n) for n in by_person.values())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    clusters_per_person: defaultdict[str, set[str]] = defaultdict(set)
    for person, cluster in cells:
        clusters_per_person[person].add(cluster)
    return {
        "people": len(by_person),
        "profiles": len(by_cluster),
        "people_in_one_profile": sum(1 for c in clusters_per_person.values() if len(c) == 1),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


def evidence_oracle(
    person_of: dict[int, str], observed: Iterable[tuple[int, int]]
) -> dict[int, str]:
    """Clusters of labelled events joined by every identifier whose labelled events all
    belong to one person (union-find): the best any identifier-based resolver can do."""
    parent: dict[int, int] = {}

    def root(event: int) -> int:
        while parent.get(event, event) != event:
            parent[event] = parent.get(parent[event], parent[event])
            event = parent[event]
        return event

    events_of: defaultdict[int, list[int]] = defaultdict(list)
    for identifier, event in observed:
        if event in person_of:
            events_of[identifier].append(event)
    for joined in events_of.values():
        if len({person_of[e] for e in joined}) == 1:
            for event in joined[1:]:
                a, b = root(joined[0]), root(event)
                if a != b:
                    parent[a] = b
    return {event: f"oracle-{root(event)}" for event in person_of}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--truth", type=Path, required=True)
    args = parser.parse_args()
    for name, value in score(args.db, args.truth).items():
        print(f"{name:>22}: {value:,.4f}" if isinstance(value, float) else f"{name:>22}: {value:,}")


if __name__ == "__main__":
    main()
