"""Wires Slack into ``okrbot serve``: POST /slack/events, and the OAuth pages when configured."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.settings import SlackSettings
from adapters.slack.adapter import SlackAdapter
from adapters.slack.installations import InstallationStore, OAuthStateStore, SeenEvents
from adapters.slack.outbound import SlackOutbound, TokenFor, web_client
from bot.command import WorkspaceRef
from bot.core import Bot
from store.installations import seal_installations
from store.secrets import HOW, SETTING, SecretBox, SecretKeyError

#: Seconds a Web API call may take (slack_sdk's own default is 30).
WEB_API_TIMEOUT = 30.0
log = logging.getLogger(__name__)
ADAPTER_KEY = web.AppKey("slack_adapter", SlackAdapter)
OUTBOUND_KEY = web.AppKey("slack_outbound", SlackOutbound)
#: The bot scopes of manifest.yml (a test keeps the two equal), asked for by /slack/install.
SCOPES = (
    "commands", "chat:write", "chat:write.public", "im:write", "users:read", "files:write", "im:history",
    "app_mentions:read",
)  # fmt: skip


def build_bolt(settings: SlackSettings, bot: Bot) -> AsyncApp:
    """The Bolt app: signature checks with the signing secret, one bot token (single workspace).

    ``process_before_response=True``: Bolt awaits the listener and answers as soon as it returns.
    By default it runs the listener as a task and looks for the ack every 10 ms, so every answer
    waited up to 10 ms for nothing; the listeners (adapters/slack/adapter.py) return right after
    the ack and leave the rest to background tasks, so nothing slow is held before the answer."""
    assert settings.bot_token is not None
    token = settings.bot_token.get_secret_value()
    secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
    return AsyncApp(
        name="okrbot",
        signing_secret=secret,  # empty (Socket Mode only): every HTTP request fails verification
        client=web_client(settings.api_url, token),
        process_before_response=True,
        logger=logging.getLogger("okrbot.slack.bolt"),
    )


def build_oauth_bolt(settings: SlackSettings, store: InstallationStore) -> AsyncApp:
    """The Bolt app of a multi-workspace install: each request's bot token comes from the store."""
    assert settings.client_id and settings.client_secret and settings.state_secret and settings.signing_secret
    oauth = AsyncOAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        scopes=list(SCOPES),
        installation_store=store,
        installation_store_bot_only=True,
        state_store=OAuthStateStore(store.db, settings.state_secret.get_secret_value()),
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
    )
    return AsyncApp(
        name="okrbot",
        signing_secret=settings.signing_secret.get_secret_value(),
        client=web_client(settings.api_url),  # oauth.v2.access and auth.test go to OKRBOT_SLACK_API_URL too
        oauth_settings=oauth,
        installation_store_bot_only=True,
        process_before_response=True,  # as in build_bolt
        logger=logging.getLogger("okrbot.slack.bolt"),
    )


def _oauth_problem(slack: SlackSettings) -> str | None:
    missing = [
        name
        for name, value in (
            ("SLACK_CLIENT_SECRET", slack.client_secret),
            ("SLACK_STATE_SECRET", slack.state_secret),
            ("SLACK_SIGNING_SECRET", slack.signing_secret),
        )
        if value is None
    ]
    return f"slack: off (SLACK_CLIENT_ID is set but {' and '.join(missing)} not)" if missing else None


def mount(app: web.Application, slack: SlackSettings, bot: Bot, box: SecretBox | None = None) -> str:
    """Add Slack's routes when Slack is configured; return the start-up log line. Many
    workspaces (OAuth) keep their tokens sealed with ``box``: without one, SecretKeyError."""
    if slack.client_id:
        return _mount_oauth(app, slack, bot, box)
    if slack.signing_secret is None and slack.app_token is None:
        return "slack: off (set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN to turn it on)"
    if slack.bot_token is None:
        return "slack: off (SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not)"
    adapter = SlackAdapter(bot, build_bolt(slack, bot), seen=SeenEvents(bot.db))
    app[ADAPTER_KEY] = adapter
    outbound = token_outbound(slack)
    assert outbound is not None  # SLACK_BOT_TOKEN is set
    app[OUTBOUND_KEY] = outbound
    if slack.app_token is not None:
        _socket_mode(app, adapter, slack.app_token.get_secret_value())
    _finish_on_cleanup(app, adapter, outbound)  # after the socket closes: no new work, then the replies in flight
    if slack.signing_secret is None:  # so SLACK_APP_TOKEN is set
        return "slack: on through Socket Mode (SLACK_APP_TOKEN); no HTTP route"

    app.router.add_post("/slack/events", _events(adapter))
    mode = " and Socket Mode (SLACK_APP_TOKEN)" if slack.app_token is not None else ""
    return f"slack: on at POST /slack/events{mode} (single workspace, SLACK_BOT_TOKEN)"


