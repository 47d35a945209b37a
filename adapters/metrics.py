"""Prometheus metrics for ``okrbot serve`` (replaced by the real ones as they land)."""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    """Add the request-counting middleware and ``GET /metrics``."""
