"""Proactive Teams messages (the Outbound Protocol) from stored references, against the fake
Bot Connector: a DM, a DM that first creates the 1:1 chat from a team roster, a channel post,
and 429/500 answers retried with backoff that honours Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.connector import FakeConnector, card_text
from test_teams_e2e import BOT_ID, Teams, refs, settings_for

from adapters.server import build_app
from adapters.teams.mount import OUTBOUND_KEY
from adapters.teams.outbound import TeamsOutbound
from bot.command import WorkspaceRef
from bot.messages import Message, Text, UserText
from bot.outbound import DeliveryError, Outbound

TENANT = WorkspaceRef("teams", "tenant-1")
HELLO = Message.of(Text(("Time for your weekly check-in, ", UserText("[x](y)"))))


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = await FakeConnector().start()
    fake.add_member("29:alice", "Alice Doe", "aad-alice")
    fake.add_member("29:bob", "Bob Smith", "aad-bob")
    yield fake
    await fake.close()


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[TestClient]:
    app = build_app(settings_for(db_url, MICROSOFT_APP_ID=""))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest.fixture
def outbound(client: TestClient) -> TeamsOutbound:
    sender = client.app[OUTBOUND_KEY]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    sender.sleep = sleep
    sender.waits = waits  # type: ignore[attr-defined]
    return sender


async def install_in_team(teams: Teams) -> None:
    installed = teams.activity("alice", kind="channel")
    installed |= {"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}], "text": None}
    assert await teams.post(installed) == 201
    teams.connector.clear()


async def test_dm_to_a_member_with_a_stored_personal_chat(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound
) -> None:
    sender: Outbound = outbound  # the Protocol, checked by mypy
    assert sender.platform == "teams"
    teams = Teams(client, connector)
    await teams.say("alice", "help")
    connector.clear()
    await outbound.send_direct(TENANT, "aad-alice", HELLO)
    (call,) = connector.calls
    assert call.op == "send" and call.conversation_id == "a:personal-alice"
    assert "Time for your weekly check-in, \\[x\\]\\(y\\)" in card_text(call.body)


async def test_dm_creates_the_one_to_one_chat_from_the_team_roster(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound, db_url: str
) -> None:
    teams = Teams(client, connector)
    await install_in_team(teams)
    await outbound.send_direct(TENANT, "aad-bob", HELLO)
    ops = [c.op for c in connector.calls]
    assert ops == ["member", "create", "send"]
    assert connector.calls[0].conversation_id == "19:team@thread.tacv2"
    create = connector.calls[1].body
    assert (
        create["members"] == [{"id": "29:bob", "name": "Bob Smith"}]
        and create["channelData"]["tenant"]["id"] == "tenant-1"
    )
    assert create["isGroup"] is False and create["bot"]["id"] == BOT_ID
    assert connector.calls[2].conversation_id == "a:dm-29:bob"
    assert ("tenant-1", "user", "aad-bob") in [(t, k, key) for t, k, key, _ in await refs(db_url)]
    connector.clear()
    await outbound.send_direct(TENANT, "aad-bob", HELLO)  # the stored chat, no second creation
    assert [c.op for c in connector.calls] == ["send"]


async def test_unknown_member_and_channel_are_permanent_failures(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound
) -> None:
    await install_in_team(Teams(client, connector))
    with pytest.raises(DeliveryError) as failed:
        await outbound.send_direct(TENANT, "aad-nobody", HELLO)
    assert failed.value.permanent
    with pytest.raises(DeliveryError) as failed:
        await outbound.post_channel(TENANT, "19:unknown@thread.tacv2", HELLO)
    assert failed.value.permanent
    with pytest.raises(DeliveryError):
        await outbound.send_direct(WorkspaceRef("teams", "tenant-2"), "aad-alice", HELLO)  # other tenant


async def test_channel_post_is_a_new_message_in_the_channel(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound
) -> None:
    teams = Teams(client, connector)
    await teams.say("alice", "<at>okrbot</at> help", kind="channel", entities=[])
    connector.clear()
    await outbound.post_channel(TENANT, "19:general@thread.tacv2", HELLO)
    (call,) = connector.calls
    assert call.op == "send" and call.conversation_id == "19:general@thread.tacv2"


async def test_429_and_500_are_retried_honouring_retry_after(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound
) -> None:
    teams = Teams(client, connector)
    await teams.say("alice", "help")
    connector.clear()
    connector.fail("send", 429, retry_after=2, times=2)
    connector.fail("send", 500)
    await outbound.send_direct(TENANT, "aad-alice", HELLO)
    assert [c.op for c in connector.calls] == ["send"] * 4
    waits = outbound.waits  # type: ignore[attr-defined]
    assert waits[:2] == [2.0, 2.0] and 2.0 <= waits[2] <= 2.5  # third attempt: 0.5 s · 2² plus jitter


async def test_a_long_retry_after_is_handed_back_and_a_400_is_permanent(
    client: TestClient, connector: FakeConnector, outbound: TeamsOutbound
) -> None:
    teams = Teams(client, connector)
    await teams.say("alice", "help")
    connector.fail("send", 429, retry_after=120)
    with pytest.raises(DeliveryError) as failed:
        await outbound.send_direct(TENANT, "aad-alice", HELLO)
    assert failed.value.retry_after == 120 and not failed.value.permanent
    connector.fail("send", 403)
    with pytest.raises(DeliveryError) as failed:
        await outbound.send_direct(TENANT, "aad-alice", HELLO)
    assert failed.value.permanent