def _mount_oauth(app: web.Application, slack: SlackSettings, bot: Bot, box: SecretBox | None) -> str:
    problem = _oauth_problem(slack)
    if problem:
        return problem
    if box is None:
        raise SecretKeyError(
            f"Multi-workspace Slack (SLACK_CLIENT_ID) keeps each workspace's bot token encrypted, so it needs "
            f"{SETTING}: {HOW} and set it."
        )
    store = InstallationStore(bot.db, box)

    async def check_key(_app: web.Application) -> None:
        sealed = await seal_installations(bot.db, box)  # a wrong key stops the start with its sentence
        if sealed:
            log.info("slack: sealed the tokens of %d installation(s) stored before encryption", sealed)

    app.on_startup.append(check_key)
    adapter = SlackAdapter(bot, build_oauth_bolt(slack, store), seen=SeenEvents(bot.db), installations=store)
    app[ADAPTER_KEY] = adapter
    app[OUTBOUND_KEY] = outbound = SlackOutbound(slack.api_url, store.token_for)
    _finish_on_cleanup(app, adapter, outbound)
    flow = adapter.app.oauth_flow
    assert flow is not None

    async def install(request: web.Request) -> web.Response:
        return await _answer(await flow.handle_installation(await to_bolt_request(request)))

    async def redirect(request: web.Request) -> web.Response:
        return await _answer(await flow.handle_callback(await to_bolt_request(request)))

    app.router.add_get("/slack/install", install)
    app.router.add_get("/slack/oauth_redirect", redirect)
    app.router.add_post("/slack/events", _events(adapter))
    ignored = " (SLACK_BOT_TOKEN ignored)" if slack.bot_token is not None else ""
    return f"slack: on at POST /slack/events, installed from GET /slack/install (multi-workspace OAuth){ignored}"


def _events(adapter: SlackAdapter):  # type: ignore[no-untyped-def]
    async def events(request: web.Request) -> web.Response:
        return await _answer(await adapter.app.async_dispatch(await _bolt_request(request)))

    return events


async def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    """The request for Bolt; a body Bolt cannot parse (not UTF-8, broken JSON) is a 400, not a crash.

    An oversized body never gets here: aiohttp refuses it with 413 (``client_max_size``)."""
    try:
        return await to_bolt_request(request)
    except ValueError:  # UnicodeDecodeError, json.JSONDecodeError
        log.info("slack: a request body that could not be read was refused")
        raise web.HTTPBadRequest(text="The request body could not be read.") from None


async def _answer(response: BoltResponse) -> web.Response:
    return await to_aiohttp_response(response)


def token_outbound(slack: SlackSettings) -> SlackOutbound | None:
    """The Outbound of one workspace's bot token (SLACK_BOT_TOKEN), for the serving app and for
    ``okrbot send``; None without a token."""
    if slack.bot_token is None:
        return None
    return SlackOutbound(slack.api_url, _one_token(slack.bot_token.get_secret_value()))


def _one_token(token: str) -> TokenFor:
    async def token_for(_workspace: WorkspaceRef) -> str | None:
        return token

    return token_for


def _finish_on_cleanup(app: web.Application, adapter: SlackAdapter, outbound: SlackOutbound) -> None:
    """Every Web API call over one keep-alive session, opened at start-up: without one, slack_sdk
    opens a connection (for slack.com, a TLS handshake too) for every call, each views.open of a
    Check in included. Replies already acknowledged get to finish before the session and the
    database close: aiohttp runs on_cleanup after the requests in flight are answered, in order,
    the surfaces' before server.py's own."""
    session: list[aiohttp.ClientSession] = []

    async def open_session(_app: web.Application) -> None:
        session.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT)))
        adapter.app.client.session = outbound.session = session[0]  # Bolt's per-request clients share it

    async def finish(_app: web.Application) -> None:
        await adapter.close()
        for one in session:
            await one.close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(finish)


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
