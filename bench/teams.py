"""Teams: activities posted to ``okrbot serve``'s /api/messages and to a stock botbuilder echo bot.

Both run without an app id (authentication off, loopback only) and send their replies to the
activity's ``serviceUrl``: the loopback fake Bot Connector of tests/fakes/connector.py, running in
this process. A turn counts only if its reply reached the fake: okrbot answers 201 after its
reply is sent, and every reply the fake did not get is an error.

    python -m bench.teams [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bench.surface import ROOT, Server, Workload, bare, databases, measure, okrbot_serve

sys.path.insert(0, str(ROOT / "tests"))
from fakes.connector import FakeConnector

KRS = 10
PATH = "/api/messages"
BOT_ID = "28:okrbot-app"


def activity(connector: FakeConnector, text: str, n: int = 0) -> str:
    return json.dumps({
        "type": "message", "id": f"in-{n}", "channelId": "msteams", "serviceUrl": connector.service_url,
        "from": {"id": "29:alice", "name": "Alice Doe", "aadObjectId": "aad-alice"},
        "recipient": {"id": BOT_ID, "name": "okrbot"},
        "conversation": {"id": "a:personal-alice", "conversationType": "personal", "tenantId": "tenant-1"},
        "channelData": {"tenant": {"id": "tenant-1"}}, "text": text, "locale": "en-GB",
    })  # fmt: skip


async def seed(server: Server, connector: FakeConnector) -> None:
    texts = ['team add core "Core"', 'objective add "Fast check-ins" --team core']
    texts += [f'kr add O-1 "Key result {n}" --target 1000 --unit points' for n in range(1, KRS + 1)]
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for text in texts:
            async with http.post(server.url + PATH, data=activity(connector, text), headers=headers) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"seeding {server.label} failed at {text!r}: {response.status}")


def workloads(connector: FakeConnector) -> dict[str, Workload]:
    checkins = [activity(connector, f"checkin KR-{n % KRS + 1} {n % 900 + 1} 7 bench week", n) for n in range(200)]
    return {
        "list mine": Workload([activity(connector, "list mine", n) for n in range(50)]),
        "checkin": Workload(checkins),
    }


def replies(connector: FakeConnector) -> int:
    return sum(1 for call in connector.calls if call.op in ("send", "reply"))


async def run(quick: bool) -> list[Any]:
    connector = await FakeConnector().start()
    connector.add_member("29:alice", "Alice Doe", "aad-alice")
    servers: list[Server] = []

    async def check(_server: Server, ran: Any) -> int:
        """Turns answered without a reply reaching the fake Connector (counted as errors)."""
        if ran is None:
            return replies(connector)
        before, outcome = ran
        got = replies(connector) - before
        connector.calls.clear()  # bounded memory: only the count matters here
        return max(0, len(outcome["latencies"]) - got)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            async with databases(quick) as dbs:
                okrbots = [okrbot_serve(f"okrbot {label}", url, folder) for label, url in dbs]
                floor = bare("bare botbuilder", "bench.bare_teams", folder)
                servers = [*okrbots, floor]
                for server in servers:
                    await server.wait_healthy()
                for server in okrbots:
                    await seed(server, connector)
                floor_load = Workload([activity(connector, "list mine", n) for n in range(50)])
                return await measure(
                    "Teams", path=PATH, kind="json", okrbots=okrbots, floor=floor, workloads=workloads(connector),
                    floor_workload=floor_load, quick=quick, check=check,
                )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
        await connector.close()


def main() -> None:
    from bench.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m bench.teams")
    parser.add_argument("--quick", action="store_true")
    print_rows(asyncio.run(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
