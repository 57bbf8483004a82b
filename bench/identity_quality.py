"""Scores resolved profiles against the demo's ground truth: pairwise precision and recall.

Every stored event is labelled with the real person its identifiers belong to (truth.jsonl;
events whose identifiers are all shared by a household are left out, as they belong to no one
person) and with the profile identity resolution attributed it to. Pairs of events in the
same profile are the predicted links, pairs of the same person the true ones.

    .venv/bin/python bench/identity_quality.py --db sqlite:///omnicx.db \
        --truth demo-output/truth.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import select

from omnicx.collect.tables import events
from omnicx.identity import service
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
    cells: Counter[tuple[str, str]] = Counter()
    unlabelled = unattributed = 0
    for row in rows:
        device = json.loads(row.payload).get("context", {}).get("device", {}).get("id")
        people = {owner.get(v) for v in (row.user_id, row.anonymous_id, device) if v and v in owner}
        people.discard(None)
        if len(people) != 1:
            unlabelled += 1
            continue
        profile = profile_of.get(row.id)
        if profile is None:
            unattributed += 1
            profile = f"none-{row.id}"
        cells[(people.pop(), profile)] += 1
    by_person: Counter[str] = Counter()
    by_profile: Counter[str] = Counter()
    for (person, profile), n in cells.items():
        by_person[person] += n
        by_profile[profile] += n
    true_positive = sum(pairs(n) for n in cells.values())
    predicted = sum(pairs(n) for n in by_profile.values())
    actual = sum(pairs(n) for n in by_person.values())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    profiles_per_person: defaultdict[str, set[str]] = defaultdict(set)
    for person, profile in cells:
        profiles_per_person[person].add(profile)
    return {
        "events": len(rows),
        "labelled": sum(cells.values()),
        "unlabelled": unlabelled,
        "unattributed": unattributed,
        "people": len(by_person),
        "profiles": len(by_profile),
        "people_in_one_profile": sum(1 for p in profiles_per_person.values() if len(p) == 1),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--truth", type=Path, required=True)
    args = parser.parse_args()
    for name, value in score(args.db, args.truth).items():
        print(f"{name:>22}: {value:,.4f}" if isinstance(value, float) else f"{name:>22}: {value:,}")


if __name__ == "__main__":
    main()
