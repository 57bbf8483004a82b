"""Running the demo in tests: a small, fixed population and what it stored."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select

from omnicx.collect.tables import events
from omnicx.demo.service import DemoOptions, DemoReport, run_demo
from omnicx.demo.truth import KINDS

UNTIL = date(2026, 3, 31)


class Quiet:
    """Progress that is not shown."""

    def simulated(self, customers: int) -> None:
        """Ignores progress."""

    def delivered(self, events: int) -> None:
        """Ignores progress."""

    def imported(self, file: str, rows: int) -> None:
        """Ignores progress."""

    def processed(self, events: int, total: int) -> None:
        """Ignores progress."""


def run_small(
    engine: Engine, database_url: str, folder: Path, customers: int = 60, seed: int = 7
) -> DemoReport:
    """Runs the demo on `customers` people, files in `folder`, through the real in-process app."""
    options = DemoOptions(customers=customers, seed=seed, until=UNTIL, output=folder)
    return run_demo(engine, database_url, options, Quiet())


def stored_events(engine: Engine) -> list[dict[str, Any]]:
    """Channel, ids and message of every stored event."""
    columns = (events.c.channel, events.c.message_id, events.c.user_id, events.c.anonymous_id,
               events.c.event, events.c.type)  # fmt: skip
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(*columns))]


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The ground-truth records."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def owners(truth: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Every identifier value of the truth → the people who used it."""
    found: dict[str, set[str]] = defaultdict(set)
    for person in truth:
        for kind in KINDS:
            for value in person[kind]:
                found[value].add(person["person"])
    return found
