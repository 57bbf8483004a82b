"""Batches go out 100 messages at a time with the source's key; any refusal stops the run."""

from __future__ import annotations

import asyncio
import base64

import httpx
import orjson
import pytest

from omnicx.demo.sender import BATCH_SIZE, BatchSender, DeliveryError


def _send(handler: httpx.MockTransport, messages: int) -> BatchSender:
    async def run() -> BatchSender:
        async with httpx.AsyncClient(transport=handler, base_url="http://omnicx") as client:
            sender = BatchSender(client, {"web": "KEY"}, concurrency=2)
            await sender.add("web", [orjson.dumps({"n": n}) for n in range(messages)])
            await sender.flush()
            return sender

    return asyncio.run(run())


def test_batches_carry_the_write_key_and_every_message() -> None:
    seen: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/batch"
        user = base64.b64decode(request.headers["authorization"].split()[1]).decode()
        assert user == "KEY:"
        seen.extend(m["n"] for m in orjson.loads(request.content)["batch"])
        return httpx.Response(200, json={"success": True})

    sender = _send(httpx.MockTransport(answer), 250)
    assert sorted(seen) == list(range(250))
    assert sender.delivered == 250


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "invalid_json", "message": "bad body"}, "HTTP 400.*bad body"),
        (500, {"error": "boom"}, "HTTP 500.*boom"),
        (200, {"success": True, "rejected": [{"index": 3, "code": "x"}]}, "rejected"),
    ],
)
def test_a_refusal_aborts_with_the_server_answer(status: int, body: object, message: str) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json=body))
    with pytest.raises(DeliveryError, match=message):
        _send(transport, BATCH_SIZE * 3)


def test_overload_is_retried_after_the_pause_asked_for() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}, json={})])

    def answer(_: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"success": True}))

    assert _send(httpx.MockTransport(answer), 10).delivered == 10
