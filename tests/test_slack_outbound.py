"""The Outbound Protocol for Slack, against the fake Web API: DMs, channel posts, 429 and errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from fakes.slack_api import FakeSlack

from adapters.settings import SlackSettings
from adapters.slack.mount import mount
from adapters.slack.outbound import SlackOutbound
from bot.command import WorkspaceRef
from bot.core import Bot
from bot.messages import Image, Message, Progress, Text, UserText
from bot.outbound import DeliveryError, Outbound
from store.db import Database

ACME = WorkspaceRef("slack", "T1")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


async def token_for(workspace: WorkspaceRef) -> str | None:
    return "xoxb-acme" if workspace.external_id == "T1" else None


def outbound(fake: FakeSlack) -> SlackOutbound:
    sender: Outbound = SlackOutbound(fake.api_url, token_for)  # type-checked against the Protocol
    return sender  # type: ignore[return-value]


async def test_direct_message_opens_the_dm_first(fake: FakeSlack):
    await outbound(fake).send_direct(ACME, "UBOB", Message.of(Text(("Time to check in ", UserText("<!here>")))))
    assert [c.method for c in fake.calls] == ["conversations.open", "chat.postMessage"]
    assert fake.calls[0].args["users"] == "UBOB" and fake.calls[1].args["channel"] == "DUBOB"
    assert all(c.token == "xoxb-acme" for c in fake.calls)
    assert "<!here>" not in str(fake.calls[1].args)


async def test_a_dm_is_opened_once_per_person_not_once_per_message(fake: FakeSlack):
    sender = outbound(fake)
    for n in range(3):
        await sender.send_direct(ACME, "UBOB", Message.of(Text((f"prompt {n}",))))
    await sender.send_direct(ACME, "UCAROL", Message.of(Text(("prompt",))))
    assert [c.args["users"] for c in fake.of("conversations.open")] == ["UBOB", "UCAROL"]
    assert [c.args["channel"] for c in fake.of("chat.postMessage")] == ["DUBOB"] * 3 + ["DUCAROL"]


async def test_long_channel_post_is_threaded_with_its_chart(fake: FakeSlack):
    progress = [Progress((f"KR-{i} ", UserText("x" * 300)), 0.5, "5 / 10", 5, "yellow", f"KR-{i}") for i in range(80)]
    message = Message.of(*progress, Image(b"\x89PNG fake", "chart"), visibility="channel")
    await outbound(fake).post_channel(ACME, "C9", message)
    posts = fake.of("chat.postMessage")
    assert len(posts) >= 2 and posts[0].args.get("thread_ts") is None
    assert all(p.args["thread_ts"].startswith("1700000000.") for p in posts[1:])
    assert fake.of("files.completeUploadExternal")[0].args["thread_ts"] == posts[1].args["thread_ts"]


async def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack):
    fake.fail("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    await outbound(fake).post_channel(ACME, "C9", Message.of(Text(("hello",))))
    assert time.monotonic() - started >= 0.9
    assert len(fake.of("chat.postMessage")) == 2


async def test_errors_become_delivery_errors(fake: FakeSlack):
    fake.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(DeliveryError) as failure:
        await outbound(fake).post_channel(ACME, "C404", Message.of(Text(("hello",))))
    assert failure.value.permanent
    fake.fail("chat.postMessage", status=429, retry_after=1, times=3)
    with pytest.raises(DeliveryError) as limited:
        await outbound(fake).post_channel(ACME, "C9", Message.of(Text(("hello",))))
    assert limited.value.retry_after == 1 and not limited.value.permanent
    with pytest.raises(DeliveryError) as unknown:
        await outbound(fake).send_direct(WorkspaceRef("slack", "T2"), "U1", Message.of(Text(("hi",))))
    assert unknown.value.permanent


async def test_mount_says_whether_slack_is_on(tmp_path):
    bot = Bot(Database(f"sqlite:///{tmp_path / 'x.db'}"))
    line = mount(web.Application(), SlackSettings(SLACK_SIGNING_SECRET=None, SLACK_BOT_TOKEN=None), bot)
    assert line.startswith("slack: off") and "SLACK_SIGNING_SECRET" in line
    settings = SlackSettings(SLACK_SIGNING_SECRET="s3cret", SLACK_BOT_TOKEN="xoxb-secret-token")
    app = web.Application()
    line = mount(app, settings, bot)
    assert line.startswith("slack: on") and "xoxb" not in line and "s3cret" not in line
    assert any(r.resource.canonical == "/slack/events" for r in app.router.routes())
    socket = SlackSettings(SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN="xapp-1", SLACK_BOT_TOKEN="xoxb-2")
    app = web.Application()
    line = mount(app, socket, bot)
    assert line.startswith("slack: on through Socket Mode") and "xapp" not in line
    assert not any(r.resource.canonical == "/slack/events" for r in app.router.routes())
    assert app.on_startup  # connects when the server starts
    await bot.db.dispose()


def test_manifest_asks_for_what_okrbot_uses():
    """Checked as text: PyYAML is not a dependency of okrbot."""
    with open("adapters/slack/manifest.yml", encoding="utf-8") as f:
        lines = [line.split("#")[0].rstrip() for line in f]
    text = "\n".join(lines)
    assert "- command: /okr" in text and "should_escape: true" in text
    start = lines.index("    bot:") + 1
    end = lines.index("settings:")
    scopes = [line.strip()[2:] for line in lines[start:end] if line.startswith("      - ")]
    assert scopes == ["commands", "chat:write", "chat:write.public", "im:write", "users:read", "files:write",
                      "im:history", "app_mentions:read"]  # fmt: skip
    for event in ("app_home_opened", "app_uninstalled", "tokens_revoked", "message.im", "app_mention"):
        assert f"      - {event}" in text
    assert text.count("url: https://YOUR-HOST/slack/events") == 3
    assert "home_tab_enabled: true" in text and "is_enabled: true" in text
    # the Messages tab has a composer: people type commands in okrbot's DM
    assert "messages_tab_enabled: true" in text and "messages_tab_read_only_enabled: false" in text
