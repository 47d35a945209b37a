"""One person's commands, one after another, through ``Bot.handle`` on SQLite: the latency a
single check-in costs when nothing else is happening, and a read's cost kept and not kept.
``python -m bench.sequential``.

A read of ``list`` or ``show`` repeated with no write in between is answered with the reply the
core kept (bot/cache.py); "after a write" times the same read right after a check-in, when it is
built again from the database.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

from bench.core import _command, _seed
from bot.core import Bot
from store.db import Database
from store.migrate import upgrade_async

CALLS = 300


async def timed(bot: Bot, text: str) -> float:
    started = time.perf_counter()
    reply = await bot.handle(_command("lead", text))
    elapsed = time.perf_counter() - started
    assert not reply.is_error, reply.text
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/sequential.db"
        await upgrade_async(url)
        db = Database(url)
        bot = Bot(db)
        try:
            await _seed(bot)
            rows: list[tuple[str, list[float]]] = []
            rows.append(("checkin", [await timed(bot, f"checkin KR-{i % 20 + 1} {i} 7 note") for i in range(CALLS)]))
            for read in ("list mine", "show KR-{k}"):
                kept, fresh = [], []
                for i in range(CALLS):
                    text = read.format(k=i % 20 + 1)
                    await timed(bot, f"checkin KR-{i % 20 + 1} {i} 7 note")
                    fresh.append(await timed(bot, text))  # built again: the workspace was just written
                    kept.append(await timed(bot, text))  # the same read, nothing written since
                rows += [(f"{read.format(k='n')}, after a write", fresh), (f"{read.format(k='n')}, kept", kept)]
            for name, times in rows:
                print(f"{name}: median {statistics.median(times) * 1000:.2f} ms over {len(times)} calls")
        finally:
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
