"""The collection API, wire-compatible with the Segment and RudderStack HTTP tracking API.

Handlers are thin: read the body, find the source, let `intake` check the messages, hand the
rows to the group-commit writer and answer once they are committed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from omnicx.collect.errors import IntakeError, intake_error
from omnicx.collect.group_commit import GroupCommitWriter, WriterOverloaded, WriterStopped
from omnicx.collect.intake import (
    check_owner,
    decode_body,
    prepare,
    rejection,
    write_key_from,
)
from omnicx.collect.openapi import INTAKE_RESPONSES, request_body_schema
from omnicx.collect.sources import KeyOwner, Missing, WriteKeyCache
from omnicx.settings import Settings
from omnicx.store.clock import utc_now

router = APIRouter(tags=["collection"])

_OK = b'{"success":true}'
_JSON = "application/json"

# Route → message type it implies (None: a batch whose messages say their own type).
ROUTES: dict[str, tuple[str | None, str]] = {
    "batch": (None, "Send a batch of messages of any type"),
    "import": (None, "Import historical messages (a batch)"),
    "track": ("track", "Record an action a person performed"),
    "identify": ("identify", "Tie a person to their traits"),
    "page": ("page", "Record a web page view"),
    "screen": ("screen", "Record a mobile app screen view"),
    "group": ("group", "Associate a person with a group (account, company)"),
    "alias": ("alias", "Merge a previous identity into a user id"),
}
# analytics.js sends to one-letter paths.
SHORT_FORMS = {
    "b": "batch",
    "t": "track",
    "i": "identify",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}


Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""A collection request's answer: status, JSON body and extra headers."""

_JSON_HEADER = (b"content-type", _JSON.encode())
_CORS_HEADER = (b"access-control-allow-origin", b"*")
_ANSWER_OK: Answer = (200, _OK, [])


class _Disconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


def _error(error: IntakeError, extra: dict[str, Any] | None = None) -> Answer:
    body = error.as_json() | (extra or {})
    headers: list[tuple[bytes, bytes]] = []
    if error.status == 429 and extra and "retry_after" in extra:
        seconds = int(extra["retry_after"])
        headers = [
            (b"retry-after", str(seconds).encode()),
            (b"x-ratelimit-reset", str(int(time.time()) + seconds).encode()),
        ]
    return error.status, orjson.dumps(body), headers


async def _owner(cache: WriteKeyCache, key: str | None) -> KeyOwner:
    if key is None:
        return check_owner(None, None)
    owner = cache.peek(key)
    if isinstance(owner, Missing):
        owner = await cache.owner(key)
    return check_owner(owner, key)


_WANTED_HEADERS = frozenset(
    (b"authorization", b"x-write-key", b"content-encoding", b"content-length", b"origin")
)


