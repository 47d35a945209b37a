"""The platform API failing under a prompt fan-out: HTTP 500s, a request that hangs past the
client's timeout, 429 with Retry-After, and one recipient that always fails. The real outbox,
dispatchers and SlackOutbound (slack_sdk) send to the loopback fake Slack API: the others are
not held up, every retried message is sent exactly once, nothing is lost, and the failures show
in `/metrics` and `okrbot deliveries`."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import Call, FakeSlack
from harness import (
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    no_secret_in_logs,  # noqa: F401  (an autouse fixture)
)
from test_delivery import controlled, statuses

import adapters.slack.outbound as slack_outbound
from adapters.cli import main
from adapters.server import build_app
from adapters.settings import Settings, SlackSettings
from adapters.slack.outbound import SlackOutbound
from bot.messages import Message, Text
from bot.outbox import Envelope, Outgoing, enqueue
from store.db import Database
from store.models import Workspace

PROMPTS = 60
BROKEN = "U00007"  # conversations.open always fails for this one


class FaultySlack(FakeSlack):
    """The fake Slack API, plus: one recipient that always gets a 500, and one request that hangs."""

    hangs: int = 1

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "conversations.open":
            users = (await request.post()).get("users") or request.query.get("users")
            if users == BROKEN:
                self.calls.append(Call(method, {"users": users}))
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        if method == "chat.postMessage" and self.hangs > 0:
            self.hangs -= 1
            await asyncio.sleep(3)  # past the client's timeout
        return await super()._api(request)


async def test_500s_timeouts_and_429s_lose_nothing_and_show_in_metrics(tmp_path, clock, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    from store.migrate import upgrade_async

    await upgrade_async(url)
    fake = await FaultySlack().start()
    fake.fail("chat.postMessage", "internal_error", status=500, times=5)
    fake.fail("chat.postMessage", status=429, retry_after=1, times=4)
    original = slack_outbound.web_client
    monkeypatch.setattr(slack_outbound, "web_client", lambda *args: _short(original(*args)))
    db = Database(url)
    try:
        async with db.write() as session:
            workspace = Workspace(platform="slack", external_id="T1", name="Acme")
            session.add(workspace)
            await session.flush()
            rows = [Outgoing("prompt", f"U{i:05d}", "2026-W47",
                             Envelope("direct", f"U{i:05d}", Message.of(Text(("Time to check in",)))))
                    for i in range(PROMPTS)]  # fmt: skip
            await enqueue(session, workspace.id, rows, clock())  # type: ignore[arg-type]

        async def token_for(_workspace: object) -> str:
            return SLACK_BOT_TOKEN

        dispatcher = controlled(db, SlackOutbound(fake.api_url, token_for), clock, max_attempts=4)
        dispatcher.outbounds = {"slack": dispatcher.outbounds["local"]}
        first = await dispatcher.drain(workers=4, seconds=60)
        assert first.sent >= PROMPTS - 10, first  # the failing few did not hold up the rest
        for _ in range(20):  # bounded: a simulated day of retries
            if not (await statuses(db)).keys() - {"sent", "failed"}:
                break
            clock.advance(hours=1)
            await dispatcher.drain(workers=4, seconds=60)
        assert await statuses(db) == {"sent": PROMPTS - 1, "failed": 1}
        dms = Counter(c.args["channel"] for c in fake.of("chat.postMessage") if c.args.get("channel"))
        accepted = len(fake.of("chat.postMessage")) - 5 - 4  # the failures answered, not accepted
        assert set(dms) == {f"DU{i:05d}" for i in range(PROMPTS) if f"U{i:05d}" != BROKEN}
        assert [c.args["users"] for c in fake.of("conversations.open")].count(
            BROKEN
        ) == 4  # tried, backed off, given up
        assert accepted >= PROMPTS - 1  # each one accepted at least once; the hung one may be twice

        app = build_app(Settings(database_url=url, slack=SlackSettings(
            SLACK_BOT_TOKEN=SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET, OKRBOT_SLACK_API_URL=fake.api_url)))  # type: ignore[call-arg]  # fmt: skip
        async with TestClient(TestServer(app, host="127.0.0.1")) as http:
            scraped = await (await http.get("/metrics")).text()
        assert 'okrbot_deliveries{status="failed"} 1.0' in scraped
        assert f'okrbot_deliveries{{status="sent"}} {PROMPTS - 1}.0' in scraped
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["--database-url", url, "deliveries", "--status", "failed"]) == 0
        listing = capsys.readouterr().out
        assert BROKEN in listing and "gave up after 4 attempts" in listing, listing
    finally:
        await db.dispose()
        await fake.close()


def _short(client):  # type: ignore[no-untyped-def]
    client.timeout = 1  # slack_sdk's default is 30 s; the hang is 3 s
    return client
