"""Routes: moments (placeholder; the work that owns it fills it in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
