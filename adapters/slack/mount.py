"""Wires Slack into ``okrbot serve``: POST /slack/events, and the OAuth pages when configured."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from adapters.settings import Settings, SlackSettings
from adapters.slack.adapter import SlackAdapter
from adapters.slack.outbound import web_client
from bot.core import Bot

log = logging.getLogger(__name__)
ADAPTER_KEY = web.AppKey("slack_adapter", SlackAdapter)


def build_bolt(settings: SlackSettings, bot: Bot) -> AsyncApp:
    """The Bolt app: signature checks with the signing secret, one bot token (single workspace)."""
    assert settings.signing_secret is not None and settings.bot_token is not None
    token = settings.bot_token.get_secret_value()
    return AsyncApp(
        name="okrbot",
        signing_secret=settings.signing_secret.get_secret_value(),
        client=web_client(settings.api_url, token),
        logger=logging.getLogger("okrbot.slack.bolt"),
    )


def mount(app: web.Application, settings: Settings, bot: Bot) -> str:
    """Add Slack's routes when Slack is configured; return the start-up log line."""
    slack = settings.slack
    if slack.signing_secret is None:
        return "slack: off (set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN to turn it on)"
    if slack.bot_token is None:
        return "slack: off (SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not)"
    adapter = SlackAdapter(bot, build_bolt(slack, bot))
    app[ADAPTER_KEY] = adapter

    async def events(request: web.Request) -> web.Response:
        bolt_response = await adapter.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    app.router.add_post("/slack/events", events)
    return "slack: on at POST /slack/events (single workspace, SLACK_BOT_TOKEN)"
