"""The matching job on stored profiles: merges through the identity rules, the review queue,
the API and the CLI.

Customers go through the real intake and processing stage: 205 web accounts (five people with
two accounts, hence two userIds) and a store's customer list of 200 people (loyalty cards, no
e-mail, birth dates written day first), half of whom have a web account too, typed with typos
or in another case. Besides: 10 store records with only a name and a city (too little to merge
without a person looking), 10 with a name and a birth date, 5 household members (another
person's surname, postcode and city).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.api.app import create_app
from omnicx.cli.main import app as cli
from omnicx.identity import service as identity
from omnicx.profiles import matching_job as job
from omnicx.profiles import matching_records as records
from omnicx.profiles.matching_job import FoundMatches, MatchJobError
from tests.profiles.helpers import Shop, api, identify, token

runner = CliRunner()

FIRST = (
    "Ada", "Alan", "Alice", "Amira", "Anna", "Arjun", "Aylin", "Ben", "Berk", "Carla", "Chen",
    "Clara", "Daniel", "David", "Deniz", "Elena", "Elif", "Emil", "Emma", "Eren", "Fatma",
    "Felix", "Hana", "Hugo", "Ines", "Isaac", "Ivan", "Jack", "Jana", "Jonas", "Julia", "Kaan",
    "Kemal", "Lara", "Leo", "Lina", "Lucas", "Maria", "Marta", "Mehmet", "Mia", "Nadia", "Noah",
    "Nora", "Omar", "Oscar", "Paula", "Pedro", "Rosa", "Ruth", "Sara", "Selin", "Simon",
    "Sofia", "Tom", "Uma", "Victor", "Yusuf", "Zeynep",
)  # fmt: skip
LAST = (
    "Acar", "Adams", "Aksoy", "Arslan", "Baker", "Becker", "Bianchi", "Brown", "Celik",
    "Clarke", "Costa", "Demir", "Dogan", "Evans", "Fischer", "Garcia", "Green", "Hall",
    "Hughes", "Kaya", "Keller", "Koch", "Kurt", "Lopez", "Martin", "Meyer", "Moreau", "Morris",
    "Novak", "Ozturk", "Parker", "Perez", "Polat", "Richter", "Rossi", "Sahin", "Schmidt",
    "Silva", "Smith", "Taylor", "Turner", "Vogel", "Walker", "Weber", "Wilson", "Wright",
    "Yilmaz", "Young", "Yildiz", "Zimmermann", "Lovelace", "Turing", "Hopper", "Curie",
    "Noether", "Franklin", "Goodall", "Meitner", "Hypatia", "Lamarr",
)  # fmt: skip
CITIES = ("Istanbul", "Ankara", "Izmir", "Berlin", "Hamburg", "London", "Leeds", "Paris")

Key = tuple[str, str]


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    born: date
    postcode: str
    city: str


@dataclass
class Customers:
    """Who is who: each identifier's person, and the pairs that are one person."""

    person_of: dict[Key, str] = field(default_factory=dict)
    strong: list[tuple[Key, Key]] = field(default_factory=list)
    """Web account and store record with name, birth date and postcode (typos at most)."""
    weak: list[tuple[Key, Key]] = field(default_factory=list)
    """Web account and store record with only a name and a city in common."""
    twins: list[tuple[Key, Key]] = field(default_factory=list)
    """One person's two web accounts: two userIds."""
    households: list[Key] = field(default_factory=list)


def _people(count: int, rng: random.Random) -> list[Person]:
    people: dict[tuple[str, str], Person] = {}
    while len(people) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        people.setdefault(
            (first, last),
            Person(
                first,
                last,
                date(1950, 1, 1) + timedelta(days=rng.randrange(20_000)),
                str(rng.randrange(10_000, 99_999)),
                rng.choice(CITIES),
            ),
        )
    return list(people.values())


def _typo(rng: random.Random, word: str) -> str:
    at = rng.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]  # two letters swapped


def _web(number: str, person: Person) -> dict[str, Any]:
    return identify(
        f"w{number}",
        traits={
            "firstName": person.first,
            "lastName": person.last,
            "email": f"{person.first}.{person.last}{number}@mail.example".lower(),
            "birthday": person.born.isoformat(),
            "address": {"postalCode": person.postcode, "city": person.city},
        },
    )


def _store(card: str, traits: dict[str, Any]) -> dict[str, Any]:
    return identify(None, f"till-{card}", {**traits, "loyaltyCard": card})


