"""Wires Slack into the server (replaced by the Slack surface as it lands)."""

from __future__ import annotations

from aiohttp import web

from adapters.settings import Settings
from bot.core import Bot


def mount(app: web.Application, settings: Settings, bot: Bot) -> str:
    """Add Slack's routes when Slack is configured; return the start-up log line."""
    return "slack: off (the Slack surface is not built yet)"
