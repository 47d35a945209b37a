"""``okrbot serve``: one aiohttp server for every surface (Slack, Teams and the web chat come
with their own issues); for now the health check on the same database as the terminal chat."""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web
from aiohttp.log import access_logger
from sqlalchemy import text

from adapters.metrics import install as install_metrics
from adapters.settings import Settings
from adapters.slack.mount import mount as mount_slack
from adapters.teams.mount import mount as mount_teams
from adapters.webchat.mount import OUTBOUND_KEY as WEBCHAT_OUTBOUND_KEY
from adapters.webchat.mount import is_on as webchat_on
from adapters.webchat.mount import mount as mount_webchat
from bot.core import Bot
from bot.outbound import Outbound
from scheduler.dispatch import Dispatcher
from scheduler.service import SchedulerService
from store.db import Database, redacted

log = logging.getLogger("okrbot.server")
DB_KEY = web.AppKey("db", Database)
BOT_KEY = web.AppKey("bot", Bot)
SURFACES_KEY = web.AppKey("surfaces", list)
SCHEDULER_KEY = web.AppKey("scheduler", SchedulerService)
#: After SIGTERM or Ctrl-C: no new connections, this long for requests in flight (Heroku kills at 30 s).
SHUTDOWN_TIMEOUT = 25.0
#: A request whose body has not fully arrived in this many seconds is answered 408 and closed, so a
#: client that sends headers and half a body, then stalls, does not hold a connection for ever.
BODY_TIMEOUT = float(os.environ.get("OKRBOT_BODY_TIMEOUT_SECONDS", "10"))


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[DB_KEY].read() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:  # noqa: BLE001 - the answer says the database is down, whatever the cause
        log.warning("health check failed: %s", exc.__class__.__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


@web.middleware
async def body_in_time(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Read the whole body first, within BODY_TIMEOUT (it is kept for the handler's own read)."""
    if request.body_exists and request.method in ("POST", "PUT", "PATCH"):
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                await request.read()  # 413 past client_max_size, before anything parses it
        except TimeoutError:
            log.warning("%s %s: the body did not arrive in %.0f s", request.method, request.path, BODY_TIMEOUT)
            response = web.Response(status=408, text="The request body did not arrive in time.")
            response.force_close()  # and the connection with it: the rest of the body is not awaited
            return response
    return await handler(request)


def build_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=256 * 1024, middlewares=[body_in_time])
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

    app[SCHEDULER_KEY] = service = scheduler_service(settings, db, outbounds(settings, db, app))

    async def start_scheduler(_app: web.Application) -> None:
        await db.warm()
        await service.start()

    async def close(_app: web.Application) -> None:
        await service.stop()
        await db.dispose()

    app.on_startup.append(start_scheduler)

    app.on_cleanup.append(close)
    return app


def outbounds(settings: Settings, db: Database, app: web.Application | None = None) -> dict[str, Outbound]:
    """The platform → Outbound mapping the scheduler sends with: each surface that is configured."""
    found: dict[str, Outbound] = {}
    if app is not None and WEBCHAT_OUTBOUND_KEY in app:
        found["local"] = app[WEBCHAT_OUTBOUND_KEY]  # into the open web chat pages of this process
    slack = settings.slack
    if slack.bot_token is not None:
        from adapters.slack.outbound import SlackOutbound

        token = slack.bot_token.get_secret_value()

        async def token_for(_workspace: object) -> str | None:
            return token  # single workspace: one bot token

        found["slack"] = SlackOutbound(slack.api_url, token_for)  # type: ignore[assignment]
    try:
        from adapters.teams.mount import OUTBOUND_KEY
    except ImportError:
        return found
    if app is not None and OUTBOUND_KEY in app:
        found["teams"] = app[OUTBOUND_KEY]  # type: ignore[assignment]
    elif settings.teams.app_id:
        from adapters.teams.auth import authentication, sdk_config
        from adapters.teams.outbound import TeamsOutbound
        from adapters.teams.references import References

        config = sdk_config(settings.teams)
        references = References(db, timezone=settings.timezone)
        found["teams"] = TeamsOutbound(authentication(settings.teams), references, app_id=config.APP_ID)  # type: ignore[assignment]
    return found


def scheduler_service(settings: Settings, db: Database, senders: dict[str, Outbound]) -> SchedulerService:
    """Prompts, reminders and digests on the schedule table; sending through ``senders``."""
    import datetime as dt
    import os

    grace = float(os.environ.get("OKRBOT_MISFIRE_GRACE_HOURS", "6"))
    workers = int(os.environ.get("OKRBOT_DISPATCH_WORKERS", "4"))
    # how long a claimed message waits before another instance presumes its sender dead and sends it
    lease = float(os.environ.get("OKRBOT_DISPATCH_LEASE_SECONDS", "600"))
    dispatcher = Dispatcher(db, senders, lease=lease)
    return SchedulerService(db, dispatcher, grace=dt.timedelta(hours=grace), workers=workers)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    host, port = host or settings.host, port or settings.port
    log.info("database %s", redacted(settings.database_url))
    app = build_app(settings)
    for line in app[SURFACES_KEY]:
        log.info("%s", line)
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=access_logger if settings.access_log else None,
        print=lambda _: _ready(app, host, port),
    )
    return 0


def _ready(app: web.Application, host: str, port: int) -> None:
    log.info("listening on http://%s:%d", host, port)
    if webchat_on(app):  # the one line a person trying okrbot needs, on standard output
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        print(f"okrbot is ready: open http://{shown}:{port}/ in your browser (Ctrl-C stops it).", flush=True)