def _headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The request headers the intake reads (the first of each, as Starlette's `get`)."""
    found: dict[bytes, str] = {}
    for name, value in raw_headers:  # ASGI header names are lowercase
        if name in _WANTED_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def ingest(
    runtime: Any, headers: dict[bytes, str], body: AsyncIterator[bytes], message_type: str | None
) -> Answer:
    """Handles one collection request end to end: reads `body`, stores, returns the answer.

    A 200 means every accepted message of the request is committed.
    """
    settings: Settings = runtime.settings
    writer: GroupCommitWriter = runtime.writer
    received_at = utc_now()
    owner: KeyOwner | None = None
    raw = b""
    try:
        raw = await _read_limited(headers.get(b"content-length"), body, settings.max_body_bytes)
        header_found = write_key_from(
            headers.get(b"authorization"), headers.get(b"x-write-key"), None
        )
        if header_found is not None:
            owner = await _owner(runtime.keys, header_found)
        parsed = decode_body(
            raw,
            content_encoding=headers.get(b"content-encoding"),
            max_body_bytes=settings.max_body_bytes,
        )
        if owner is None:
            owner = await _owner(runtime.keys, write_key_from(None, None, parsed))
        prepared = prepare(
            parsed,
            owner=owner,
            message_type=message_type,
            received_at=received_at,
            max_message_bytes=settings.max_message_bytes,
        )
        del parsed  # freed now rather than after the wait for the commit
        if prepared.rows or prepared.rejections:
            await writer.write(prepared.rows, prepared.rejections)
    except IntakeError as error:
        if owner is not None and error.status not in (401, 403):
            # The source is known: keep the refused request where its owner can see it.
            await _record_refusal(writer, owner, received_at, error, raw)
        return _error(error)
    except WriterOverloaded as overloaded:
        return _error(
            intake_error("overloaded", seconds=overloaded.retry_after),
            {"retry_after": overloaded.retry_after},
        )
    except WriterStopped:
        return _error(intake_error("unavailable"))
    if not prepared.refused:
        return _ANSWER_OK
    if not prepared.rows:
        first = prepared.failures[0][1]
        if message_type is not None:  # a single message: its own error is the answer
            return _error(first)
        refused = intake_error("all_rejected", count=prepared.refused, first=first.message)
        return _error(refused, {"rejected_count": prepared.refused, "rejected": prepared.errors()})
    body_json = {
        "success": True,
        "accepted": len(prepared.rows),
        "rejected_count": prepared.refused,
        "rejected": prepared.errors(),
    }
    return 200, orjson.dumps(body_json), []


async def _record_refusal(
    writer: GroupCommitWriter, owner: KeyOwner, received_at: Any, error: IntakeError, raw: bytes
) -> None:
    text = raw[:4096].decode("utf-8", errors="replace")
    # The request is refused anyway: losing its diagnostic copy under load is acceptable.
    with contextlib.suppress(WriterOverloaded, WriterStopped):
        await writer.write((), (rejection(owner.source_id, received_at, error, text),))


async def _read_limited(declared: str | None, body: AsyncIterator[bytes], limit: int) -> bytes:
    """Reads the body, refusing it as soon as it grows past `limit` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise intake_error("body_too_large", size=int(declared), limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise intake_error("body_too_large", size=f"more than {limit}", limit=limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


INTAKE_PATHS: dict[str, str | None] = {
    **{f"/v1/{route}": kind for route, (kind, _summary) in ROUTES.items()},
    **{f"/v1/{short}": ROUTES[route][0] for short, route in SHORT_FORMS.items()},
}
"""Every collection path and the message type it implies (None: a batch)."""


async def _receive_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def serve_intake(
    runtime: Any, scope: Scope, receive: Receive, send: Send, message_type: str | None
) -> None:
    """Answers a collection request as a plain ASGI app, outside FastAPI.

    The hot path: the same `ingest` the routes below call, without the layers of middleware,
    routing and endpoint plumbing a FastAPI route adds per request (measured: a one-route
    FastAPI app serves 4,900 requests/s here, a bare ASGI app 15,800), and answering with
    `send()` directly. Browsers get CORS's allow-origin on every answer; the routes below stay
    for OpenAPI and as the fallback.
    """
    headers = _headers(scope["headers"])
    try:
        status, body, extra = await ingest(runtime, headers, _receive_body(receive), message_type)
    except _Disconnected:
        return
    response_headers = [_JSON_HEADER, (b"content-length", str(len(body)).encode()), *extra]
    if b"origin" in headers:
        response_headers.append(_CORS_HEADER)
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


def _make_handler(message_type: str | None) -> Any:
    async def handler(request: Request) -> Response:
        try:
            status, body, extra = await ingest(
                request.app.state.runtime,
                _headers(request.scope["headers"]),
                request.stream(),
                message_type,
            )
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        headers = {name.decode(): value.decode() for name, value in extra}
        return Response(body, status_code=status, media_type=_JSON, headers=headers)

    return handler


for _route, (_type, _summary) in ROUTES.items():
    router.add_api_route(
        f"/v1/{_route}",
        _make_handler(_type),
        methods=["POST"],
        summary=_summary,
        operation_id=f"collect_{_route}",
        responses=INTAKE_RESPONSES,
        openapi_extra={"requestBody": request_body_schema(_type)},
    )
for _short, _route in SHORT_FORMS.items():
    router.add_api_route(
        f"/v1/{_short}",
        _make_handler(ROUTES[_route][0]),
        methods=["POST"],
        summary=f"{ROUTES[_route][1]} (analytics.js short form of /v1/{_route})",
        operation_id=f"collect_{_route}_short",
        responses=INTAKE_RESPONSES,
        openapi_extra={"requestBody": request_body_schema(ROUTES[_route][0])},
    )
