"""Prometheus metrics for ``okrbot serve``: a middleware that times every request, the core's
commands by surface, command and outcome, the delivery outbox by status, and how late sending
runs; ``GET /metrics`` in the text format (prometheus-client).

Each app has its own registry, so two servers in one process (tests) count apart. Delivery
figures are read from the database at scrape time: on PostgreSQL every instance reports the
same shared outbox (aggregate them with ``max``, not ``sum``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from bot.core import INTERNAL_ERROR, Bot, FormReply
from bot.grammar import REGISTRY
from bot.messages import Message
from store.models import Delivery, utcnow

log = logging.getLogger("okrbot.metrics")
COMMAND_WORDS = frozenset(words[0] for words in REGISTRY)
STATUSES = ("pending", "sending", "sent", "failed")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SURFACES: tuple[tuple[str, str], ...] = (
    ("/slack/", "slack"),
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


METRICS_KEY = web.AppKey("metrics", Metrics)


def command_word(text: str) -> str:
    """A command's first word when it is one okrbot knows (never free text: labels stay few)."""
    words = text.split()
    return words[0].lower() if words and words[0].lower() in COMMAND_WORDS else "other"


def surface_of(path: str) -> str:
    if path == "/":
        return "webchat"
    return next((surface for prefix, surface in SURFACES if path.startswith(prefix)), "other")


def _route(request: web.Request) -> str:
    """The route's pattern (``/webchat/{name}``), never the raw path: a bounded set of labels."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def middleware(metrics: Metrics) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):  # type: ignore[no-untyped-def]
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


def outcome_of(message: Message) -> str:
    if not message.is_error:
        return "ok"
    return "failed" if message.text == INTERNAL_ERROR else "refused"


def instrument(bot: Bot, metrics: Metrics) -> None:
    """Count and time every command the core answers, whichever surface asked.

    The core stays free of metrics: its two entry points are wrapped on this one instance."""
    handle, submit_form = bot.handle, bot.submit_form

    async def timed_handle(command):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        message = await handle(command)
        word = command_word(command.text or "help")
        metrics.commands.labels(command.source, word, outcome_of(message)).inc()
        metrics.command_seconds.labels(command.source, word).observe(time.perf_counter() - started)
        return message

    async def timed_submit(command, action: str, values: Mapping[str, str]) -> FormReply:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        reply = await submit_form(command, action, values)
        outcome = "refused" if reply.errors else outcome_of(reply.message)
        word = f"form:{command_word(action)}"
        metrics.commands.labels(command.source, word, outcome).inc()
        metrics.command_seconds.labels(command.source, word).observe(time.perf_counter() - started)
        return reply

    bot.handle = timed_handle  # type: ignore[method-assign]
    bot.submit_form = timed_submit  # type: ignore[method-assign]


async def read_outbox(app: web.Application, metrics: Metrics) -> None:
    """Delivery counts and lag from the database, as of this scrape."""
    from adapters.server import DB_KEY  # the composition root's key (imported here: no cycle)

    if DB_KEY not in app:
        return
    now = utcnow()
    try:
        async with app[DB_KEY].read() as session:
            counts = dict((await session.exec(select(Delivery.status, func.count()).group_by(Delivery.status))).all())  # type: ignore[arg-type]
            oldest = (
                await session.exec(
                    select(func.min(Delivery.next_attempt_at)).where(
                        col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now
                    )
                )
            ).one()
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even with the database away
        metrics.scrape_errors.inc()
        log.warning("metrics: could not read the outbox: %s", exc.__class__.__name__)
        return
    for status in {*STATUSES, *counts}:
        metrics.deliveries.labels(status).set(counts.get(status, 0))
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    metrics.scheduler_lag.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)


async def _watch_loop(metrics: Metrics) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(1.0)
        metrics.loop_lag.set(max(0.0, time.perf_counter() - started - 1.0))


def install(app: web.Application) -> None:
    """Add the request-counting middleware and ``GET /metrics``; count the core's commands."""
    from adapters.server import BOT_KEY

    metrics = Metrics()
    app[METRICS_KEY] = metrics
    app.middlewares.append(middleware(metrics))
    if BOT_KEY in app:
        instrument(app[BOT_KEY], metrics)

    async def scrape(_request: web.Request) -> web.Response:
        await read_outbox(app, metrics)
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
