"""Analytics API routes for retention (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