def load_customers(shop: Shop, *, seed: int = 11) -> Customers:
    """Sends the web accounts and the store's customer list, and processes them."""
    rng = random.Random(seed)
    people = _people(310, rng)
    found = Customers()
    sent: list[tuple[str, dict[str, Any]]] = []
    for i in range(200):
        sent.append(("web", _web(str(i), people[i])))
        found.person_of[("user_id", f"w{i}")] = f"p{i}"
    for i in range(5):
        sent.append(("web", _web(f"{i}b", people[i])))
        found.twins.append((("user_id", f"w{i}"), ("user_id", f"w{i}b")))
    for i in range(100, 300):
        person = people[i]
        first, last, postcode = person.first, person.last, person.postcode
        if i < 200:  # the same people as web accounts 100-199, typed differently
            variant = i % 5
            if variant == 0:
                last = last.upper()
            elif variant == 1:
                last = _typo(rng, last)
            elif variant == 2:
                first = first.lower()
            elif variant == 3:
                postcode = ""
            else:
                postcode, first = f"{postcode[:2]} {postcode[2:]}", first.upper()
        card = f"44{i:05d}"
        address = {"city": person.city, **({"postalCode": postcode} if postcode else {})}
        traits = {"firstName": first, "lastName": last, "address": address}
        sent.append(("store", _store(card, {**traits, "birthday": f"{person.born:%d.%m.%Y}"})))
        found.person_of[("loyalty_card", card)] = f"p{i}"
        if i < 200:
            found.strong.append((("user_id", f"w{i}"), ("loyalty_card", card)))
    for i in range(5, 15):  # a name and a city: never enough to merge without a person
        person, card = people[i], f"46{i:05d}"
        traits = {"firstName": person.first, "lastName": person.last}
        sent.append(("store", _store(card, {**traits, "address": {"city": person.city}})))
        found.person_of[("loyalty_card", card)] = f"p{i}"
        found.weak.append((("user_id", f"w{i}"), ("loyalty_card", card)))
    for i in range(15, 25):  # a name (surname with a typo) and a birth date
        person, card = people[i], f"47{i:05d}"
        traits = {"firstName": person.first, "lastName": _typo(rng, person.last)}
        sent.append(("store", _store(card, {**traits, "birthday": person.born.isoformat()})))
        found.person_of[("loyalty_card", card)] = f"p{i}"
    for i in range(200, 205):  # another member of the household of store customer i
        person, other, card = people[i], people[i + 100], f"45{i:05d}"
        address = {"postalCode": person.postcode, "city": person.city}
        traits = {"firstName": other.first, "lastName": person.last, "address": address}
        sent.append(("store", _store(card, {**traits, "birthday": other.born.isoformat()})))
        found.person_of[("loyalty_card", card)] = f"h{i}"
        found.households.append(("loyalty_card", card))
    shop.owner("store", "store_pos")
    shop.send_all(sent)
    return found


def _joined(engine: Engine, left: Key, right: Key) -> bool:
    with engine.connect() as connection:
        return identity.lookup(connection, *left) == identity.lookup(connection, *right)


def _profiles(engine: Engine) -> list[frozenset[Key]]:
    with engine.connect() as connection:
        return identity.partition(connection)


def _check_no_false_merge(engine: Engine, customers: Customers) -> None:
    for profile in _profiles(engine):
        people = {customers.person_of[key] for key in profile if key in customers.person_of}
        assert len(people) <= 1, sorted(profile)


