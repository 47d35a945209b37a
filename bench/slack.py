"""Slack: signed ``/okr`` requests against ``okrbot serve`` and against a bare slack-bolt app.

``okrbot serve`` runs as a user runs it (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, its Web API calls
going to the loopback fake of tests/fakes/slack_api.py), on a SQLite file and, when
OKRBOT_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database; the floor is bench/bare_slack.py.
Both are seeded alike and loaded by bench/load.py from a third process.

    python -m bench.slack [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import slack_headers
from bench.surface import ROOT, Server, Workload, bare, databases, measure, okrbot_serve

sys.path.insert(0, str(ROOT / "tests"))
from fakes.slack_api import SECRET, FakeSlack

KRS = 10
PATH = "/slack/events"


def slash(text: str, fake: FakeSlack, n: int = 0) -> str:
    return urllib.parse.urlencode({
        "token": "legacy", "team_id": "T1", "team_domain": "acme", "channel_id": "C1", "channel_name": "okrs",
        "user_id": "UALICE", "user_name": "alice", "command": "/okr", "text": text, "api_app_id": "A1",
        "response_url": fake.response_url(f"r{n}"), "trigger_id": f"trig.{n}",
    })  # fmt: skip


async def seed(server: Server, fake: FakeSlack) -> None:
    """A team, an objective and KRS key results owned by Alice, through the server itself."""
    texts = ['team add core "Core"', 'objective add "Fast check-ins" --team core']
    texts += [f'kr add O-1 "Key result {n}" --target 1000 --unit points' for n in range(1, KRS + 1)]
    async with aiohttp.ClientSession() as http:
        for text in texts:
            body = slash(text, fake)
            async with http.post(server.url + PATH, data=body, headers=slack_headers(body, SECRET)) as response:
                reply = await response.text()
                if response.status != 200 or "error" in reply.lower() and "KR-" not in reply:
                    raise RuntimeError(f"seeding {server.label} failed at {text!r}: {response.status} {reply[:300]}")


def workloads(fake: FakeSlack) -> dict[str, Workload]:
    checkins = [slash(f"checkin KR-{n % KRS + 1} {n % 900 + 1} 7 bench week", fake, n) for n in range(200)]
    return {
        "list mine": Workload([slash("list mine", fake, n) for n in range(50)], expect="KR-10"),
        "checkin": Workload(checkins, expect="Checked in"),
    }


async def run(quick: bool) -> list[Any]:
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", admin=True)
    servers: list[Server] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            async with databases(quick) as dbs:
                env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET}
                okrbots = [
                    okrbot_serve(f"okrbot {label}", url, folder, OKRBOT_SLACK_API_URL=fake.api_url, **env)
                    for label, url in dbs
                ]
                floor = bare(
                    "bare slack-bolt",
                    "bench.bare_slack",
                    folder,
                    SLACK_SIGNING_SECRET=SECRET,
                    SLACK_API_URL=fake.api_url,
                )
                servers = [*okrbots, floor]
                for server in servers:
                    await server.wait_healthy()
                for server in okrbots:
                    await seed(server, fake)
                floor_load = Workload([slash("list mine", fake, n) for n in range(50)], expect="listening")
                return await measure(
                    "Slack", path=PATH, kind="slack", secret=SECRET, okrbots=okrbots, floor=floor,
                    workloads=workloads(fake), floor_workload=floor_load, quick=quick,
                )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
        fake.calls.clear()
        await fake.close()


def main() -> None:
    from bench.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m bench.slack")
    parser.add_argument("--quick", action="store_true")
    print_rows(asyncio.run(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
