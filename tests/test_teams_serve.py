"""`okrbot serve` started as a user starts it, with Teams activities posted to its /api/messages.

The server is a real subprocess (the installed ``okrbot`` script, a SQLite file, a free loopback
port); the fake Bot Connector runs here on loopback, and the activities' ``serviceUrl`` points at
it, so every reply okrbot sends crosses a real socket both ways.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.connector import FakeConnector, card_of, card_text, press
from test_serve import free_port

BOT_ID = "28:okrbot-app"
OKRBOT = Path(sys.executable).with_name("okrbot")


class Server:
    """One ``okrbot serve`` process and its base URL."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("MICROSOFT_APP_", "SLACK_", "OKRBOT_"))}
        clean |= {"OKRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", **env}
        self.log = tmp_path / "serve.log"  # a file, not a pipe: a chatty server never blocks on it
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [str(OKRBOT), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=clean, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip

    async def wait_healthy(self, session: aiohttp.ClientSession) -> None:
        for _ in range(150):  # bounded: 15 s
            if self.process.poll() is not None:
                pytest.fail(f"okrbot serve exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        pytest.fail("okrbot serve did not answer /healthz in 15 s")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.log.read_text()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = await FakeConnector().start()
    fake.add_member("29:alice", "Alice Doe", "aad-alice")
    yield fake
    await fake.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as client:
        yield client


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


def activity(connector: FakeConnector, text: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"in-{len(connector.calls)}",
        "channelId": "msteams",
        "serviceUrl": connector.service_url,
        "from": {"id": "29:alice", "name": "Alice Doe", "aadObjectId": "aad-alice"},
        "recipient": {"id": BOT_ID, "name": "okrbot"},
        "conversation": {"id": "a:personal-alice", "conversationType": "personal", "tenantId": "tenant-1"},
        "channelData": {"tenant": {"id": "tenant-1"}},
        "text": text,
        "locale": "en-GB",
        **extra,
    }


async def test_serve_answers_teams_activities_through_the_connector(
    tmp_path: Path, connector: FakeConnector, session: aiohttp.ClientSession, started: list[Server]
) -> None:
    server = Server(tmp_path)
    started.append(server)
    await server.wait_healthy(session)

    async def say(text: str = "", **extra: Any) -> str:
        before = len(connector.calls)
        async with session.post(f"{server.url}/api/messages", json=activity(connector, text, **extra)) as response:
            assert response.status == 201, await response.text()
        sent = [c for c in connector.calls[before:] if c.op in ("send", "reply", "update")]
        assert sent, f"okrbot answered nothing to {text!r}"
        return "\n".join(card_text(call.body) for call in sent)

    assert "checkin" in (await say("help")).lower()
    assert "web" in await say('team add web "Web"')
    assert "O-1" in await say('objective add "Happy customers" --team web')
    assert "KR-1" in await say('kr add O-1 "Active teams" --target 100 --unit teams')

    await say("checkin")
    card = card_of(connector.of("send", "reply")[-1].body)
    assert press(card, "Check in", universal=False)["okrbot"] == "checkin"
    bad = {"okrbot": "checkin", "KR-1.value": "lots", "KR-1.confidence": "7", "KR-1.note": ""}
    assert "⚠" in await say(value=bad, replyToId="act-card")
    assert not connector.of("update")
    good = {"okrbot": "checkin", "KR-1.value": "40", "KR-1.confidence": "7", "KR-1.note": "good week"}
    assert "Checked in 1 key result" in await say(value=good, replyToId="act-card")
    assert connector.of("update")[-1].activity_id == "act-card"
    assert "40 / 100" in await say("show KR-1")
    assert all(call.conversation_id == "a:personal-alice" for call in connector.posted())

    # the same card pressed with Universal Actions: an invoke, answered with the new card
    pressed = press(card, "Check in", {"KR-1.value": "60"})
    invoke = activity(connector, type="invoke", name="adaptiveCard/action", value=pressed, replyToId="act-card")
    async with session.post(f"{server.url}/api/messages", json=invoke) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Checked in 1 key result" in json.dumps(answer["value"], ensure_ascii=False)
    assert "60 / 100" in await say("show KR-1")

    log = server.stop()
    assert server.process.returncode == 0, log
    assert "AUTHENTICATION OFF" in log and "loopback" in log


async def test_serve_with_an_app_id_refuses_a_request_without_a_token(
    tmp_path: Path, connector: FakeConnector, session: aiohttp.ClientSession, started: list[Server]
) -> None:
    server = Server(
        tmp_path,
        MICROSOFT_APP_ID="00000000-0000-0000-0000-0000000000aa",
        MICROSOFT_APP_PASSWORD="not-a-real-secret",
        MICROSOFT_APP_TENANT_ID="tenant-1",
        MICROSOFT_APP_TYPE="SingleTenant",
    )
    started.append(server)
    await server.wait_healthy(session)
    async with session.post(f"{server.url}/api/messages", json=activity(connector, 'team add web "Web"')) as response:
        assert response.status == 401
    headers = {"Authorization": "Bearer not-even-a-jwt"}
    async with session.post(f"{server.url}/api/messages", json=activity(connector, "help"), headers=headers) as r:
        assert r.status == 401
    assert connector.calls == []
    log = server.stop()
    assert "Bot Framework tokens required (SingleTenant" in log
    assert "not-a-real-secret" not in log
