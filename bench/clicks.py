"""Slack: a weekly prompt's buttons under 50 people clicking at once.

``okrbot serve`` runs as a user runs it (SLACK_BOT_TOKEN, its Web API calls going to the loopback
fake of tests/fakes/slack_api.py), on a SQLite file and, when OKRBOT_TEST_POSTGRES_URL is set, on
a fresh PostgreSQL database. Fifty people own three key results each; ``okrbot send prompts``
sends each of them the weekly prompt through the fake. Then all fifty click at once:

- **Check in**: from the click leaving here to the ``views.open`` call reaching the fake (Slack's
  ``trigger_id`` lives 3 s; the target is p99 ≤ 200 ms);
- **No change**: from the click to both its ack and the ``chat.update`` of that prompt reaching
  the fake (the target is p99 ≤ 300 ms).

    python -m bench.clicks [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import slack_headers
from bench.surface import OKRBOT, ROOT, Server, clean_env, databases, okrbot_serve, pct

sys.path.insert(0, str(ROOT / "tests"))
from fakes.slack_api import SECRET, Call, FakeSlack

PATH = "/slack/events"
PEOPLE = 50
KRS_EACH = 3
#: The first click of someone okrbot has never heard from costs their profile (users.info) and a
#: write to remember it; fifty of those at once are measured apart, with no target.
FIRST = "Check in → views.open, everyone's first click"
TARGETS = {FIRST: float("inf"), "Check in → views.open": 200.0, "No change → ack + chat.update": 300.0}


@dataclass
class Row:
    label: str
    seconds: list[float]
    errors: int
    target_ms: float

    def row(self) -> str:
        p50, p95, p99 = (pct(self.seconds, q) for q in (0.5, 0.95, 0.99))
        worst = max(self.seconds, default=float("nan")) * 1000
        verdict = "met" if p99 <= self.target_ms and not self.errors else "missed"
        goal = "no target" if self.target_ms == float("inf") else f"target p99 ≤ {self.target_ms:.0f} ms: {verdict}"
        return (
            f"| {self.label} | {len(self.seconds)} | {PEOPLE} at once | {p50:.1f} | {p95:.1f} | {p99:.1f} | "
            f"{worst:.0f} | {self.errors} | {goal} |"
        )


def user(n: int) -> str:
    return f"U{n:03d}"


def slash(text: str, fake: FakeSlack, n: int = 0) -> str:
    return urllib.parse.urlencode({
        "team_id": "T1", "team_domain": "acme", "channel_id": "C1", "user_id": "UADMIN", "user_name": "admin",
        "command": "/okr", "text": text, "api_app_id": "A1", "response_url": fake.response_url(f"s{n}"),
        "trigger_id": f"seed.{n}",
    })  # fmt: skip


async def post(http: aiohttp.ClientSession, server: Server, body: str) -> tuple[int, str]:
    async with http.post(server.url + PATH, data=body, headers=slack_headers(body, SECRET)) as response:
        return response.status, await response.text()


async def seed(server: Server, fake: FakeSlack, http: aiohttp.ClientSession) -> None:
    """A team, an objective, and three key results for each of PEOPLE owners, through the server."""
    texts = ['team add core "Core"', 'objective add "Fast check-ins" --team core']
    texts += [
        f'kr add O-1 "Result {k} of {user(n)}" --target 100 --unit points --owner <@{user(n)}|{user(n)}>'
        for n in range(PEOPLE)
        for k in range(KRS_EACH)
    ]
    for i, text in enumerate(texts):
        status, reply = await post(http, server, slash(text, fake, i))
        if status != 200:
            raise RuntimeError(f"seeding {server.label} failed at {text!r}: {status} {reply[:300]}")


def send_prompts(database_url: str, fake: FakeSlack) -> None:
    env = clean_env(OKRBOT_DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET,
                    OKRBOT_SLACK_API_URL=fake.api_url)  # fmt: skip
    subprocess.run([str(OKRBOT), "send", "prompts", "--team", "core", "--workspace", "T1"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=120)  # fmt: skip


def press(fake: FakeSlack, who: str, prompt: Call, label: str) -> str:
    """The interactivity payload Slack sends when ``who`` clicks ``label`` on ``prompt``."""
    blocks = prompt.args.get("blocks") or []
    element = next(
        e
        for block in blocks
        for e in [*block.get("elements", ()), block.get("accessory") or {}]
        if e.get("type") == "button" and e["text"]["text"] == label
    )
    channel, ts = prompt.args["channel"], prompt.answer["ts"]
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": "T1", "domain": "acme"}, "user": {"id": who, "team_id": "T1"},
        "api_app_id": "A1", "trigger_id": f"trig-{label[:5]}-{who}",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel}, "message": {"type": "message", "ts": ts, "blocks": blocks},
        "response_url": fake.response_url(f"press-{who}"),
        "actions": [{"type": "button", "action_id": element["action_id"], "block_id": "b1",
                     "value": element.get("value", ""), "action_ts": "1700000000.2"}],
    }  # fmt: skip
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def sent_prompts(fake: FakeSlack) -> dict[str, Call]:
    """Each person's prompt as the fake received it, by user id."""
    opened = {c.answer["channel"]["id"]: c.args["users"] for c in fake.of("conversations.open")}
    return {opened[c.args["channel"]]: c for c in fake.of("chat.postMessage") if c.args["channel"] in opened}


