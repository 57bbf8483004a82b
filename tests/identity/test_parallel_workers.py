"""Several `omnicx worker` processes resolving the same people at once, on both databases.

Events arrive shuffled (late and out of order) while three workers run; the profiles they
leave must be exactly the ones a single in-order replay gives: no duplicate profiles, no lost
merges.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from omnicx.collect.processing import lag
from omnicx.identity import graph, service
from omnicx.identity.config import default_config
from omnicx.identity.extract import Extractor
from omnicx.identity.resolve import Evidence, Known, resolve
from omnicx.pipeline import stream_consumers
from tests.collect.helpers import add_source, post_by_source, running_app
from tests.e2e.server import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

START = datetime(2026, 3, 1, tzinfo=UTC)


def _people_messages(rng: random.Random, people: int) -> list[tuple[str, dict[str, Any]]]:
    """(source, message) for a crowd whose families share a mailbox now and then."""
    messages: list[tuple[str, dict[str, Any]]] = []
    serial = 0

    def add(source: str, minutes: int, **fields: Any) -> None:
        nonlocal serial
        serial += 1
        stamp = (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        messages.append((source, {"messageId": f"m-{serial}", "timestamp": stamp, **fields}))

    for person in range(people):
        family_mail = f"family{person // 2}@example.org" if (person // 2) % 5 == 0 else None
        mail = family_mail or f"p{person}@example.org"
        browsers = [f"a-{person}-{n}" for n in range(rng.randint(1, 3))]
        for browser in browsers:
            start = rng.randint(0, 5000)
            for step in range(rng.randint(1, 4)):
                add("web", start + step, type="page", anonymousId=browser, name="Home")
            if rng.random() < 0.8:
                add(
                    "web",
                    start + 9,
                    type="track",
                    event="Signed In",
                    anonymousId=browser,
                    userId=f"u-{person}",
                )
        add(
            "web",
            rng.randint(0, 5000),
            type="identify",
            userId=f"u-{person}",
            traits={"email": mail.upper()},
        )
        add(
            "email",
            rng.randint(0, 5000),
            type="track",
            event="Email Opened",
            anonymousId=f"esp-{person}",
            context={"traits": {"email": mail}},
        )
    return messages


def _expected(
    messages: list[tuple[str, dict[str, Any]]], source_ids: dict[str, int]
) -> set[frozenset[tuple[str, str]]]:
    config = default_config()
    extractor = Extractor(config)
    numbers: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], datetime] = {}
    evidence = []
    for source, message in messages:
        ids = extractor.extract(message, source).identifiers
        at = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        for ident in ids:
            numbers.setdefault(ident, len(numbers))
            first[ident] = min(first.get(ident, at), at)
        if len(ids) > 1:
            key = graph.order_key(source_ids[source], message["messageId"])
            evidence.append(Evidence(at, key, key, tuple(numbers[i] for i in ids)))
    known = {n: Known(i[0], i[1], first[i]) for i, n in numbers.items()}
    names = {n: i for i, n in numbers.items()}
    resolution = resolve(config, known, evidence)
    return {frozenset(names[n] for n in group) for group in resolution.profiles}


def _wait_for_workers(engine: Engine, workers: list[subprocess.Popen[str]]) -> None:
    """Until the workers have processed everything stored so far."""
    deadline = time.monotonic() + 120
    while any(lag(engine, stream_consumers()).values()):
        assert time.monotonic() < deadline, lag(engine, stream_consumers())
        assert all(w.poll() is None for w in workers), "a worker died"
        time.sleep(0.1)


def test_three_workers_on_shuffled_events_give_the_in_order_profiles(
    engine: Engine, database_url: str
) -> None:
    rng = random.Random(20261125)
    messages = _people_messages(rng, 60)
    rng.shuffle(messages)
    keys = {"web": add_source(engine, "web", "web"), "email": add_source(engine, "email", "email")}
    from omnicx.collect import sources

    with engine.connect() as connection:
        source_ids = {s.name: s.id for s in sources.list_all(connection)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "omnicx", "worker", "--db", database_url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for _ in range(3)
    ]
    try:
        with running_app(database_url, run_processing=False) as client:
            for start in range(0, len(messages), 40):
                post_by_source(client, keys, messages[start : start + 40])
                if start == 0:
                    _wait_for_workers(engine, workers)
                time.sleep(0.25)  # workers poll every second: let them interleave
        _wait_for_workers(engine, workers)
    finally:
        for worker in workers:
            worker.terminate()
        errors = [w.communicate(timeout=30)[1] for w in workers]
    assert all("Traceback" not in e for e in errors), errors
    with engine.connect() as connection:
        actual = set(service.partition(connection))
        summary = service.summary(connection)
    expected = _expected(messages, source_ids)
    assert actual == expected
    assert summary["profiles"] == len(expected)
    # The crowd was not trivial: shared family mailboxes were refused, profiles merged late.
    assert summary["conflicts"] > 0
    assert summary["merges"] > 0
    assert max(len(p) for p in actual) >= 4
