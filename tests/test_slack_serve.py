"""`okrbot serve` started as the README says (SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET), answering
signed `/okr` requests, with the fake Slack Web API running in the test behind it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.slack_api import SECRET, FakeSlack, sign
from test_serve import free_port


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", admin=True)
    yield fake
    await fake.close()


async def wait_healthy(base: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(150):  # bounded: 150 tries of 0.1 s, the loop free for the fake meanwhile
            if process.returncode is not None:
                pytest.fail(f"okrbot serve exited with {process.returncode}: {(await process.communicate())[1]!r}")
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail("okrbot serve did not answer /healthz in 15 s")


def slash(text: str, fake: FakeSlack) -> str:
    return urllib.parse.urlencode({
        "team_id": "T1", "team_domain": "acme", "channel_id": "C1", "user_id": "UALICE", "user_name": "alice",
        "command": "/okr", "text": text, "response_url": fake.response_url(), "trigger_id": "trig", "api_app_id": "A1",
    })  # fmt: skip


async def test_okrbot_serve_answers_signed_slash_commands(tmp_path, fake: FakeSlack):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_", "MICROSOFT_"))}
    env |= {
        "OKRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'okrbot.db'}",
        "OKRBOT_PORT": str(port),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "OKRBOT_SLACK_API_URL": fake.api_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1",
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        await wait_healthy(base, process)
        async with aiohttp.ClientSession() as http:
            for text, expected in (('team add growth "Growth"', "growth"), ("team list", "Growth")):
                body = slash(text, fake)
                async with http.post(f"{base}/slack/events", data=body, headers={**sign(body), **form}) as response:
                    assert response.status == 200
                    reply = await response.json()
                assert reply["response_type"] == "ephemeral" and expected in str(reply["blocks"])
            assert {c.token for c in fake.of("users.info")} == {"xoxb-test"}

            body = slash("help", fake)  # unsigned
            async with http.post(f"{base}/slack/events", data=body, headers=form) as response:
                assert response.status == 401
            huge = "text=" + "x" * (1024 * 1024)
            async with http.post(f"{base}/slack/events", data=huge, headers={**sign(huge), **form}) as response:
                assert response.status == 413
            broken = '{"type": "event_callback", '
            headers = {**sign(broken), "Content-Type": "application/json"}
            async with http.post(f"{base}/slack/events", data=broken, headers=headers) as response:
                assert response.status == 400
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200  # still up
    finally:
        process.send_signal(signal.SIGTERM)
        _, raw = await asyncio.wait_for(process.communicate(), timeout=15)
    stderr = raw.decode()
    assert process.returncode == 0, stderr
    assert "slack: on at POST /slack/events" in stderr and "xoxb-test" not in stderr and SECRET not in stderr
