"""Simulates households in chunks, in worker processes when there are many, delivered in order."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from random import Random

import orjson

from omnicx.demo.campaigns import calendar
from omnicx.demo.journeys import simulate_household
from omnicx.demo.markets import MARKETS
from omnicx.demo.names import NameBook
from omnicx.demo.population import HouseholdSlot, draw, slots
from omnicx.demo.state import World
from omnicx.demo.timeline import Window

CHUNK_HOUSEHOLDS = 100
"""Households per unit of work: big enough to amortise a process hop, small enough to stream."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive households to simulate."""

    seed: int
    window: Window
    slots: tuple[HouseholdSlot, ...]


@dataclass(slots=True)
class ChunkResult:
    """A chunk's output, ready to send and write: messages as JSON, truth lines, export rows."""

    messages: dict[str, list[bytes]] = field(default_factory=dict)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    truth: list[bytes] = field(default_factory=list)
    pos_rows: list[dict[str, str]] = field(default_factory=list)
    crm_rows: list[dict[str, str]] = field(default_factory=list)
    people: int = 0
    multichannel: int = 0
    households: int = 0


def chunks(seed: int, window: Window, customers: int) -> Iterator[Chunk]:
    """Splits the population into chunks of consecutive households."""
    batch: list[HouseholdSlot] = []
    for slot in slots(seed, customers):
        batch.append(slot)
        if len(batch) == CHUNK_HOUSEHOLDS:
            yield Chunk(seed, window, tuple(batch))
            batch = []
    if batch:
        yield Chunk(seed, window, tuple(batch))


_WORLDS: dict[tuple[int, Window], tuple[World, NameBook]] = {}


def _world(seed: int, window: Window) -> tuple[World, NameBook]:
    """The campaign calendar and name book, built once per process."""
    key = (seed, window)
    if key not in _WORLDS:
        _WORLDS[key] = (World(seed, window, calendar(seed, window)), NameBook(MARKETS))
    return _WORLDS[key]


def simulate_chunk(chunk: Chunk) -> ChunkResult:
    """Draws and lives every household of the chunk; deterministic for the seed."""
    world, names = _world(chunk.seed, chunk.window)
    result = ChunkResult()
    for slot in chunk.slots:
        household = draw(chunk.seed, slot, chunk.window, names)
        journeys = Random(f"omnicx-demo/{chunk.seed}/journeys/{slot.index}")
        output = simulate_household(world, household, journeys)
        for channel, message in output.out.messages:
            result.messages.setdefault(channel, []).append(orjson.dumps(message))
            result.events[(channel, message.get("event") or message["type"])] += 1
        result.pos_rows.extend(output.out.pos_rows)
        result.crm_rows.extend(output.out.crm_rows)
        for record in output.truth:
            result.truth.append(orjson.dumps(record) + b"\n")
            result.multichannel += len(record["channels"]) > 1
        result.people += len(household.members)
        result.households += 1
    return result


async def simulated(work: Iterator[Chunk], workers: int) -> AsyncIterator[ChunkResult]:
    """Simulates chunks in order: here when `workers` is 0, else in that many processes."""
    if workers <= 0:
        for chunk in work:
            yield simulate_chunk(chunk)
            await asyncio.sleep(0)  # let the requests in flight move on
        return
    # spawn: the server's threads are already running, and forking those is unsafe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        for chunk in work:
            pending.append(pool.submit(simulate_chunk, chunk))
            if len(pending) >= 2 * workers:  # bounded: memory stays flat at any size
                yield await asyncio.wrap_future(pending.popleft())
        while pending:
            yield await asyncio.wrap_future(pending.popleft())
