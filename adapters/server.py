"""``okrbot serve``: one aiohttp server for every surface (Slack, Teams and the web chat come
with their own issues); for now the health check on the same database as the terminal chat."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import text

from adapters.metrics import install as install_metrics
from adapters.settings import Settings
from adapters.slack.mount import mount as mount_slack
from adapters.teams.mount import mount as mount_teams
from adapters.webchat.mount import mount as mount_webchat
from bot.core import Bot
from store.db import Database, redacted

log = logging.getLogger("okrbot.server")
DB_KEY = web.AppKey("db", Database)
BOT_KEY = web.AppKey("bot", Bot)
SURFACES_KEY = web.AppKey("surfaces", list)


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[DB_KEY].read() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:  # noqa: BLE001 - the answer says the database is down, whatever the cause
        log.warning("health check failed: %s", exc.__class__.__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def build_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    db = Database(settings.database_url)
    app[DB_KEY] = db
    app[BOT_KEY] = Bot(db, timezone=settings.timezone)
    app.router.add_get("/healthz", healthz)
    install_metrics(app)
    app[SURFACES_KEY] = [
        mount_slack(app, settings, app[BOT_KEY]),
        mount_teams(app, settings, app[BOT_KEY]),
        mount_webchat(app, settings, app[BOT_KEY]),
    ]

    async def close(_app: web.Application) -> None:
        await db.dispose()

    app.on_cleanup.append(close)
    return app


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    host, port = host or settings.host, port or settings.port
    log.info("database %s", redacted(settings.database_url))
    app = build_app(settings)
    for line in app[SURFACES_KEY]:
        log.info("%s", line)
    web.run_app(app, host=host, port=port, print=lambda _: log.info("listening on http://%s:%d", host, port))
    return 0
