"""The HTTP edge of every surface under hostile clients: 1 MB bodies refused with 413 before
anything parses them, malformed JSON and form bodies with 400, and a client that sends headers
and half a body then stalls is cut off in bounded time while everyone else is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import SECRET, TOKEN, FakeSlack, sign
from harness import no_secret_in_logs  # noqa: F401  (an autouse fixture)

from adapters.server import build_app
from adapters.settings import Settings, SlackSettings, TeamsSettings
from store.migrate import upgrade_async

MB = 1024 * 1024


@pytest.fixture
async def http(tmp_path, monkeypatch) -> AsyncIterator[TestClient]:
    """Slack, Teams (no app id: loopback only) and the web chat, all on one server."""
    monkeypatch.setenv("OKRBOT_WEBCHAT", "on")
    monkeypatch.setenv("OKRBOT_BODY_TIMEOUT_SECONDS", "2")
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await upgrade_async(url)
    fake = await FakeSlack().start()
    settings = Settings(database_url=url, slack=SlackSettings(SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN=TOKEN,
                        OKRBOT_SLACK_API_URL=fake.api_url), teams=TeamsSettings(MICROSOFT_APP_ID=""))  # type: ignore[call-arg]  # fmt: skip
    async with TestClient(TestServer(build_app(settings), host="127.0.0.1")) as client:
        yield client
    await fake.close()


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/slack/events", "application/x-www-form-urlencoded"), ("/slack/events", "application/json"),
     ("/api/messages", "application/json"), ("/api/webchat/command", "application/json")],
)  # fmt: skip
async def test_a_1_mb_body_is_refused_with_413(http: TestClient, path: str, kind: str) -> None:
    body = ("text=" + "x" * MB) if kind.endswith("urlencoded") else '{"text": "' + "x" * MB + '"}'
    response = await http.post(path, data=body.encode(), headers={**sign(body), "Content-Type": kind})
    assert response.status == 413


@pytest.mark.parametrize(
    ("path", "kind", "body"),
    [("/slack/events", "application/json", '{"type": "event_callback", '),
     ("/slack/events", "application/x-www-form-urlencoded", "payload=%7Bnot+json"),
     ("/api/messages", "application/json", '{"type": "message", '),
     ("/api/messages", "application/json", "[1, 2"),
     ("/api/webchat/command", "application/json", '{"text": '),
     ("/api/webchat/command", "application/json", '"just a string"')],
)  # fmt: skip
async def test_malformed_bodies_get_400(http: TestClient, path: str, kind: str, body: str) -> None:
    response = await http.post(path, data=body.encode(), headers={**sign(body), "Content-Type": kind})
    assert response.status == 400, await response.text()


async def test_a_half_sent_body_times_out_without_holding_the_server(http: TestClient) -> None:
    host, port = "127.0.0.1", http.port
    stalled = []
    for path in ("/api/webchat/command", "/slack/events", "/api/messages"):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000\r\n\r\n".encode()
            + b'{"text": "'
            + b"x" * 400
        )
        await writer.drain()
        stalled.append((reader, writer))
    started = time.monotonic()
    for _ in range(5):  # meanwhile, everyone else is answered
        assert (await http.get("/healthz")).status == 200
        reply = await http.post("/api/webchat/command", json={"workspace": "acme", "user": "alice", "text": "help"})
        assert reply.status == 200
    for reader, writer in stalled:
        async with asyncio.timeout(10):  # bounded: the server gives up after OKRBOT_BODY_TIMEOUT_SECONDS (2 s here)
            answer = await reader.readline()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        writer.close()
    assert time.monotonic() - started < 10
    reader, _ = stalled[0]
    async with asyncio.timeout(15):  # and closes the connection, after aiohttp's 10 s of lingering at most
        await reader.read()
