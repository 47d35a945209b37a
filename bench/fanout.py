"""A 10,000-owner prompt fan-out through a loopback fake Slack API that enforces a rate limit.

The fake answers ``chat.postMessage`` at most ``rate`` times a second per workspace and answers
HTTP 429 with ``Retry-After`` above it; okrbot's dispatchers (the real outbox, the real
``SlackOutbound`` on slack_sdk) pace themselves to that rate. Reported: achieved rate ÷ allowed
rate, messages lost (an owner never prompted) and duplicated (an owner prompted twice), on SQLite
and, when ``OKRBOT_TEST_POSTGRES_URL`` is set, PostgreSQL.

    python -m bench.fanout [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from adapters.slack.outbound import SlackOutbound
from bench.pg import fresh_database
from bot.command import WorkspaceRef
from scheduler.dispatch import Dispatcher
from scheduler.pacing import Limit, Pacer, PlatformLimits
from scheduler.runs import run_prompts
from store.db import Database
from store.migrate import upgrade_async
from store.models import Cycle, Delivery, KeyResult, Member, Objective, Schedule, Team, Workspace

TOKEN = "xoxb-bench"


@dataclass
class FanoutResult:
    backend: str
    owners: int
    allowed: float
    queue_seconds: float
    send_seconds: float
    delivered: int
    lost: int
    duplicated: int
    throttled: int

    def row(self) -> str:
        achieved = self.delivered / self.send_seconds if self.send_seconds else 0.0
        return (
            f"| fan-out {self.backend} | {self.owners} | {self.queue_seconds:.1f} s | {achieved:,.1f}/s | "
            f"{self.allowed:,.0f}/s | {achieved / self.allowed:.2f} | {self.lost} | {self.duplicated} | {self.throttled} |"
        )


HEADER = (
    "| benchmark | prompts | queueing | achieved | allowed | achieved ÷ allowed | lost | duplicated | 429s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


class RateLimitedSlack:
    """conversations.open and chat.postMessage; the latter limited per workspace, 429 above it."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, time.monotonic()
        self.posts: Counter[str] = Counter()
        self.throttled = 0
        self.server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return f"http://127.0.0.1:{self.server.port}/api/"

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = dict(request.query)
        if request.content_type == "application/json":
            form.update(await request.json())
        else:
            form.update({k: str(v) for k, v in (await request.post()).items()})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + str(form.get("users", ""))}})
        if method != "chat.postMessage":
            return web.json_response({"ok": False, "error": "unknown_method"})
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            self.throttled += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        self.tokens -= 1
        self.posts[str(form.get("channel"))] += 1
        return web.json_response({"ok": True, "channel": form.get("channel"), "ts": f"{now:.6f}"})


async def _seed(db: Database, owners: int) -> Schedule:
    """One Slack workspace, one team, ``owners`` people each owning one key result."""
    today = dt.datetime.now(dt.UTC).date()
    async with db.write() as session:
        workspace = Workspace(platform="slack", external_id="T1", name="Bench")
        session.add(workspace)
        await session.flush()
        ws = workspace.id
        assert ws is not None
        lead = Member(workspace_id=ws, external_id="ULEAD", display_name="Lead")
        team = Team(workspace_id=ws, key="all", name="Everyone")
        cycle = Cycle(workspace_id=ws, name="bench", starts_on=today - dt.timedelta(days=30),
                      ends_on=today + dt.timedelta(days=60))  # fmt: skip
        session.add_all([lead, team, cycle])
        await session.flush()
        objective = Objective(workspace_id=ws, number=1, title="Everyone checks in", team_id=team.id,  # type: ignore[arg-type]
                              owner_id=lead.id, cycle_id=cycle.id)  # type: ignore[arg-type]  # fmt: skip
        members = [Member(workspace_id=ws, external_id=f"U{i:06d}", display_name=f"Person {i}") for i in range(owners)]
        session.add_all([objective, *members])
        await session.flush()
        session.add_all(
            [KeyResult(workspace_id=ws, number=i + 1, objective_id=objective.id, title=f"Result {i}",  # type: ignore[arg-type]
                       owner_id=m.id, target=100.0, current=float(i % 100))  # type: ignore[arg-type]
             for i, m in enumerate(members)]
        )  # fmt: skip
        schedule = Schedule(workspace_id=ws, team_id=team.id, what="checkin", weekday=today.weekday(), time="00:00",
                            timezone="UTC")  # fmt: skip
        session.add(schedule)
    return schedule


async def fanout(backend: str, url: str, owners: int, rate: float) -> FanoutResult:
    await upgrade_async(url)
    db = Database(url)
    fake = RateLimitedSlack(rate, burst=max(1.0, rate / 10))
    try:
        schedule = await _seed(db, owners)
        api = await fake.start()

        async def token_for(_workspace: WorkspaceRef) -> str | None:
            return TOKEN

        # okrbot is told the platform's limit with a little headroom: a token taken here reaches the
        # platform a moment later, after conversations.open, so bursts arrive a little compressed.
        limits = {"slack": PlatformLimits(Limit(1.0, 1.0), Limit(rate * 0.99, max(1.0, rate / 20)))}
        dispatcher = Dispatcher(db, {"slack": SlackOutbound(api, token_for)}, pacer=Pacer(limits), batch=8)  # type: ignore[dict-item]
        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        queued = await run_prompts(db, schedule, now, timezone=None, now=now)
        assert queued == owners, queued
        queue_seconds = time.perf_counter() - started
        started = time.perf_counter()
        budget = owners / rate * 3 + 60  # bounded in time, and each drain in rounds
        while time.perf_counter() - started < budget and await _unsent(db):
            await dispatcher.drain(workers=8, seconds=budget)
            await asyncio.sleep(0.2)  # rows put back for a moment (pacing, Retry-After) come due
        send_seconds = time.perf_counter() - started
    finally:
        await fake.close()
        await db.dispose()
    delivered = sum(fake.posts.values())
    return FanoutResult(
        backend=backend, owners=owners, allowed=rate, queue_seconds=queue_seconds, send_seconds=send_seconds,
        delivered=delivered, lost=owners - len(fake.posts), duplicated=delivered - len(fake.posts),
        throttled=fake.throttled,
    )  # fmt: skip


async def _unsent(db: Database) -> int:
    async with db.read() as session:
        rows = await session.exec(select(Delivery.id).where(col(Delivery.status).in_(("pending", "sending"))))
        return len(rows.all())


async def _postgres() -> tuple[str, object] | None:
    base = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
    if not base:
        return None
    return await fresh_database(base)


async def run(quick: bool) -> list[FanoutResult]:
    owners, rate = (1000, 100.0) if quick else (10_000, 100.0)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(await fanout("SQLite", f"sqlite:///{Path(folder) / 'fanout.db'}", owners, rate))
    postgres = await _postgres()
    if postgres is not None:
        url, drop = postgres
        try:
            results.append(await fanout("PostgreSQL", url, owners, rate))
        finally:
            await drop()  # type: ignore[operator]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--quick", action="store_true", help="1,000 prompts instead of 10,000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(HEADER)
    for result in asyncio.run(run(args.quick)):
        print(result.row())


if __name__ == "__main__":
    main()
