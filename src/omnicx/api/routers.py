"""The admin API: every domain's router, mounted under `/api`.

A domain adds its `APIRouter` to `API_ROUTERS` below. Its paths are relative to `/api`
(the profiles router declares `/profiles/lookup`, served at `/api/profiles/lookup`); each
route protects itself with `Depends(require_permission("..."))` from `omnicx.api.auth`
(a permission of `omnicx.access.permissions`) and raises `omnicx.api.errors.ApiError` for
its errors. Every route documents the 401, 403 and 422 answers (`ERROR_RESPONSES`); all
errors under `/api` are JSON `{"code", "message"}`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from omnicx.access import api as access_api
from omnicx.analytics import api as analytics_api
from omnicx.api.errors import API_PREFIX, ERROR_RESPONSES, install_error_handlers
from omnicx.audiences import api as audiences_api
from omnicx.audiences import api_insights as audiences_insights
from omnicx.audiences import api_scores as audiences_scores
from omnicx.profiles import api as profiles_api
from omnicx.profiles import review_api

API_ROUTERS: list[APIRouter] = [
    access_api.router,
    profiles_api.router,
    review_api.router,
    analytics_api.router,
    audiences_api.router,
    audiences_insights.router,
    audiences_scores.router,
    # Domains add their routers here, e.g. the profiles domain's `omnicx.profiles.api.router`.
]
"""The routers served under `/api`, in order."""


def mount_api(app: FastAPI) -> None:
    """Serves every router of `API_ROUTERS` under `/api`, with the admin API's error answers."""
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in API_ROUTERS:
        api.include_router(router)
    app.include_router(api)
    install_error_handlers(app)
