"""`kill -9` of `okrbot serve` in the middle of a prompt fan-out to the (fake) Slack API, then a
restart: every owner is prompted, and duplicates stay within scheduler/dispatch.py's guarantee
(at most one per dispatcher that died, i.e. per sending task of the killed process).

The fan-out size is ``OKRBOT_FANOUT_PROMPTS`` (default 300: Slack's documented pace of 10
messages a second per workspace makes 1,000 take 100 s; set it to 1000 for the full run).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

from fakes.slack_api import FakeSlack
from harness import SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, Serve, seed_owners
from sqlmodel import select

from store.db import Database
from store.migrate import upgrade_async
from store.models import Delivery

PROMPTS = int(os.environ.get("OKRBOT_FANOUT_PROMPTS", "300"))
WORKERS = 4
LEASE = 12  # seconds; both runs use it, so the dead run's claims lapse quickly


def prompted(fake: FakeSlack) -> Counter[str]:
    return Counter(
        c.args["channel"] for c in fake.of("chat.postMessage") if str(c.args.get("channel", "")).startswith("DU")
    )


async def test_kill_9_mid_fan_out_then_restart_delivers_every_prompt(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await upgrade_async(url)
    await seed_owners(url, PROMPTS)
    fake = await FakeSlack().start()
    serve = Serve(
        {"OKRBOT_DATABASE_URL": url, "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
         "OKRBOT_SLACK_API_URL": fake.api_url, "OKRBOT_DISPATCH_WORKERS": str(WORKERS),
         "OKRBOT_DISPATCH_LEASE_SECONDS": str(LEASE)},
        tmp_path,
    )  # fmt: skip
    try:
        await serve.start()
        deadline = time.monotonic() + 120
        while sum(prompted(fake).values()) < PROMPTS // 3:  # bounded: two minutes
            assert time.monotonic() < deadline, f"the fan-out did not start: {serve.output()[-2000:]}"
            await asyncio.sleep(0.05)
        await serve.kill()  # mid fan-out: claims held, messages in flight
        before = sum(prompted(fake).values())
        assert before < PROMPTS, "the fan-out finished before the kill; raise OKRBOT_FANOUT_PROMPTS"

        await serve.start()  # same database, same port: a supervisor's restart
        deadline = time.monotonic() + PROMPTS / 5 + LEASE + 60
        while len(prompted(fake)) < PROMPTS:  # bounded in time
            assert time.monotonic() < deadline, f"{len(prompted(fake))} of {PROMPTS} owners prompted"
            await asyncio.sleep(0.2)
        await asyncio.sleep(LEASE / 2)  # would anything be sent twice more?
    finally:
        await serve.stop()
        await fake.close()
    counts = prompted(fake)
    assert len(counts) == PROMPTS  # every owner prompted: nothing lost
    duplicates = sum(counts.values()) - PROMPTS
    assert duplicates <= WORKERS, f"{duplicates} duplicates: more than one per dispatcher that died"
    db = Database(url)
    try:
        async with db.read() as session:
            rows = (await session.exec(select(Delivery).where(Delivery.kind == "prompt"))).all()
    finally:
        await db.dispose()
    assert Counter(r.status for r in rows) == {"sent": PROMPTS}
    print(
        f"kill -9 after {before} of {PROMPTS} prompts; after restart all {PROMPTS} delivered, {duplicates} duplicates"
    )
