"""Wires web chat into the server (replaced by the web chat surface as it lands)."""

from __future__ import annotations

from aiohttp import web

from adapters.settings import Settings
from bot.core import Bot


def mount(app: web.Application, settings: Settings, bot: Bot) -> str:
    """Add web chat's routes when web chat is configured; return the start-up log line."""
    return "webchat: off (the web chat surface is not built yet)"
