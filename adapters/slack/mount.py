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
    assert settings.bot_token is not None
    token = settings.bot_token.get_secret_value()
    secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
    return AsyncApp(
        name="okrbot",
        signing_secret=secret,  # empty (Socket Mode only): every HTTP request fails verification
        client=web_client(settings.api_url, token),
        logger=logging.getLogger("okrbot.slack.bolt"),
    )


def mount(app: web.Application, settings: Settings, bot: Bot) -> str:
    """Add Slack's routes when Slack is configured; return the start-up log line."""
    slack = settings.slack
    if slack.signing_secret is None and slack.app_token is None:
        return "slack: off (set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN to turn it on)"
    if slack.bot_token is None:
        return "slack: off (SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not)"
    adapter = SlackAdapter(bot, build_bolt(slack, bot))
    app[ADAPTER_KEY] = adapter
    if slack.app_token is not None:
        _socket_mode(app, adapter, slack.app_token.get_secret_value())
        if slack.signing_secret is None:
            return "slack: on through Socket Mode (SLACK_APP_TOKEN); no HTTP route"

    async def events(request: web.Request) -> web.Response:
        bolt_response = await adapter.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    app.router.add_post("/slack/events", events)
    mode = " and Socket Mode (SLACK_APP_TOKEN)" if slack.app_token is not None else ""
    return f"slack: on at POST /slack/events{mode} (single workspace, SLACK_BOT_TOKEN)"


def _socket_mode(app: web.Application, adapter: SlackAdapter, app_token: str) -> None:
    """Slack calls okrbot over a WebSocket okrbot opens: for hosts Slack cannot reach."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(adapter.app, app_token)

    async def connect(_app: web.Application) -> None:
        await handler.connect_async()
        log.info("slack: Socket Mode connected")

    async def close(_app: web.Application) -> None:
        await handler.close_async()

    app.on_startup.append(connect)
    app.on_cleanup.append(close)
