"""What a 200 promises, whatever happens to the server next.

- `kill -9` during a load: every acknowledged event is in the database (before any restart),
  none twice; after the restart the processing stage resumes from its checkpoint and counts
  every event exactly once, and SDK-style retries of the unanswered batches store each once.
- SIGTERM during a load: requests the server had begun are answered, answered ones are
  stored, and the process exits 0.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from tests.e2e.events import (
    assert_each_once,
    counted_per_source,
    mixed_batch,
    processing_position,
    source_id,
    stored_per_source,
    wait_until,
)
from tests.e2e.server import OmnicxServer, wait_until_refusing, wait_until_server_has_read

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

Batch = list[dict[str, Any]]

SENDERS = 4
BATCH_SIZE = 25
ACKNOWLEDGED_BEFORE_STOP = 40
"""Batches answered 200 before the server is killed or stopped: a load, not a trickle."""
SLOW_CLIENT_SECONDS = 1.0
"""How long slow uploads go on after SIGTERM: far beyond uvicorn's own 0.1 s pause."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A batch and the write key it was sent with."""

    key: str
    batch: Batch


def ids(sent: list[Sent], key: str | None = None) -> list[str]:
    """The messageIds of the batches (sent with `key`, if given)."""
    return [m["messageId"] for s in sent if key in (None, s.key) for m in s.batch]


class Load:
    """Threads posting distinct batches until told to stop or the server goes away."""

    def __init__(self, server: OmnicxServer, keys: list[str], prefix: str) -> None:
        self.acknowledged: list[Sent] = []  # answered 200
        self.unanswered: list[Sent] = []  # the connection failed: no answer at all
        self.statuses: Counter[int] = Counter()  # every answer received
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._send, args=(server.url, keys[n % len(keys)], f"{prefix}-{n}")
            )
            for n in range(SENDERS)
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def acknowledged_count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.ident is None:
                continue  # never started: the test failed before the load began
            thread.join(timeout=60)
            assert not thread.is_alive(), "a sender hung: the server left a request unanswered"

    def _send(self, url: str, key: str, prefix: str) -> None:
        with httpx.Client(base_url=url, auth=(key, ""), timeout=30.0) as client:
            n = 0
            while not self._stop.is_set():
                sent = Sent(key, mixed_batch(f"{prefix}-{n}", BATCH_SIZE))
                n += 1
                try:
                    response = client.post("/v1/batch", json={"batch": sent.batch})
                except httpx.TransportError:
                    with self._lock:
                        self.unanswered.append(sent)
                    return  # the server is gone; an SDK would retry later
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.acknowledged.append(sent)


def _wait_for_load(load: Load, server: OmnicxServer) -> None:
    wait_until(
        lambda: load.acknowledged_count() >= ACKNOWLEDGED_BEFORE_STOP,
        timeout=60,
        message=lambda: f"only {load.acknowledged_count()} batches acknowledged:\n{server.log()}",
    )


def _assert_processing_caught_up(engine: Engine, server: OmnicxServer) -> None:
    """The checkpoint reaches the last event and the per-source counts match what is stored."""

    def caught_up() -> bool:
        position, head = processing_position(engine)
        return position == head > 0

    wait_until(
        caught_up,
        timeout=30,
        message=lambda: (
            f"processing stuck at (checkpoint, head) = "
            f"{processing_position(engine)}:\n{server.log()}"
        ),
    )
    assert counted_per_source(engine) == stored_per_source(engine)


@pytest.mark.sources(**{"crash-web": "web", "crash-ios": "ios"})
def test_kill_9_loses_no_acknowledged_event(omnicx_server: OmnicxServer, engine: Engine) -> None:
    sources = {
        omnicx_server.write_keys[name]: source_id(engine, name)
        for name in ("crash-web", "crash-ios")
    }
    load = Load(omnicx_server, list(sources), "crash").start()
    try:
        _wait_for_load(load, omnicx_server)
        omnicx_server.kill()  # mid-load: senders have requests in flight
    finally:
        load.stop()
    assert set(load.statuses) == {200}, f"answers other than 200: {load.statuses}"

    # Checked before any restart: the events were durable when acknowledged, not recovered.
    for key, source in sources.items():
        assert_each_once(engine, source, ids(load.acknowledged, key))

    omnicx_server.start()
    _assert_processing_caught_up(engine, omnicx_server)

    # The SDKs retry what got no answer (and may resend acknowledged batches too).
    with httpx.Client(base_url=omnicx_server.url, timeout=30.0) as client:
        for sent in load.unanswered + load.acknowledged[:5]:
            response = client.post("/v1/batch", json={"batch": sent.batch}, auth=(sent.key, ""))
            assert response.status_code == 200, response.text
    everything = load.acknowledged + load.unanswered
    for key, source in sources.items():
        assert_each_once(engine, source, ids(everything, key))
    assert sum(stored_per_source(engine).values()) == len(ids(everything))
    _assert_processing_caught_up(engine, omnicx_server)


def _slow_body(batch: Batch, sent_half: threading.Event, rest: threading.Event) -> Iterator[bytes]:
    """A request body that stops half way until `rest` is set: a slow client's upload."""
    body = orjson.dumps({"batch": batch})
    yield body[: len(body) // 2]
    sent_half.set()  # the generator resumes only once the first half was written
    assert rest.wait(timeout=30), "never released"
    yield body[len(body) // 2 :]


@pytest.mark.sources(shop="web")
def test_sigterm_answers_requests_in_flight(omnicx_server: OmnicxServer, engine: Engine) -> None:
    key = omnicx_server.write_keys["shop"]
    slow = [Sent(key, mixed_batch(f"slow-{n}", BATCH_SIZE)) for n in range(3)]
    halves = [threading.Event() for _ in slow]
    rest = threading.Event()
    answers: dict[int, int | BaseException] = {}

    def upload(n: int) -> None:
        with httpx.Client(base_url=omnicx_server.url, auth=(key, ""), timeout=30.0) as client:
            try:
                answers[n] = client.post(
                    "/v1/batch",
                    content=_slow_body(slow[n].batch, halves[n], rest),
                    headers={"Content-Type": "application/json"},
                ).status_code
            except httpx.HTTPError as error:
                answers[n] = error

    uploads = [threading.Thread(target=upload, args=(n,)) for n in range(len(slow))]
    load = Load(omnicx_server, [key], "busy")
    try:
        for thread in uploads:
            thread.start()
        assert all(half.wait(timeout=30) for half in halves)
        # Half of each body is in the server: these requests have begun, they are in flight.
        wait_until_server_has_read(omnicx_server.port, connections=len(slow))
        load.start()
        _wait_for_load(load, omnicx_server)

        omnicx_server.terminate()
        wait_until_refusing(omnicx_server.port)  # the shutdown has begun...
        # ...and the slow clients take a while longer: the server must wait for them.
        time.sleep(SLOW_CLIENT_SECONDS)
    finally:
        rest.set()
        for thread in uploads:
            thread.join(timeout=30)
        load.stop()
    status = omnicx_server.wait_exit()
    assert status == 0, f"exit status {status} after SIGTERM:\n{omnicx_server.log()}"

    assert answers == dict.fromkeys(range(len(slow)), 200)
    assert set(load.statuses) == {200}, f"answers other than 200: {load.statuses}"
    assert_each_once(engine, source_id(engine, "shop"), ids(slow + load.acknowledged))
