"""The core's own cost: check-ins per second and read latency through ``Bot.handle``.

Everything a surface does ends in ``Bot.handle``, so this is the floor under every Slack,
Teams or terminal request: parsing, one transaction, rendering the neutral reply.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.pg import fresh_database
from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from store.db import Database
from store.migrate import upgrade_async

KRS = 20


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    errors: int

    def row(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies)

        def pct(p: float) -> float:
            return ms[min(len(ms) - 1, int(p * len(ms)))] if ms else float("nan")

        return (
            f"| {self.name} | {self.count} | {self.count / self.seconds:,.0f}/s | "
            f"{pct(0.50):.1f} | {pct(0.95):.1f} | {pct(0.99):.1f} | {ms[-1] if ms else float('nan'):.0f} | "
            f"{self.errors} | |"
        )


def _command(user: str, text: str) -> Command:
    return Command(WorkspaceRef("local", "bench", "bench"), Actor(user, user), text, source="bench")


async def _seed(bot: Bot) -> None:
    await bot.handle(_command("lead", 'team add core "Core"'))
    await bot.handle(_command("lead", 'objective add "Fast check-ins" --team core'))
    for n in range(KRS):
        await bot.handle(_command("lead", f'kr add O-1 "Key result {n}" --target 1000'))


async def _load(bot: Bot, name: str, texts: list[str], writers: int) -> Result:
    queue = list(enumerate(texts))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            _, text = queue.pop()
            started = time.perf_counter()
            reply = await bot.handle(_command("lead", text))
            latencies.append(time.perf_counter() - started)
            errors += reply.is_error

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(writers)))
    return Result(name, len(texts), time.perf_counter() - started, latencies, errors)


async def run_backend(label: str, url: str, quick: bool) -> list[Result]:
    await upgrade_async(url)
    db = Database(url)
    bot = Bot(db)
    try:
        await _seed(bot)
        total = 300 if quick else 2000
        results = []
        for writers in (1, 10, 50):
            texts = [f"checkin KR-{i % KRS + 1} {i % 1000} 7 bench note" for i in range(total)]
            results.append(await _load(bot, f"{label} checkin, {writers} writers", texts, writers))
        reads = ["list all"] * (total // 4)
        results.append(await _load(bot, f"{label} list all (20 KRs), 10 readers", reads, 10))
        return results
    finally:
        await db.dispose()


async def run(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        results = await run_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", quick)
    pg = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
    if pg:
        url, drop = await fresh_database(pg)
        try:
            results += await run_backend("PostgreSQL", url, quick)
        finally:
            await drop()
    return results
