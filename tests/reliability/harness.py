"""What the reliability tests share: `okrbot serve` as a subprocess whose output is kept and
scanned for secrets, the secrets themselves, and a seeded organisation.

The servers, fakes and signing come from the rest of the suite (``tests/test_serve.py``,
``tests/fakes/``); this module only starts and stops serve the way a process supervisor would,
including ``kill -9``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from test_serve import free_port

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from store.db import Database

ROOT = Path(__file__).resolve().parents[2]

# Every secret a test hands to okrbot: none may ever appear in a log line or a reply.
SLACK_BOT_TOKEN = "xoxb-reliability-0123456789-secret"
SLACK_SIGNING_SECRET = "reliability-signing-secret-7f3a"
MICROSOFT_APP_PASSWORD = "reliability-app-password-9c1e"
DATABASE_PASSWORD = "reliability-db-password-4b2d"
SECRETS = (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, MICROSOFT_APP_PASSWORD, DATABASE_PASSWORD)

#: Everything every serve subprocess printed in this run, for the secrets scan.
OUTPUTS: list[str] = []


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def with_password(url: str) -> str:
    """A PostgreSQL URL carrying DATABASE_PASSWORD (the test server trusts loopback, so it still connects)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=DATABASE_PASSWORD).render_as_string(hide_password=False)


@dataclass
class Serve:
    """One `okrbot serve` process, its output in files (no pipe to fill up and stall it)."""

    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    runs: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, *, wait: float = 20.0) -> Serve:
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_", "MICROSOFT_"))}
        env |= {"OKRBOT_PORT": str(self.port), "OKRBOT_LOG_LEVEL": "INFO", **self.env}
        out = open(self.cwd / f"serve-{self.port}-{self.runs}.log", "wb")  # noqa: SIM115, ASYNC230 - closed below, once the child has it
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1",
            env=env, cwd=ROOT, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out.close()
        await self.wait_healthy(wait)
        return self

    async def wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:  # bounded in time
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"okrbot serve exited with {self.process.returncode}: {self.output()[-3000:]}")
                try:
                    async with http.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"okrbot serve did not answer /healthz in {seconds} s: {self.output()[-3000:]}")

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.cwd.glob(f"serve-{self.port}-*.log")))

    async def kill(self) -> None:
        """``kill -9``: no shutdown, no cleanup, whatever was in flight is cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> str:
        """SIGTERM and wait (bounded); the whole output, checked for secrets."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        text = self.output()
        OUTPUTS.append(text)
        assert not leaked(text), f"a secret is in okrbot serve's output: {leaked(text)}"
        return text

    def rss_kib(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def command(user: str, text: str, *, workspace: str = "T1", platform: str = "slack", channel: str = "C1") -> Command:
    return Command(WorkspaceRef(platform, workspace, workspace), Actor(user, user.title()), text, channel, platform)  # type: ignore[arg-type]


async def say(bot: Bot, user: str, text: str, **where: str) -> str:
    reply = await bot.handle(command(user, text, **where))
    assert not reply.is_error, f"{user}: {text}: {reply.text}"
    return reply.text


async def seed_owners(url: str, owners: int, *, schedule_due: bool = True) -> None:
    """A Slack workspace T1 with one team and ``owners`` key results, each with its own owner;
    with ``schedule_due``, a check-in schedule that fell due 30 minutes ago (serve catches it up)."""
    import datetime as dt

    db = Database(url)
    bot = Bot(db)
    try:
        await say(bot, "ULEAD", 'team add growth "Growth"')
        await say(bot, "ULEAD", 'objective add "Grow" --team growth')
        for i in range(owners):
            await say(bot, "ULEAD", f'kr add O-1 "Result {i}" --target 100 --owner <@U{i:05d}>')
        if schedule_due:
            due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
            day = due.strftime("%a").lower()
            await say(bot, "ULEAD", f"schedule checkin team growth {day} {due:%H:%M} UTC --remind-after 0")
    finally:
        await db.dispose()


async def webchat(http: aiohttp.ClientSession, base: str, user: str, text: str, *, seconds: float = 30.0) -> dict:
    """One command through the web chat's HTTP API: ``{"status", "error", "text"}`` of the reply."""
    body = {"workspace": "acme", "user": user, "pane": "channel", "text": text}
    async with http.post(
        f"{base}/api/webchat/command", json=body, timeout=aiohttp.ClientTimeout(total=seconds)
    ) as response:
        if response.status != 200:
            return {"status": response.status, "error": True, "text": await response.text()}
        message = (await response.json())["message"]
        return {"status": 200, "error": message["error"], "text": message["text"]}


def webchat_env(url: str) -> dict[str, str]:
    return {"OKRBOT_DATABASE_URL": url, "OKRBOT_WEBCHAT": "on"}


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """Imported by each in-process test module: every log record of its tests is scanned for secrets."""
    caplog.set_level(logging.INFO)
    yield
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert not leaked(text), f"a secret is in the logs: {leaked(text)}"