def test_the_job_merges_likely_pairs_and_queues_the_doubtful_ones(engine: Engine) -> None:
    shop = Shop(engine)
    customers = load_customers(shop)
    before = len(_profiles(engine))
    phases: list[str] = []
    with engine.begin() as connection:
        report = job.match_profiles(
            connection, actor="test", progress=lambda phase, _: phases.append(phase)
        )
    assert report.profiles == report.records == 430
    assert {"first_name", "last_name", "birth_date", "postcode", "email"} <= set(report.compared)
    assert {"reading", "training", "merging", "queueing"} <= set(phases)

    merged = [pair for pair in customers.strong if _joined(engine, *pair)]
    assert len(merged) >= 95, len(merged)  # typos, case, a missing postcode: still merged
    _check_no_false_merge(engine, customers)
    assert not any(_joined(engine, *pair) for pair in customers.twins)
    assert not any(_joined(engine, *pair) for pair in customers.weak)
    assert report.refused == len(customers.twins)  # two userIds: the identity rule refuses
    assert len(_profiles(engine)) == before - report.merged
    assert report.merged >= len(merged)
    assert report.pairs == (
        report.merged + report.refused + report.queued + report.skipped + report.dismissed
    )

    # A merge is logged with the match as its rule, and the profile has both sides' traits.
    profile = shop.profile("loyalty_card", "4400100")
    assert {"email", "loyaltyCard", "birthday", "firstName"} <= set(profile.traits)
    with engine.connect() as connection:
        [change] = [c for c in identity.changes_of(connection, profile.id) if c.kind == "merged"]
    assert change.rule.startswith("probabilistic match p")
    assert "name" in change.rule and "birth date" in change.rule
    assert change.actor == "test"

    # The weak records (a name and a city) wait in the queue; nothing below 0.8 is queued.
    with engine.connect() as connection:
        queue = job.list_reviews(connection, limit=1000)
    assert len(queue) == report.queued > 0
    assert all(view.review.probability >= 0.8 for view in queue)
    weak_cards = {card for _, card in customers.weak}
    queued_cards = {
        key
        for view in queue
        for key in _keys_of(engine, view.review.left_profile_id, view.review.right_profile_id)
    }
    assert len(weak_cards & queued_cards) >= len(weak_cards) // 2
    for view in queue:
        detail = view.review.detail
        assert set(detail) <= {"first_name", "last_name", *records.FIELDS}
        assert all(len(values) == 2 for values in detail.values())
    # Held: likely enough to merge, but the names differ or nothing else agrees.
    assert sum(view.review.probability >= job.AUTO_MERGE for view in queue) <= report.held

    # Household members and namesakes are never merged.
    for household in customers.households:
        with engine.connect() as connection:
            profile_id = identity.lookup(connection, *household)
            assert len(identity.identities_of(connection, profile_id)) == 2  # card, till id

    # Again, in two short transactions: the pairs merged, queued or refused are not offered
    # again. (The model learns again from what is left, so it may find a few new pairs.)
    with engine.connect() as connection:
        merges = identity.summary(connection)["merges"]
    again = job.run(engine, actor="test")
    assert again.records == report.records - report.merged
    with engine.connect() as connection:
        assert identity.summary(connection)["merges"] == merges + again.merged
        assert len(job.list_reviews(connection, limit=1000)) == report.queued + again.queued
    _check_no_false_merge(engine, customers)
    assert not any(_joined(engine, *pair) for pair in customers.twins)


def _keys_of(engine: Engine, *profile_ids: str) -> set[Key]:
    with engine.connect() as connection:
        return {
            (i.type, i.value)
            for profile_id in profile_ids
            if (current := identity.current_profile_id(connection, profile_id))
            for i in identity.identities_of(connection, current)
        }


def _at(found: FoundMatches, pairs: list[tuple[Key, Key]], engine: Engine, p: float) -> Any:
    """The found matches of these pairs only, each with probability `p`."""
    with engine.connect() as connection:
        wanted = {
            frozenset((identity.lookup(connection, *a), identity.lookup(connection, *b)))
            for a, b in pairs
        }
    chosen = [
        dataclasses.replace(m, probability=p)
        for m in found.pairs
        if frozenset((m.left_profile_id, m.right_profile_id)) in wanted
    ]
    assert len(chosen) == len(pairs)
    return dataclasses.replace(found, pairs=tuple(chosen))


