"""One person's commands, one after another, through ``Bot.handle`` on SQLite: the latency a
single check-in costs when nothing else is happening. ``python -m bench.sequential``."""

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


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/sequential.db"
        await upgrade_async(url)
        db = Database(url)
        bot = Bot(db)
        try:
            await _seed(bot)
            for name, text in (
                ("checkin", "checkin KR-{k} {i} 7 note"),
                ("list mine", "list mine"),
                ("show", "show KR-{k}"),
            ):
                times = []
                for i in range(CALLS):
                    started = time.perf_counter()
                    reply = await bot.handle(_command("lead", text.format(k=i % 20 + 1, i=i)))
                    times.append(time.perf_counter() - started)
                    assert not reply.is_error, reply.text
                print(f"{name}: median {statistics.median(times) * 1000:.2f} ms over {CALLS} calls")
        finally:
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
