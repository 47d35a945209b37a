"""Wires Teams into the server: botbuilder's CloudAdapter at POST /api/messages."""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botframework.connector.auth import BotFrameworkAuthentication

from adapters.settings import TeamsSettings
from adapters.teams.adapter import TeamsAdapter
from adapters.teams.auth import ReusingAuthentication, authentication, describe, sdk_config
from adapters.teams.outbound import TeamsOutbound
from adapters.teams.references import References
from bot.core import Bot

log = logging.getLogger("okrbot.teams")
ROUTE = "/api/messages"
TEAMS_KEY = web.AppKey("teams", TeamsAdapter)
CLOUD_ADAPTER_KEY = web.AppKey("teams_cloud_adapter", CloudAdapter)
#: The Outbound Protocol for Teams (bot.outbound.Outbound), for the scheduler to send with.
OUTBOUND_KEY = web.AppKey("teams_outbound", TeamsOutbound)


def is_loopback(request: web.Request) -> bool:
    """A client on this machine, not relayed by a proxy (a proxy on loopback would vouch for anyone)."""
    if any(name in request.headers for name in ("Forwarded", "X-Forwarded-For", "X-Real-IP")):
        return False
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def build_outbound(
    teams: TeamsSettings, references: References, auth: BotFrameworkAuthentication | None = None
) -> TeamsOutbound:
    """The Teams Outbound: the serving app's (sharing its ``auth``) or ``okrbot send``'s."""
    config = sdk_config(teams)  # a wrong combination of MICROSOFT_APP_* stops start-up with a sentence
    return TeamsOutbound(authentication(teams) if auth is None else auth, references, app_id=config.APP_ID)


def mount(app: web.Application, teams: TeamsSettings, bot: Bot) -> str:
    """Add POST /api/messages; return the start-up log line saying how requests are authenticated."""
    config = sdk_config(teams)  # a wrong combination of MICROSOFT_APP_* stops start-up with a sentence
    auth = authentication(teams)
    cloud = CloudAdapter(auth)
    references = References(bot.db, timezone=bot.timezone)
    adapter = TeamsAdapter(bot, references)
    app[TEAMS_KEY] = adapter
    app[OUTBOUND_KEY] = build_outbound(teams, references, auth)
    app[CLOUD_ADAPTER_KEY] = cloud
    auth_on = bool(config.APP_ID)

    async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
        log.error("Teams turn failed: %s", error.__class__.__name__, exc_info=error)
        try:
            await turn_context.send_activity("Something went wrong on okrbot's side; please try again in a moment.")
        except Exception:  # noqa: BLE001 - the connector itself may be what failed
            log.info("could not tell the person about the failure")

    cloud.on_turn_error = on_turn_error

    async def turn(turn_context: TurnContext) -> None:
        await adapter.on_turn(turn_context)

    class _Bot:
        on_turn = staticmethod(turn)

    async def messages(request: web.Request) -> web.StreamResponse:
        if not auth_on and not is_loopback(request):
            log.warning("refused %s %s from a non-loopback client: authentication is off", request.method, ROUTE)
            return web.json_response(
                {"error": "okrbot answers only loopback clients while MICROSOFT_APP_ID is unset"}, status=403
            )
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "send the activity as application/json"}, status=415)
        try:
            await request.json()  # read once (aiohttp keeps the body for the SDK)
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        try:
            response = await cloud.process(request, _Bot())
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - see below
            # Errors inside a turn go to on_turn_error; what escapes is the SDK refusing the
            # request: PermissionError for a bad token, other errors for some (a token signed by
            # an unknown key fails while the key is looked up). Either way: 401, nothing written.
            log.warning("refused an activity: %s", exc.__class__.__name__)
            raise web.HTTPUnauthorized() from None
        return response or web.Response(status=201)

    async def close(_app: web.Application) -> None:
        if isinstance(auth, ReusingAuthentication):
            await auth.close()

    app.router.add_post(ROUTE, messages)
    app.on_cleanup.append(close)
    return f"teams: on at POST {ROUTE}; {describe(teams)}"