def test_reviews_are_accepted_or_rejected(engine: Engine) -> None:
    shop = Shop(engine)
    customers = load_customers(shop)
    with engine.connect() as connection:
        profile_records = job.read_records(connection)
    found = job.find_matches(profile_records, review_from=0.5)
    accepted, rejected, pending = customers.strong[:3]
    twins = customers.twins[0]
    band = _at(found, [accepted, rejected, pending, twins], engine, 0.95)
    with engine.begin() as connection:
        report = job.apply_matches(connection, band, actor="test")
    assert (report.merged, report.queued, report.held) == (0, 4, 0)
    with engine.connect() as connection:
        listed = job.list_reviews(connection)
    queue = [
        (_keys_of(engine, v.review.left_profile_id, v.review.right_profile_id), v.review.id)
        for v in listed
    ]

    def review_of(pair: tuple[Key, Key]) -> int:
        return next(review_id for keys, review_id in queue if pair[0] in keys)

    with engine.begin() as connection:
        view = job.decide_review(connection, review_of(accepted), accept=True, actor="ada")
    assert view.review.status == "accepted" and view.review.decided_by == "ada"
    assert len(view.current_profile_ids) == 1
    assert _joined(engine, *accepted)
    profile = shop.profile(*accepted[1])
    assert {"email", "loyaltyCard"} <= set(profile.traits)  # traits follow at once
    with engine.connect() as connection:
        rules = [c.rule for c in identity.changes_of(connection, profile.id) if c.kind == "merged"]
    assert rules == [f"match review #{review_of(accepted)} accepted (p=0.950)"]

    with engine.begin() as connection:
        view = job.decide_review(connection, review_of(rejected), accept=False, actor="ada")
        assert view.review.status == "rejected" and len(view.current_profile_ids) == 2
        twin_view = job.decide_review(connection, review_of(twins), accept=True, actor="ada")
    assert len(twin_view.current_profile_ids) == 2  # accepted, but two userIds stay apart
    assert not _joined(engine, *rejected) and not _joined(engine, *twins)
    with engine.begin() as connection:
        for review_id, code in [(review_of(rejected), "already_decided"), (9999, "not_found")]:
            with pytest.raises(MatchJobError) as error:
                job.decide_review(connection, review_id, accept=True, actor="ada")
            assert error.value.code == code

    # The same matches again: each is one profile by now, decided, or queued already.
    with engine.begin() as connection:
        report = job.apply_matches(connection, band, actor="test")
    assert (report.merged, report.queued, report.skipped) == (0, 0, 4)

    # A rejected pair is not merged however likely; a pending one is, and its review stays;
    # a pair a rule refused is not tried again.
    likely = _at(found, [rejected, pending, twins], engine, 0.999)
    with engine.begin() as connection:
        report = job.apply_matches(connection, likely, actor="test")
    assert (report.merged, report.skipped, report.refused, report.queued) == (1, 1, 1, 0)
    assert not _joined(engine, *rejected) and _joined(engine, *pending)
    with engine.connect() as connection:
        statuses = sorted(v.review.status for v in job.list_reviews(connection, status="all"))
        [still] = job.list_reviews(connection, status="pending")
    assert statuses == ["accepted", "accepted", "pending", "rejected"]
    assert len(still.current_profile_ids) == 1  # merged since it was queued
    with engine.connect() as connection, pytest.raises(MatchJobError) as error:
        job.list_reviews(connection, status="maybe")
    assert error.value.code == "invalid_status"


def test_too_few_profiles_to_learn_from(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "web",
        *(
            identify(f"u-{i}", traits={"firstName": "Ada", "lastName": f"L{i}", "city": "Oslo"})
            for i in range(3)
        ),
        identify("u-9", traits={"name": "Alan Turing", "birthday": "1912-06-23"}),
    )
    with engine.begin() as connection, pytest.raises(MatchJobError) as error:
        job.match_profiles(connection, actor="test")
    assert error.value.code == "too_few_records"
    assert "at least 50" in error.value.message and "there is 1." in error.value.message


ROLES = ("support", "marketer", "analyst")


def test_the_api(engine: Engine, database_url: str) -> None:
    shop = Shop(engine)
    headers = {role: token(engine, role) for role in ("admin", *ROLES)}
    with api(database_url) as client:
        # Roles: running the job is for admins; the queue for admins and support.
        routes = [
            ("POST", "/api/identity/match-profiles", {"admin"}),
            ("GET", "/api/identity/reviews", {"admin", "support"}),
            ("POST", "/api/identity/reviews/1/accept", {"admin", "support"}),
            ("POST", "/api/identity/reviews/1/reject", {"admin", "support"}),
        ]
        for method, path, allowed in routes:
            missing = client.request(method, path)
            assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
            for role in ROLES:
                answer = client.request(method, path, headers=headers[role])
                if role in allowed:
                    assert answer.status_code not in (401, 403), (path, role)
                else:
                    assert answer.status_code == 403, (path, role)
                    assert answer.json()["code"] == "forbidden"
        admin = headers["admin"]
        too_few = client.post("/api/identity/match-profiles", headers=admin)
        assert too_few.status_code == 409
        assert too_few.json()["code"] == "too_few_records"
        assert set(too_few.json()) == {"code", "message"}
        for body, code in [
            ({"auto_merge": 0.5, "review_from": 0.9}, "invalid_thresholds"),
            ({"auto_merge": 1.5}, "invalid_request"),
            ({"review_from": 0}, "invalid_request"),
            ({"fields": ["name", "shoe_size"]}, "unknown_field"),
        ]:
            answer = client.post("/api/identity/match-profiles", json=body, headers=admin)
            assert answer.status_code == 422 and answer.json()["code"] == code, answer.text

        customers = load_customers(shop)
        ran = client.post(
            "/api/identity/match-profiles",
            json={"auto_merge": 0.99, "review_from": 0.8},
            headers=admin,
        )
        assert ran.status_code == 200, ran.text
        report = ran.json()
        assert report["records"] == 430 and report["merged"] >= 95
        assert report["refused"] == len(customers.twins)

        support = headers["support"]
        listed = client.get("/api/identity/reviews", params={"limit": 2}, headers=support)
        assert listed.status_code == 200
        first, second = listed.json()
        assert first["status"] == "pending" and first["probability"] >= second["probability"]
        assert len(first["current_profile_ids"]) == 2 and first["detail"]
        bad = client.get("/api/identity/reviews", params={"status": "maybe"}, headers=support)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"

        accepted = client.post(f"/api/identity/reviews/{first['id']}/accept", headers=support)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["decided_by"].startswith("api:support:")
        rejected = client.post(f"/api/identity/reviews/{second['id']}/reject", headers=support)
        assert rejected.json()["status"] == "rejected"
        assert len(rejected.json()["current_profile_ids"]) == 2
        again = client.post(f"/api/identity/reviews/{second['id']}/accept", headers=support)
        assert again.status_code == 409 and again.json()["code"] == "already_decided"
        unknown = client.post("/api/identity/reviews/99999/reject", headers=support)
        assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
        decided = client.get("/api/identity/reviews?status=all&limit=1000", headers=support)
        assert {r["status"] for r in decided.json()} == {"pending", "accepted", "rejected"}


