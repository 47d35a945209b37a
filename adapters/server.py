"""``okrbot serve``: the composition root of the server. One aiohttp app for every surface
(Slack, Teams, the web chat), ``/healthz`` and ``/metrics``, and the scheduler in the same process,
all on one database; each surface gets only its part of the settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web
from aiohttp.log import access_logger
from aiohttp.typedefs import Handler, Middleware

from adapters.api.mount import mount as mount_api
from adapters.metrics import install as install_metrics
from adapters.settings import SchedulerSettings, Settings
from adapters.slack.mount import OUTBOUND_KEY as SLACK_OUTBOUND_KEY
from adapters.slack.mount import mount as mount_slack
from adapters.slack.mount import token_outbound
from adapters.teams.mount import OUTBOUND_KEY as TEAMS_OUTBOUND_KEY
from adapters.teams.mount import build_outbound as teams_outbound
from adapters.teams.mount import mount as mount_teams
from adapters.teams.references import References
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


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[DB_KEY].ping()
    except Exception as exc:  # noqa: BLE001 - the answer says the database is down, whatever the cause
        log.warning("health check failed: %s", exc.__class__.__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def body_in_time(timeout: float) -> Middleware:
    """A middleware that reads the whole body first, within ``timeout`` seconds (the body is kept
    for the handler's own read): a client that stalls halfway is answered 408 and let go."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and request.method in ("POST", "PUT", "PATCH"):
            try:
                async with asyncio.timeout(timeout):
                    await request.read()  # 413 past client_max_size, before anything parses it
            except TimeoutError:
                log.warning("%s %s: the body did not arrive in %.0f s", request.method, request.path, timeout)
                response = web.Response(status=408, text="The request body did not arrive in time.")
                response.force_close()  # and the connection with it: the rest of the body is not awaited
                return response
        return await handler(request)

    return read_body


def build_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=256 * 1024, middlewares=[body_in_time(settings.body_timeout_seconds)])
    db = Database(settings.database_url, pool=settings.database_pool)
    app[DB_KEY] = db
    app[BOT_KEY] = bot = Bot(db, timezone=settings.timezone)
    app.router.add_get("/healthz", healthz)
    install_metrics(app, db=db, bot=bot)
    app[SURFACES_KEY] = [
        mount_slack(app, settings.slack, bot, settings.secret_box()),
        mount_teams(app, settings.teams, bot),
        mount_webchat(app, settings.webchat, bot, platform_configured=settings.platform_configured),
        mount_api(app, settings.api, bot),
    ]

    app[SCHEDULER_KEY] = service = scheduler_service(settings.scheduler, db, outbounds(settings, db, app))

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
    """The platform → Outbound mapping the scheduler sends with: each surface that is configured.

    With ``app``, the outbounds its surfaces mounted; without (``okrbot send``), built here."""
    found: dict[str, Outbound] = {}
    if app is not None and WEBCHAT_OUTBOUND_KEY in app:
        found["local"] = app[WEBCHAT_OUTBOUND_KEY]  # into the open web chat pages of this process
    if app is not None and SLACK_OUTBOUND_KEY in app:
        found["slack"] = app[SLACK_OUTBOUND_KEY]  # type: ignore[assignment]  # one token, or each installation's
    elif (slack := token_outbound(settings.slack)) is not None:
        found["slack"] = slack  # type: ignore[assignment]
    if app is not None and TEAMS_OUTBOUND_KEY in app:
        found["teams"] = app[TEAMS_OUTBOUND_KEY]  # type: ignore[assignment]
    elif settings.teams.app_id:
        found["teams"] = teams_outbound(settings.teams, References(db, timezone=settings.timezone))  # type: ignore[assignment]
    return found


def scheduler_service(settings: SchedulerSettings, db: Database, senders: dict[str, Outbound]) -> SchedulerService:
    """Prompts, reminders and digests on the schedule table; sending through ``senders``."""
    dispatcher = Dispatcher(db, senders, lease=settings.dispatch_lease_seconds)
    return SchedulerService(
        db, dispatcher, grace=dt.timedelta(hours=settings.misfire_grace_hours), workers=settings.dispatch_workers
    )


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
