"""Prometheus metrics for ``okrbot serve``: a middleware that times every request, the core's
commands by surface, command and outcome, the delivery outbox by status, and how late sending
runs; ``GET /metrics`` in the text format (prometheus-client).

Each app has its own registry, so two servers in one process (tests) count apart. The core's
answers arrive through its observer hook (:meth:`bot.core.Bot.observe`), already labelled.
Delivery figures are read from the database at scrape time: on PostgreSQL every instance reports
the same shared outbox (aggregate them with ``max``, not ``sum``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core import Answered, Bot
from store.db import Database
from store.models import utcnow
from store.ops import outbox_figures

log = logging.getLogger("okrbot.metrics")
STATUSES = ("pending", "sending", "sent", "failed")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SURFACES: tuple[tuple[str, str], ...] = (
    ("/slack/", "slack"),
    ("/api/v1/", "api"),
    ("/api/messages", "teams"),
    ("/api/webchat/", "webchat"),
    ("/webchat/", "webchat"),
    ("/healthz", "health"),
    ("/metrics", "metrics"),
)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "okrbot_http_requests",
            "HTTP requests answered.",
            ["surface", "route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "okrbot_http_request_duration_seconds",
            "Time to answer an HTTP request (event streams excluded).",
            ["surface", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commands = Counter(
            "okrbot_commands",
            "Commands and form submissions run by the core, by surface, command and outcome "
            "(ok, refused: the person is told what was wrong, failed: okrbot's side).",
            ["surface", "command", "outcome"],
            registry=registry,
        )
        self.command_seconds = Histogram(
            "okrbot_command_duration_seconds",
            "Time the core took to answer a command.",
            ["surface", "command"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.deliveries = Gauge(
            "okrbot_deliveries", "Rows of the delivery outbox by status.", ["status"], registry=registry
        )
        self.scheduler_lag = Gauge(
            "okrbot_scheduler_lag_seconds",
            "How long the oldest due, unsent delivery has been waiting (0: nothing is late).",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "okrbot_event_loop_lag_seconds",
            "How late the event loop woke for a 1 s timer, last seen.",
            registry=registry,
        )
        self.scrape_errors = Counter(
            "okrbot_metrics_database_errors", "Scrapes that could not read the outbox.", registry=registry
        )

    def count(self, answered: Answered) -> None:
        """One answer of the core: counted by surface, command and outcome, and timed."""
        self.commands.labels(answered.source, answered.command, answered.outcome).inc()
        self.command_seconds.labels(answered.source, answered.command).observe(answered.seconds)


METRICS_KEY = web.AppKey("metrics", Metrics)


def surface_of(path: str) -> str:
    if path == "/":
        return "webchat"
    return next((surface for prefix, surface in SURFACES if path.startswith(prefix)), "other")


def _route(request: web.Request) -> str:
    """The route's pattern (``/webchat/{name}``), never the raw path: a bounded set of labels."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        surface, route = surface_of(request.path), _route(request)
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.requests.labels(surface, route, request.method, str(status)).inc()
            if response is None or response.content_type != "text/event-stream":
                metrics.request_seconds.labels(surface, route).observe(time.perf_counter() - started)

    return count


async def read_outbox(db: Database, metrics: Metrics) -> None:
    """Delivery counts and lag from the database, as of this scrape."""
    now = utcnow()
    try:
        figures = await outbox_figures(db, now=now)
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even with the database away
        metrics.scrape_errors.inc()
        log.warning("metrics: could not read the outbox: %s", exc.__class__.__name__)
        return
    for status in {*STATUSES, *figures.counts}:
        metrics.deliveries.labels(status).set(figures.counts.get(status, 0))
    oldest = figures.oldest_due
    metrics.scheduler_lag.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)


async def _watch_loop(metrics: Metrics) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(1.0)
        metrics.loop_lag.set(max(0.0, time.perf_counter() - started - 1.0))


def install(app: web.Application, *, db: Database, bot: Bot) -> None:
    """Add the request-counting middleware and ``GET /metrics``; count ``bot``'s answers and read
    the outbox of ``db`` at each scrape."""
    metrics = Metrics()
    app[METRICS_KEY] = metrics
    app.middlewares.append(middleware(metrics))
    bot.observe(metrics.count)

    async def scrape(_request: web.Request) -> web.Response:
        await read_outbox(db, metrics)
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    tasks: list[asyncio.Task[None]] = []

    async def start(_app: web.Application) -> None:
        tasks.append(asyncio.create_task(_watch_loop(metrics)))

    async def stop(_app: web.Application) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.router.add_get("/metrics", scrape)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