def test_the_cli(engine: Engine, database_url: str) -> None:
    db = ["--db", database_url]
    empty = runner.invoke(cli, ["identity", "match-profiles", "--yes", *db])
    assert empty.exit_code == 1 and "at least 50" in empty.output, empty.output
    bad = runner.invoke(
        cli, ["identity", "match-profiles", "--auto-merge", "0.5", "--review-from", "0.9", *db]
    )
    assert bad.exit_code == 2 and "review_from (0.9)" in bad.output, bad.output
    unknown = runner.invoke(cli, ["identity", "match-profiles", "--field", "shoe", *db])
    assert unknown.exit_code == 2 and "unknown field 'shoe'" in unknown.output
    nothing = runner.invoke(cli, ["identity", "reviews", *db])
    assert nothing.exit_code == 0 and "No pending reviews" in nothing.output

    load_customers(Shop(engine))
    before = len(_profiles(engine))
    ran = runner.invoke(cli, ["identity", "match-profiles", *db], input="y\n")
    assert ran.exit_code == 0, ran.output
    assert "430 of 430 profiles" in ran.output and "Merge up to" in ran.output  # asked first
    for words in ("merged", "refused by rules", "queued for review", "dismissed", "skipped"):
        assert words in ran.stdout, words
    assert len(_profiles(engine)) < before - 90

    listed = runner.invoke(cli, ["identity", "reviews", "--limit", "3", *db])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("Review #") == 3
    assert "first name" in listed.output and "omnicx identity review accept ID" in listed.output
    with engine.connect() as connection:
        # A web account and a store record (one e-mail address): no userId conflict.
        first, second = [
            v
            for v in job.list_reviews(connection, limit=100)
            if sum(e is not None for e in v.review.detail.get("email", [None, None])) == 1
        ][:2]
    accepted = runner.invoke(cli, ["identity", "review", "accept", str(first.review.id), *db])
    assert accepted.exit_code == 0, accepted.output
    assert "one profile now" in accepted.output
    with engine.connect() as connection:
        joined = identity.current_profile_id(connection, first.review.left_profile_id)
    assert accepted.stdout.strip().splitlines()[-1] == joined
    rejected = runner.invoke(cli, ["identity", "review", "reject", str(second.review.id), *db])
    assert rejected.exit_code == 0 and "stay apart" in rejected.output
    twice = runner.invoke(cli, ["identity", "review", "reject", str(second.review.id), *db])
    assert twice.exit_code == 1 and "already rejected" in twice.output
    done = runner.invoke(cli, ["identity", "reviews", "--status", "rejected", *db])
    assert f"Review #{second.review.id}" in done.output and "rejected by cli" in done.output


def test_the_routes_are_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    paths = create_app().openapi()["paths"]
    routes = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/api/identity/")
        for method in operations
    ]
    assert len(routes) >= 4
    for route in routes:
        assert route in text, route


