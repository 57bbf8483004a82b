"""The FastAPI application: mounts each domain's router, health, CORS for browser SDKs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import text
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import omnicx
from omnicx.api.routers import mount_api
from omnicx.api.runtime import Runtime
from omnicx.collect import api as collect_api
from omnicx.collect import browser as collect_browser
from omnicx.collect.processing import lags
from omnicx.console.mount import mount_console
from omnicx.pipeline import consumer_names
from omnicx.settings import Settings


class OmnicxAPI(FastAPI):
    """FastAPI, with collection POSTs answered before its middleware, routing and telemetry.

    The intake's hot path (`collect.api.serve_intake`): a collection request crosses no
    middleware, not even FastAPI's own outer layers (its OpenTelemetry checks, Starlette's
    `ServerErrorMiddleware`; uvicorn answers 500 to an unexpected error instead). Everything
    else goes through FastAPI as usual.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path in collect_api.INTAKE_PATHS:
                await collect_api.serve_intake(
                    self.state.runtime, scope, receive, send, collect_api.INTAKE_PATHS[path]
                )
                return
        await super().__call__(scope, receive, send)


class CollectionGateway:
    """Gives `/v1/*` browser CORS: preflights and the analytics.js settings document.

    Any origin: write keys are public, the admin API is not. (Collection POSTs never reach
    this middleware: `OmnicxAPI` answers them first, with the allow-origin header.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self._app(scope, receive, send)
        else:
            await self._cors(scope, receive, send)


def create_app(settings: Settings | None = None, *, serving: bool = False) -> FastAPI:
    """Builds the application; the runtime opens when the server starts and closes at shutdown.

    `serving`: the application of an `omnicx serve` server process (see `Runtime.open`).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.open(settings, serving=serving)
        try:
            yield
        finally:
            app.state.runtime.close()

    app = OmnicxAPI(
        title="omnicx",
        version=omnicx.__version__,
        summary="Omnichannel customer experience platform: collection API and admin API.",
        lifespan=lifespan,
    )
    app.include_router(collect_api.router)
    app.include_router(collect_browser.router)
    mount_api(app)  # the admin API under /api: routers listed in api/routers.py, bearer auth
    mount_console(app)  # the web console under /console: session cookies, pages

    @app.get("/healthz", tags=["operations"], summary="Liveness and database readiness")
    def healthz(request: Request, response: Response) -> dict[str, Any]:
        runtime: Runtime = request.app.state.runtime
        behind: dict[str, int] | None = None
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                # Wherever processing runs (this process, the supervisor's, `omnicx worker`).
                behind = lags(connection, consumer_names())
            database = "ok"
        except Exception as exc:  # report, don't crash: this is what monitoring polls
            database = f"unavailable: {exc.__class__.__name__}"
            response.status_code = 503
        return {
            "status": "ok" if database == "ok" else "degraded",
            "version": omnicx.__version__,
            "database": database,
            "pending_events": runtime.writer.pending,
            "processed_events": runtime.processing.processed if runtime.processing else None,
            "processing_lag": behind,
        }

    app.add_middleware(CollectionGateway)
    return app


def create_served_app() -> FastAPI:
    """The application as `omnicx serve` runs it in each worker process (uvicorn's factory):
    settings from the environment, serving (see `Runtime.open`)."""
    return create_app(serving=True)
