"""The HTTP API (``/api/v1``) against ``okrbot serve``, beside a Slack ``/okr checkin`` on the same
server and database, so the two ways of checking in are measured alike.

Each database (a SQLite file; a fresh PostgreSQL database when OKRBOT_TEST_POSTGRES_URL is set)
gets one ``okrbot serve`` with Slack on (its Web API calls going to the loopback fake) and
``OKRBOT_API_RATE`` raised so the rate limit does not stand in the way. The Slack workspace is
seeded through ``/okr`` (bench/slack.py's ten key results), a token is made with
``okrbot token add`` as its admin, and bench/load.py loads it from its own process:

- ``GET /api/v1/key-results`` at 200 requests a second offered (open loop);
- ``POST /api/v1/key-results/KR-n/check-ins`` and ``/okr checkin KR-n …`` with 50 at once
  (closed loop), round after round, alternating which goes first.

    python -m bench.api [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.slack import KRS, PATH, seed, slash
from bench.surface import OKRBOT, ROOT, Load, Row, Series, Server, clean_env, databases, okrbot_serve, run_load

sys.path.insert(0, str(ROOT / "tests"))
from fakes.slack_api import SECRET, FakeSlack

GETS = Load("200/s offered", "open", rate=200)
WRITES = Load("conc. 50", "closed", concurrency=50)


def make_token(database_url: str) -> str:
    """``okrbot token add`` as the Slack workspace's admin: the token it prints once."""
    argv = [str(OKRBOT), "token", "add", "bench", "--user", "UALICE", "--workspace", "T1", "--platform", "slack"]
    done = subprocess.run(argv, env=clean_env(OKRBOT_DATABASE_URL=database_url), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    found = re.search(r"okr_[A-Za-z0-9_-]{32,}", done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"okrbot token add failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return found.group(0)


def plans(server: Server, token: str, fake: FakeSlack, duration: float) -> dict[str, tuple[Load, dict[str, Any]]]:
    auth = {"Authorization": f"Bearer {token}"}
    api = server.url + "/api/v1"
    posts = [json.dumps({"value": n % 900 + 1, "confidence": 7, "note": "bench week"}) for n in range(200)]
    slashes = [slash(f"checkin KR-{n % KRS + 1} {n % 900 + 1} 7 bench week", fake, n) for n in range(200)]
    common = {"duration": duration, "max_requests": 20_000, "concurrency": 50}
    return {
        "API GET /key-results": (GETS, {
            "url": api + "/key-results", "kind": "json", "method": "GET", "bodies": [""], "headers": auth,
            "expect": '"KR-10"', "mode": GETS.mode, "rate": GETS.rate, **common,
        }),
        "API POST check-ins": (WRITES, {
            "url": api + "/key-results/KR-", "paths": [f"{n % KRS + 1}/check-ins" for n in range(KRS)],
            "kind": "json", "bodies": posts, "headers": auth, "expect": '"source":"api:bench"',
            "mode": WRITES.mode, **common,
        }),
        "Slack /okr checkin": (WRITES, {
            "url": server.url + PATH, "kind": "slack", "secret": SECRET, "bodies": slashes,
            "expect": "Checked in", "mode": WRITES.mode, **common,
        }),
    }  # fmt: skip


async def run(quick: bool) -> list[Any]:
    rounds, duration = (1, 1.5) if quick else (3, 5.0)
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", admin=True)
    servers: list[Server] = []
    rows: list[Any] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with databases(quick) as dbs:
                env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "OKRBOT_API_RATE": "100000"}
                for label, url in dbs:
                    server = okrbot_serve(f"okrbot {label}", url, Path(tmp), OKRBOT_SLACK_API_URL=fake.api_url, **env)
                    servers.append(server)
                    await server.wait_healthy()
                    await seed(server, fake)
                    token = await asyncio.to_thread(make_token, url)
                    cells = plans(server, token, fake, duration)
                    series = {
                        name: Series(server.label, name.split(" ", 1)[1], load) for name, (load, _) in cells.items()
                    }
                    for number in range(rounds):
                        for name in list(cells)[:: -1 if number % 2 else 1]:
                            series[name].add(await run_load(cells[name][1], limit=duration + 60))
                    rows += [Row(name.split()[0], s, None) for name, s in series.items()]
                    server.stop()
    finally:
        for server in servers:
            server.stop()
        await fake.close()
    return rows


def main() -> None:
    from bench.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m bench.api")
    parser.add_argument("--quick", action="store_true")
    print_rows(asyncio.run(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
