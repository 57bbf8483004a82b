"""The analytics API: every report under `/api/analytics/...` (mounted by api/routers.py)."""

from __future__ import annotations

from fastapi import APIRouter

from omnicx.analytics import api_funnels, api_lake, api_paths, api_retention, api_stages
from omnicx.analytics.api_common import ANALYTICS_ERRORS

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=ANALYTICS_ERRORS)
for _module in (api_lake, api_funnels, api_paths, api_retention, api_stages):
    router.include_router(_module.router)