async def clicks(
    server: Server, fake: FakeSlack, http: aiohttp.ClientSession, prompts: dict[str, Call], label: str
) -> tuple[list[float], int]:
    """Everyone clicks ``label`` at once: seconds from each click to what it must cause, read from
    when each call reached the fake (``Call.at``), looked for once all clicks are acked (polling
    while they run would take the fake's own CPU)."""
    started: dict[str, float] = {}
    acked: dict[str, float] = {}

    async def one(who: str) -> None:
        body = press(fake, who, prompts[who], label)
        started[who] = time.perf_counter()
        status, _ = await post(http, server, body)
        if status == 200:
            acked[who] = time.perf_counter()

    await asyncio.gather(*(one(user(n)) for n in range(PEOPLE)))
    done: dict[str, float] = {}
    deadline = time.monotonic() + 10.0
    while len(done) < len(acked) and time.monotonic() < deadline:  # bounded: 10 s
        await asyncio.sleep(0.05)
        done = caused(fake, label, prompts, started)
    seconds = [max(acked[who], done[who]) - started[who] for who in acked if who in done]
    return seconds, PEOPLE - len(seconds)


def caused(fake: FakeSlack, label: str, prompts: dict[str, Call], started: dict[str, float]) -> dict[str, float]:
    """When the call each click must cause reached the fake: views.open for Check in (by its
    trigger_id), chat.update of that person's prompt for No change."""
    found: dict[str, float] = {}
    if label == "Check in":
        for call in fake.of("views.open"):
            who = str(call.args.get("trigger_id", "")).removeprefix("trig-Check-")
            if who in started and call.at > started[who]:
                found.setdefault(who, call.at)
        return found
    by_ts = {prompt.answer["ts"]: who for who, prompt in prompts.items()}
    for call in fake.of("chat.update"):
        who = by_ts.get(call.args.get("ts"))
        if who is not None and call.at > started[who]:
            found.setdefault(who, call.at)
    return found


async def run(quick: bool) -> list[Row]:
    fake = await FakeSlack().start()
    fake.add_user("UADMIN", "Admin", admin=True)
    for n in range(PEOPLE):
        fake.add_user(user(n), user(n))
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with databases(quick=False) as dbs, aiohttp.ClientSession() as http:
                for label, url in dbs[:1] if quick else dbs:
                    rows += await _one_database(label, url, Path(tmp), fake, http)
    finally:
        await fake.close()
    return rows


async def _one_database(label: str, url: str, folder: Path, fake: FakeSlack, http: aiohttp.ClientSession) -> list[Row]:
    fake.calls.clear()
    server = okrbot_serve(f"okrbot {label}", url, folder, OKRBOT_SLACK_API_URL=fake.api_url,
                          SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET)  # fmt: skip
    try:
        await server.wait_healthy()
        await seed(server, fake, http)
        prompts: dict[str, Call] = {}
        for _ in range(20):  # bounded: the sender paces itself within Slack's limits, a batch at a time
            await asyncio.to_thread(send_prompts, url, fake)
            prompts = sent_prompts(fake)
            if len(prompts) == PEOPLE:
                break
            await asyncio.sleep(1.0)
        if len(prompts) != PEOPLE:
            raise RuntimeError(f"{label}: {len(prompts)} prompts reached the fake, not {PEOPLE}")
        rows = []
        for button, name in (("Check in", FIRST), ("Check in", "Check in → views.open"),
                             ("No change", "No change → ack + chat.update")):  # fmt: skip
            seconds, errors = await clicks(server, fake, http, prompts, button)
            rows.append(Row(f"Slack {label}: {name}", seconds, errors, TARGETS[name]))
        return rows
    finally:
        server.stop()


def main() -> None:
    from bench.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m bench.clicks")
    parser.add_argument("--quick", action="store_true", help="SQLite only")
    print_rows(asyncio.run(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
