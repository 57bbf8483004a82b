"""Reference apps for the "floor" of the HTTP stack omnicx runs on (uvicorn, httptools, uvloop).

`raw`: a bare ASGI app that reads the body, parses it with orjson and answers
{"success":true}. `fastapi`: the same in a one-route FastAPI app. Served the way omnicx is
(`uvicorn`, access log off), they show what a request costs before omnicx does anything:
the requests/s ceiling of one server process for single-event requests.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

_OK = b'{"success":true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"16")]


async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    orjson.loads(b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _OK})


fastapi = FastAPI()


@fastapi.post("/v1/track")
async def track(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(_OK, media_type="application/json")
