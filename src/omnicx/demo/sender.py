"""Delivers messages to the collection API in Segment batches, checking every answer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import httpx
import orjson

BATCH_SIZE = 100
"""Messages per /v1/batch request, as the Segment SDKs send them."""


class DeliveryError(RuntimeError):
    """The collection API refused a batch; the message is the server's answer."""


def basic_auth(write_key: str) -> str:
    """The Authorization header value the Segment SDKs send: the write key as Basic user."""
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


class BatchSender:
    """Buffers messages per channel and posts full batches, a few requests in flight at once."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        write_keys: dict[str, str],
        *,
        concurrency: int = 8,
        on_delivered: Callable[[int], None] | None = None,
        retries: int = 5,
    ) -> None:
        self._client = client
        self._headers = {
            channel: {"Authorization": basic_auth(key), "Content-Type": "application/json"}
            for channel, key in write_keys.items()
        }
        self._buffers: dict[str, list[bytes]] = {channel: [] for channel in write_keys}
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_delivered = on_delivered
        self._retries = retries
        self._error: BaseException | None = None
        self.delivered = 0

    async def add(self, channel: str, messages: list[bytes]) -> None:
        """Queues messages (each one JSON object) for a channel's source, posting full batches."""
        buffer = self._buffers[channel]
        buffer.extend(messages)
        while len(buffer) >= BATCH_SIZE:
            await self._post_soon(channel, buffer[:BATCH_SIZE])
            del buffer[:BATCH_SIZE]

    async def flush(self) -> None:
        """Posts what is buffered and waits for every request; raises the first refusal."""
        for channel, buffer in self._buffers.items():
            if buffer:
                await self._post_soon(channel, list(buffer))
                buffer.clear()
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        self._raise_if_failed()

    async def _post_soon(self, channel: str, batch: list[bytes]) -> None:
        self._raise_if_failed()
        await self._slots.acquire()
        task = asyncio.create_task(self._post(channel, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, channel: str, batch: list[bytes]) -> None:
        try:
            body = b'{"batch":[' + b",".join(batch) + b"]}"
            for attempt in range(self._retries + 1):
                response = await self._client.post(
                    "/v1/batch", content=body, headers=self._headers[channel]
                )
                if response.status_code == 429 and attempt < self._retries:
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                _check(channel, response)
                break
            self.delivered += len(batch)
            if self._on_delivered is not None:
                self._on_delivered(len(batch))
        except Exception as exc:  # kept and raised on the next call: abort the run
            if self._error is None:
                self._error = exc
        finally:
            self._slots.release()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def _check(channel: str, response: httpx.Response) -> None:
    """Raises DeliveryError unless the whole batch was accepted."""
    if response.status_code != 200:
        raise DeliveryError(
            f"the collection API refused a {channel} batch with HTTP {response.status_code}: "
            f"{response.text[:2000]}"
        )
    answer = orjson.loads(response.content)
    if answer.get("rejected"):
        raise DeliveryError(
            f"the collection API rejected messages of a {channel} batch: {answer['rejected'][:5]}"
        )
