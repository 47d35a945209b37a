"""Load through the real server (`okrbot serve` as a subprocess, the web chat's HTTP API):
50 concurrent check-ins on one key result on SQLite and PostgreSQL, and a soak of mixed commands
at concurrency 20 with zero errors and flat memory.

The soak lasts ``OKRBOT_SOAK_SECONDS`` (default 20 s so CI stays quick; 60 for the full run).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

import aiohttp
from harness import Serve, webchat, webchat_env, with_password
from sqlalchemy import text

from bot.core import INTERNAL_ERROR
from store.db import Database

CONCURRENT = 50
SOAK_SECONDS = float(os.environ.get("OKRBOT_SOAK_SECONDS", "20"))
SOAK_CONCURRENCY = 20


async def setup(http: aiohttp.ClientSession, base: str, krs: int = 1) -> None:
    for line in ['team add growth "Growth"', 'objective add "Grow" --team growth',
                 *(f'kr add O-1 "Users {i}" --target 100' for i in range(1, krs + 1))]:  # fmt: skip
        reply = await webchat(http, base, "alice", line)
        assert not reply["error"], reply


async def test_50_concurrent_check_ins_on_one_key_result(db_url: str, tmp_path) -> None:
    url = db_url if db_url.startswith("sqlite") else with_password(db_url)
    serve = await Serve(webchat_env(url), tmp_path).start()
    try:
        async with aiohttp.ClientSession() as http:
            await setup(http, serve.base)
            replies = await asyncio.gather(
                *(webchat(http, serve.base, "alice", f"checkin KR-1 {i} 7 note {i}") for i in range(1, CONCURRENT + 1))
            )
    finally:
        output = await serve.stop()
    assert [r for r in replies if r["error"] or r["status"] != 200] == []
    assert "database is locked" not in output.lower()
    db = Database(db_url)
    try:
        async with db.read() as session:
            history = (await session.exec(text("SELECT value FROM check_in ORDER BY created_at, id"))).all()  # type: ignore[call-overload]
            current = (await session.exec(text("SELECT current FROM key_result"))).one()[0]  # type: ignore[call-overload]
    finally:
        await db.dispose()
    assert sorted(float(v[0]) for v in history) == [float(i) for i in range(1, CONCURRENT + 1)]  # all 50 kept
    assert float(current) == float(history[-1][0])  # the value last written, not one overwritten by an older


MIX = [
    "list all", "list mine", "show KR-{kr}", "show O-1", "tree", "team list", "checkin KR-{kr} {value} {conf} soak",
    "checkin KR-{kr} {value}", "schedule list", "help checkin", "export json", "capability list", "cycle list",
    "checkin KR-{kr} nope",  # a user error: one sentence back, not a failure
]  # fmt: skip


async def test_soak_of_mixed_commands_at_concurrency_20(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    serve = await Serve(webchat_env(url), tmp_path).start()
    rng = random.Random(9)
    done: list[dict] = []
    failures: list[tuple[str, dict]] = []
    samples: list[tuple[float, int]] = []
    try:
        async with aiohttp.ClientSession() as http:
            await setup(http, serve.base, krs=5)
            started = time.monotonic()
            end = started + SOAK_SECONDS

            async def user(n: int) -> None:
                name = f"user{n}" if n else "alice"
                for _ in itertools.count():  # bounded by time: ``end``
                    if time.monotonic() >= end:
                        return
                    line = rng.choice(MIX).format(
                        kr=rng.randint(1, 5), value=rng.randint(0, 100), conf=rng.randint(0, 10)
                    )
                    # the admin may check in on any key result; the others read
                    name_used = "alice" if line.startswith("checkin") and "nope" not in line else name
                    reply = await webchat(http, serve.base, name_used, line)
                    done.append(reply)
                    bad = reply["status"] != 200 or INTERNAL_ERROR in reply["text"]
                    bad = bad or (reply["error"] and "nope" not in line)
                    if bad:
                        failures.append((line, reply))

            async def sample() -> None:
                while time.monotonic() < end:  # bounded by time
                    samples.append((time.monotonic() - started, serve.rss_kib()))
                    await asyncio.sleep(1)

            await asyncio.gather(sample(), *(user(n) for n in range(SOAK_CONCURRENCY)))
    finally:
        output = await serve.stop()
    assert failures == [], failures[:5]
    assert "Traceback" not in output, output[-3000:]
    warm = [kib for at, kib in samples if at >= SOAK_SECONDS / 3]
    growth_mib = (warm[-1] - warm[0]) / 1024
    rate = len(done) / SOAK_SECONDS
    print(f"soak {SOAK_SECONDS:.0f} s at concurrency {SOAK_CONCURRENCY}: {len(done)} commands ({rate:.0f}/s), "
          f"0 errors, RSS {warm[0] // 1024} → {warm[-1] // 1024} MiB after warm-up")  # fmt: skip
    assert growth_mib <= max(16.0, warm[0] / 1024 * 0.15), samples
