"""Wires the web chat into ``okrbot serve``: the page at ``/``, its JSON API and its event stream.

On when no Slack or Teams credentials are set (or ``OKRBOT_WEBCHAT=on``, ``serve --webchat``).
It has no login, so it answers only clients on this machine, asking for this machine by name
(a DNS-rebinding page cannot borrow a browser on loopback), unless ``OKRBOT_WEBCHAT_PUBLIC=true``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.settings import WebChatSettings
from adapters.webchat.adapter import BadRequest, WebChatAdapter
from adapters.webchat.hub import Hub, WebChatOutbound
from bot.core import Bot

log = logging.getLogger("okrbot.webchat")
STATIC = Path(__file__).with_name("static")
FILES = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WEBCHAT_KEY = web.AppKey("webchat", WebChatAdapter)
#: The Outbound Protocol for platform "local" (bot.outbound.Outbound), for the scheduler to send with.
OUTBOUND_KEY = web.AppKey("webchat_outbound", WebChatOutbound)
HUB_KEY = web.AppKey("webchat_hub", Hub)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_local(request: web.Request) -> bool:
    """A client on this machine, not relayed by a proxy, that asked for this machine by name."""
    if any(name in request.headers for name in ("Forwarded", "X-Forwarded-For", "X-Real-IP")):
        return False
    try:
        if not ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback:
            return False
    except ValueError:
        return False
    host = (request.url.host or "").strip("[]").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def _guard(handler: Handler, *, public: bool) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not public and not is_local(request):
            log.warning("webchat: refused %s %s from a client that is not this machine", request.method, request.path)
            return web.Response(
                status=403,
                text="okrbot's web chat has no login, so it answers only on this machine "
                "(open http://127.0.0.1:<port>/ there). To open it to every client, set OKRBOT_WEBCHAT_PUBLIC=true.",
            )
        return await handler(request)

    return guarded


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="Send application/json.")
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="The web chat takes requests from its own page only.")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The body is not JSON.") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object.")
    return body


def _answer(call: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        try:
            return web.json_response(await call(body))
        except BadRequest as exc:
            return web.json_response({"error": exc.sentence}, status=400)

    return handler


def _routes(adapter: WebChatAdapter, hub: Hub) -> list[tuple[str, str, Handler]]:
    async def page(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=_page_headers())

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": FILES[name], "Cache-Control": "no-cache"})

    async def workspace(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await adapter.workspace(request.query.get("workspace", "")))
        except BadRequest as exc:
            return web.json_response({"error": exc.sentence}, status=400)

    async def events(request: web.Request) -> web.StreamResponse:
        return await _events(request, adapter, hub)

    return [
        ("GET", "/", page),
        ("GET", "/webchat/{name}", static),
        ("GET", "/api/webchat/workspace", workspace),
        ("POST", "/api/webchat/command", _answer(adapter.run)),
        ("POST", "/api/webchat/form", _answer(adapter.submit)),
        ("GET", "/api/webchat/events", events),
    ]


def _page_headers() -> dict[str, str]:
    # Scripts and styles from this server only; images may be data: URIs (the charts).
    policy = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


async def _events(request: web.Request, adapter: WebChatAdapter, hub: Hub) -> web.StreamResponse:
    """Server-sent events for one page: pushes to this person and posts in the channel."""
    try:
        body = {"workspace": request.query.get("workspace"), "user": request.query.get("user"), "pane": "direct"}
        command = adapter.command(body, "")
    except BadRequest as exc:
        return web.json_response({"error": exc.sentence}, status=400)
    last = request.headers.get("Last-Event-ID") or request.query.get("after")
    after = int(last) if last and last.isdigit() else None
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n: connected\n\n")
    try:
        async for event in hub.listen(command.workspace.external_id, command.actor.external_id, after=after):
            await response.write(b": alive\n\n" if event is None else event.sse())
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    return response


def mount(app: web.Application, webchat: WebChatSettings, bot: Bot, *, platform_configured: bool) -> str:
    """Add the web chat's routes when it is on; return the start-up log line.

    ``platform_configured``: Slack or Teams credentials are set, which keeps ``auto`` off."""
    if webchat.mode == "off" or (webchat.mode == "auto" and platform_configured):
        why = "OKRBOT_WEBCHAT=off" if webchat.mode == "off" else "Slack or Teams is configured"
        return f"webchat: off ({why}; OKRBOT_WEBCHAT=on or `okrbot serve --webchat` turns it on)"
    hub = Hub()
    adapter = WebChatAdapter(bot, hub)
    app[HUB_KEY] = hub
    app[WEBCHAT_KEY] = adapter
    app[OUTBOUND_KEY] = WebChatOutbound(hub)
    for method, path, handler in _routes(adapter, hub):
        app.router.add_route(method, path, _guard(handler, public=webchat.public))

    async def close_streams(_app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close_streams)
    why = "OKRBOT_WEBCHAT=on" if webchat.mode == "on" else "no Slack or Teams credentials are set"
    who = "every client (OKRBOT_WEBCHAT_PUBLIC=true; it has no login)" if webchat.public else "this machine only"
    return f"webchat: on at GET / ({why}); answers {who}"


def is_on(app: web.Application) -> bool:
    return WEBCHAT_KEY in app