probabilities = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(auto_merge=probabilities, review_from=probabilities)
def test_thresholds_are_accepted_exactly_when_in_order(
    auto_merge: float, review_from: float
) -> None:
    if 0 < review_from <= auto_merge <= 1:
        job.check_thresholds(auto_merge, review_from)
        return
    with pytest.raises(MatchJobError) as error:
        job.check_thresholds(auto_merge, review_from)
    assert error.value.code == "invalid_thresholds"
    assert "auto_merge" in error.value.message or "review_from" in error.value.message


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_birth_dates_are_read_in_common_formats(born: date) -> None:
    iso = born.isoformat()
    for written in (iso, f"{iso}T10:30:00Z", f"{born:%Y%m%d}", f"{born:%d.%m.%Y}"):
        assert records.birth_date(written) == iso, written
    assert records.birth_date(f"{born:%d/%m/%Y}") == iso  # day first, as in most of the world


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzçğışöü", min_size=1, max_size=12)


@settings(max_examples=50, deadline=None)
@given(names, names, names, names)
def test_name_agreement_does_not_depend_on_the_order(
    first: str, last: str, other_first: str, other_last: str
) -> None:
    left = {"first_name": first, "last_name": last}
    right = {"first_name": other_first, "last_name": other_last}
    swapped = {"first_name": last, "last_name": first}
    pairs = [
        (x[c], y[c]) for x in (left, right, swapped) for y in (left, right, swapped) for c in left
    ]
    pairs += [(x["first_name"], y["last_name"]) for x in (left, right) for y in (left, right)]
    distances = records.name_distances(pairs)
    assert records.names_agree(left, swapped, distances) is True
    assert records.names_agree(left, left, distances) is True
    assert records.name_parts(left, right, distances) == records.name_parts(right, left, distances)


def _record(profile_id: str, **values: str) -> dict[str, str | None]:
    return {"profile_id": profile_id, **values}


@pytest.mark.parametrize(
    ("left", "right", "corroborated", "distinct"),
    [
        # One person typed twice: merged without asking.
        (
            {"first_name": "Ada", "last_name": "Lovelace", "birth_date": "1815-12-10"},
            {"first_name": "ADA", "last_name": "Lovelcae", "birth_date": "1815-12-10"},
            True,
            False,
        ),
        (  # swapped given name and surname, the postcode written another way
            {"first_name": "Lovelace", "last_name": "Ada", "postcode": "n1 9gu"},
            {"first_name": "Ada", "last_name": "Lovelace", "postcode": "N19GU"},
            True,
            False,
        ),
        (  # Mary, Mary Ann; the same e-mail user at another provider
            {"first_name": "Mary", "last_name": "Shelley", "email": "mws@mail.example"},
            {"first_name": "Mary Ann", "last_name": "Shelley", "email": "MWS@post.example"},
            True,
            False,
        ),
        # Only the name and the city: for a person to decide.
        (
            {"first_name": "Ada", "last_name": "Lovelace", "city": "London"},
            {"first_name": "Ada", "last_name": "Lovelace", "city": "London"},
            False,
            False,
        ),
        (  # a new surname (married?), same birth date: for a person to decide
            {"first_name": "Ada", "last_name": "Byron", "birth_date": "1815-12-10"},
            {"first_name": "Ada", "last_name": "Lovelace", "birth_date": "1815-12-10"},
            False,
            False,
        ),
        # Two people, whatever the model says.
        (  # a household: one surname and address, two given names
            {"first_name": "Jack", "last_name": "Walter", "postcode": "3290QL"},
            {"first_name": "Imke", "last_name": "Walter", "postcode": "3290QL"},
            False,
            True,
        ),
        (  # namesakes born years apart with another surname
            {"first_name": "Sofia", "last_name": "Becker", "birth_date": "1991-09-08"},
            {"first_name": "Sofia", "last_name": "Aksoy", "birth_date": "1974-12-14"},
            False,
            True,
        ),
    ],
)
def test_what_a_pair_must_show_to_be_merged_unasked(
    left: dict[str, str], right: dict[str, str], corroborated: bool, distinct: bool
) -> None:
    a, b = _record("a", **left), _record("b", **right)
    columns = sorted({*left, *right})
    distances = records.name_distances((a.get(c), b.get(c)) for c in ("first_name", "last_name"))
    match = records.pair_of(a, b, 0.999, columns, list(records.FIELDS), distances)
    assert (match.corroborated, match.distinct) == (corroborated, distinct)
    if corroborated:
        assert match.reason.startswith("probabilistic match p=0.999 (name, ")
