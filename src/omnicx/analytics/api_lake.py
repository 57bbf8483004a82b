"""Analytics API routes for the lake itself (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
