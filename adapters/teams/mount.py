"""Wires Teams into the server (replaced by the Teams surface as it lands)."""

from __future__ import annotations

from aiohttp import web

from adapters.settings import Settings
from bot.core import Bot


def mount(app: web.Application, settings: Settings, bot: Bot) -> str:
    """Add Teams's routes when Teams is configured; return the start-up log line."""
    return "teams: off (the Teams surface is not built yet)"
