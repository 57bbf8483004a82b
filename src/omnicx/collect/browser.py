"""What analytics.js needs besides the intake routes: its settings document.

analytics.js (`@segment/analytics-next`) loads `{cdnURL}/v1/projects/{writeKey}/settings`
before sending anything; the `Segment.io` entry tells it where to send events. Pointing its
`cdnURL` at omnicx is then enough: events come back to this host's `/v1/t`, `/v1/p`, ...
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

router = APIRouter(tags=["collection"])


def settings_document(write_key: str, *, api_host: str, protocol: str) -> dict[str, Any]:
    """The settings analytics.js expects: only the Segment.io destination, no remote plugins."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{api_host}/v1",
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def public_host(request: Request, public_url: str | None) -> tuple[str, str]:
    """Returns (host[:port], protocol) to send to: OMNICX_PUBLIC_URL, else the request's."""
    if public_url:
        parts = urlsplit(public_url)
        return parts.netloc + parts.path.rstrip("/"), parts.scheme or "https"
    protocol = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = (
        request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    )
    return host, protocol


@router.get(
    "/v1/projects/{write_key}/settings",
    summary="Settings document for analytics.js",
    operation_id="collect_browser_settings",
    responses={404: {"description": "Unknown or disabled write key."}},
)
async def project_settings(write_key: str, request: Request) -> dict[str, Any]:
    """Tells analytics.js to send this write key's events to this server."""
    runtime = request.app.state.runtime
    owner = await run_in_threadpool(runtime.keys.resolve, write_key)
    if owner is None or not owner.enabled:
        raise HTTPException(404, detail="Unknown or disabled write key.")
    host, protocol = public_host(request, runtime.settings.public_url)
    return settings_document(write_key, api_host=host, protocol=protocol)
