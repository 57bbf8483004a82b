"""The collection API, wire-compatible with the Segment and RudderStack HTTP tracking API.

Handlers are thin: read the body, find the source, let `intake` check the messages, hand the
rows to the group-commit writer and answer once they are committed.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
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
from omnicx.collect.sources import KeyOwner, WriteKeyCache
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


def _error_response(error: IntakeError, extra: dict[str, Any] | None = None) -> Response:
    body = error.as_json() | (extra or {})
    headers: dict[str, str] = {}
    if error.status == 429 and extra and "retry_after" in extra:
        seconds = int(extra["retry_after"])
        headers = {
            "Retry-After": str(seconds),
            "X-RateLimit-Reset": str(int(time.time()) + seconds),
        }
    return Response(orjson.dumps(body), status_code=error.status, media_type=_JSON, headers=headers)


async def _owner(cache: WriteKeyCache, key: str | None) -> KeyOwner:
    if key is None:
        return check_owner(None, None)
    fresh, owner = cache.cached(key)
    if not fresh:
        owner = await run_in_threadpool(cache.resolve, key)
    return check_owner(owner, key)


async def ingest(request: Request, message_type: str | None) -> Response:
    """Handles one collection request end to end."""
    runtime = request.app.state.runtime
    settings: Settings = runtime.settings
    writer: GroupCommitWriter = runtime.writer
    received_at = utc_now()
    owner: KeyOwner | None = None
    raw = b""
    try:
        raw = await _read_limited(request, settings.max_body_bytes)
        headers = request.headers
        authorization = headers.get("authorization")
        header_key = headers.get("x-write-key")
        header_found = write_key_from(authorization, header_key, None)
        if header_found is not None:
            owner = await _owner(runtime.keys, header_found)
        body = decode_body(
            raw,
            content_encoding=headers.get("content-encoding"),
            max_body_bytes=settings.max_body_bytes,
        )
        if owner is None:
            owner = await _owner(runtime.keys, write_key_from(None, None, body))
        prepared = prepare(
            body,
            owner=owner,
            message_type=message_type,
            received_at=received_at,
            max_message_bytes=settings.max_message_bytes,
        )
        if prepared.rows or prepared.rejections:
            await writer.write(prepared.rows, prepared.rejections)
    except IntakeError as error:
        if owner is not None and error.status not in (401, 403):
            # The source is known: keep the refused request where its owner can see it.
            await _record_refusal(writer, owner, received_at, error, raw)
        return _error_response(error)
    except WriterOverloaded as overloaded:
        return _error_response(
            intake_error("overloaded", seconds=overloaded.retry_after),
            {"retry_after": overloaded.retry_after},
        )
    except WriterStopped:
        return _error_response(intake_error("unavailable"))
    if not prepared.refused:
        return Response(_OK, media_type=_JSON)
    if not prepared.rows:
        first = prepared.failures[0][1]
        if message_type is not None:  # a single message: its own error is the answer
            return _error_response(first)
        refused = intake_error("all_rejected", count=prepared.refused, first=first.message)
        return _error_response(
            refused, {"rejected_count": prepared.refused, "rejected": prepared.errors()}
        )
    return Response(
        orjson.dumps(
            {
                "success": True,
                "accepted": len(prepared.rows),
                "rejected_count": prepared.refused,
                "rejected": prepared.errors(),
            }
        ),
        media_type=_JSON,
    )


async def _record_refusal(
    writer: GroupCommitWriter, owner: KeyOwner, received_at: Any, error: IntakeError, raw: bytes
) -> None:
    text = raw[:4096].decode("utf-8", errors="replace")
    # The request is refused anyway: losing its diagnostic copy under load is acceptable.
    with contextlib.suppress(WriterOverloaded, WriterStopped):
        await writer.write((), (rejection(owner.source_id, received_at, error, text),))


async def _read_limited(request: Request, limit: int) -> bytes:
    """Reads the body, refusing it as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise intake_error("body_too_large", size=int(declared), limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise intake_error("body_too_large", size=f"more than {limit}", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


INTAKE_PATHS: dict[str, str | None] = {
    **{f"/v1/{route}": kind for route, (kind, _summary) in ROUTES.items()},
    **{f"/v1/{short}": ROUTES[route][0] for short, route in SHORT_FORMS.items()},
}
"""Every collection path and the message type it implies (None: a batch)."""


async def serve_intake(
    scope: Scope, receive: Receive, send: Send, message_type: str | None
) -> None:
    """Answers a collection request as a plain ASGI app, outside FastAPI's routing.

    The hot path: the same `ingest` the routes below call, without the ten or so layers of
    routing and endpoint plumbing a FastAPI route adds per request (measured: a one-route
    FastAPI app serves 4,900 requests/s here, a bare ASGI app 15,800). Browsers get CORS's
    allow-origin on every answer; the routes below stay for OpenAPI and as the fallback.
    """
    response = await ingest(Request(scope, receive), message_type)
    if any(name == b"origin" for name, _value in scope["headers"]):
        response.headers["access-control-allow-origin"] = "*"
    await response(scope, receive, send)


def _make_handler(message_type: str | None) -> Any:
    async def handler(request: Request) -> Response:
        return await ingest(request, message_type)

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
