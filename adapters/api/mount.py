"""The HTTP API, ``/api/v1``: key results, objectives and digests read, check-ins posted.

JSON in and out, ``Authorization: Bearer okr_…`` (a token from ``token add``), errors as
``application/problem+json`` (RFC 9457) whose ``detail`` is the sentence the chat would give.
Each route is one row of :data:`ROUTES` (routes.py), which is also what ``GET /api/v1/openapi.json`` is
built from (adapters/api/openapi.py), with the models of bot/api.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

from adapters.api.openapi import document
from adapters.api.routes import PREFIX, ROUTES, Problem, Route
from adapters.settings import ApiSettings
from bot import api
from bot.context import Ctx
from bot.core import INTERNAL_ERROR, Bot
from bot.errors import Forbidden, NotFound, UserError

log = logging.getLogger("okrbot.api")
PROBLEM = "application/problem+json"
_BEARER = re.compile(r"Bearer +(\S+)", re.IGNORECASE)
_TOKEN = re.compile(r"okr_[A-Za-z0-9_-]{32,100}")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # an Idempotency-Key: printable ASCII, no spaces
_REFS = {"KR": re.compile(r"KR-(\d{1,9})", re.IGNORECASE), "O": re.compile(r"O-(\d{1,9})", re.IGNORECASE)}
_BUCKETS = 10_000  # tokens' rate-limit buckets kept (the least recently used go first)


class RateLimit:
    """A token bucket per API token: ``rate`` a second, bursts of twice that, on this instance."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, max(1.0, 2 * rate), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, when)

    def wait(self, key: str) -> float:
        """0 when a request may go now (and it is counted), else the seconds until one may."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1 if not wait else tokens, now)
        if len(self._buckets) > _BUCKETS:
            self._buckets.popitem(last=False)
        return wait


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    title = web.Response(status=status).reason or "Error"
    body = Problem(title=title, status=status, detail=detail).model_dump_json()
    return web.Response(status=status, text=body, content_type=PROBLEM, headers=headers)


class Api:
    def __init__(self, bot: Bot, settings: ApiSettings) -> None:
        self.bot = bot
        self.limit = RateLimit(settings.rate)

    def handler(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                caller = await self._caller(request)
                response = await self._answer(route, request, caller)
                await api.mark_used(
                    self.bot.db, caller, self.bot.clock()
                )  # only once it answered: errors write nothing
                return response
            except Refused as exc:
                return problem(exc.status, exc.detail, exc.headers)
            except api.ApiError as exc:
                return problem(exc.status, exc.sentence)
            except UserError as exc:
                return problem(_status_of(exc), exc.sentence)
            except Exception:
                log.exception("API %s %s failed", route.method, route.path)
                return problem(500, INTERNAL_ERROR)

        return handle

    async def _caller(self, request: web.Request) -> api.Caller:
        header = request.headers.get("Authorization", "")
        if not header:
            raise Refused(401, "This needs a token: send Authorization: Bearer okr_… (an admin makes one with "
                          "token add <name>).", {"WWW-Authenticate": 'Bearer realm="okrbot"'})  # fmt: skip
        match = _BEARER.fullmatch(header.strip())
        invalid = {"WWW-Authenticate": 'Bearer realm="okrbot", error="invalid_token"'}
        if match is None or not _TOKEN.fullmatch(match.group(1)):
            raise Refused(401, "The Authorization header must be Bearer followed by a token like okr_….", invalid)
        token = match.group(1)
        wait = self.limit.wait(api.token_digest(token))
        if wait:
            raise Refused(
                429,
                f"Too many requests with this token: at most {self.limit.rate:g} a second; try again in a moment.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        caller = await api.authenticate(self.bot.db, token)
        if caller is None:
            raise Refused(401, "This token is not valid: it was revoked, or never made here.", invalid)
        return caller

    async def _answer(self, route: Route, request: web.Request, caller: api.Caller) -> web.StreamResponse:
        number = _number(route, request.match_info.get("ref", "")) if route.ref else 0
        query = api.filters(route.query, request.query) if route.query else None
        if route.body is None:
            if set(request.query) and route.query is None:
                raise Refused(400, f'"{next(iter(request.query))[:40]}" is not a filter here; this route has none.')
            result = await self.bot.call(caller.command, _reader(route, number, query))
            return _json(200, result.model_dump_json())
        raw = await request.read()
        body = api.check_in_body(raw)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _KEY.fullmatch(key):
            raise Refused(400, "An Idempotency-Key is 1 to 255 printable characters without spaces, like a UUID.")
        fingerprint = hashlib.sha256(b"\n".join((route.method.encode(), request.path.encode(), raw))).hexdigest()

        async def write(ctx: Ctx) -> api.Answer:
            return await api.check_in(ctx, caller, number, body, key=key, fingerprint=fingerprint)

        single = key is None  # its audit entry goes with the check-in's statement; a kept answer is one more
        answer = await self.bot.call(caller.command, write, writes=True, single=single)
        headers = {"Location": f"{PREFIX}/key-results/KR-{number}"}
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        return _json(answer.status, answer.body, headers)


async def _elsewhere(request: web.Request) -> web.Response:
    """Any other path or method under the prefix."""
    routes = "; ".join(f"{r.method} {PREFIX}{r.path}" for r in ROUTES)
    return problem(404, f"There is no {request.method} {request.path[:80]} here; the routes are {routes}.")


API_KEY = web.AppKey("api", Api)


def _reader(route: Route, number: int, query: BaseModel | None) -> Callable[[Ctx], Awaitable[BaseModel]]:
    readers: dict[str, Callable[[Ctx], Awaitable[BaseModel]]] = {
        "/key-results": lambda ctx: api.key_results(ctx, query),  # type: ignore[arg-type]
        "/key-results/{ref}": lambda ctx: api.key_result(ctx, number),
        "/objectives": lambda ctx: api.objectives(ctx, query),  # type: ignore[arg-type]
        "/objectives/{ref}": lambda ctx: api.objective(ctx, number),
        "/digest": lambda ctx: api.digest(ctx, query),  # type: ignore[arg-type]
    }
    return readers[route.path]


def _number(route: Route, ref: str) -> int:
    match = _REFS[route.ref].fullmatch(ref)
    if match is None:
        what = "key result" if route.ref == "KR" else "objective"
        raise Refused(404, f'There is no {what} "{ref[:40]}": refs look like {route.ref}-7.')
    return int(match.group(1))


def _status_of(exc: UserError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    return 422


def _json(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def mount(app: web.Application, settings: ApiSettings, bot: Bot) -> str:
    """Add ``/api/v1``; return the start-up log line."""
    app[API_KEY] = surface = Api(bot, settings)
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, surface.handler(route))
    text = json.dumps(document(ROUTES, Problem), indent=1)

    async def openapi(_request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    app.router.add_get(PREFIX + "/openapi.json", openapi)
    app.router.add_route("*", PREFIX + "/{tail:.*}", _elsewhere)
    return f"api: on at {PREFIX} ({len(ROUTES)} routes, at most {settings.rate:g} requests a second per token)"
