"""Real Bot Framework activities posted to the real app (build_app → botbuilder's CloudAdapter),
with ``serviceUrl`` pointing at a loopback fake of the Bot Connector that records every reply."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.schema import Activity
from fakes.connector import Call, FakeConnector, card_of, card_text, press
from platform_checks import cards_of, record_card
from pydantic import SecretStr
from sqlmodel import select

from adapters.server import build_app
from adapters.settings import Settings, TeamsSettings
from bot.core import INTERNAL_ERROR
from store.db import Database
from store.models import CheckIn, ConversationRef, Workspace

BOT_ID = "28:okrbot-app"
_ids = itertools.count(1)


def settings_for(db_url: str, **teams: Any) -> Settings:
    return Settings(OKRBOT_DATABASE_URL=db_url, teams=TeamsSettings(**teams))  # type: ignore[call-arg]


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = await FakeConnector().start()
    fake.add_member("29:alice", "Alice Doe", "aad-alice", role="owner")
    fake.add_member("29:bob", "Bob Smith", "aad-bob")
    fake.add_member("29:carol", "Carol", "aad-carol", tenant="tenant-2")
    yield fake
    await fake.close()


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[TestClient]:
    app = build_app(settings_for(db_url, MICROSOFT_APP_ID=""))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


class Teams:
    """Posts activities as Teams would; ``say`` returns the texts of what okrbot sent back."""

    def __init__(self, client: TestClient, connector: FakeConnector) -> None:
        self.client = client
        self.connector = connector

    def activity(
        self,
        user: str,
        text: str = "",
        *,
        kind: str = "personal",
        tenant: str = "tenant-1",
        entities: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        member = self.connector.members[f"29:{user}"]
        conversation_id = {
            "personal": f"a:personal-{user}",
            "channel": "19:general@thread.tacv2;messageid=1700000000001",
            "groupChat": "19:group@thread.v2",
        }[kind]
        channel_data: dict[str, Any] = {"tenant": {"id": tenant}}
        if kind == "channel":
            channel_data |= {"team": {"id": "19:team@thread.tacv2", "name": "Web"}, "channel": {"id": "19:general"}}
        return {
            "type": "message",
            "id": f"in-{next(_ids)}",
            "channelId": "msteams",
            "serviceUrl": self.connector.service_url,
            "from": {"id": member["id"], "name": member["name"], "aadObjectId": member["aadObjectId"]},
            "recipient": {"id": BOT_ID, "name": "okrbot"},
            "conversation": {"id": conversation_id, "conversationType": kind, "tenantId": tenant},
            "channelData": channel_data,
            "text": text,
            "entities": entities or [],
            "locale": "en-GB",
            "localTimezone": "Europe/Helsinki",
            **extra,
        }

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> int:
        response = await self.client.post("/api/messages", json=activity, headers=headers or {})
        return response.status

    async def say(self, user: str, text: str, **options: Any) -> str:
        before = len(self.connector.calls)
        status = await self.post(self.activity(user, text, **options))
        assert status == 201, status
        sent = [c for c in self.connector.calls[before:] if c.op in ("send", "reply", "update")]
        assert sent, f"okrbot answered nothing to {text!r}"
        reply = "\n".join(card_text(call.body) for call in sent)
        assert INTERNAL_ERROR not in reply, reply
        return reply

    def last(self, *ops: str) -> Call:
        return self.connector.of(*ops)[-1]

    def last_card(self) -> dict[str, Any]:
        """The card of the last message okrbot sent (not an update)."""
        return card_of(self.last("send", "reply").body)

    async def invoke(self, user: str, value: dict[str, Any], *, card_id: str = "", **options: Any) -> dict[str, Any]:
        """An ``adaptiveCard/action`` invoke (an Action.Execute pressed): okrbot's answer, the body
        of the HTTP 200 (its own ``statusCode`` says how it went)."""
        activity = self.activity(user, **options) | {"type": "invoke", "name": "adaptiveCard/action", "value": value}
        activity.pop("text")
        if card_id:
            activity["replyToId"] = card_id
        response = await self.client.post("/api/messages", json=activity)
        assert response.status == 200, (response.status, await response.text())
        answer = await response.json()
        for card in cards_of(answer):
            record_card(card)  # the platform validators check invoke answers too
        return answer


@pytest.fixture
def teams(client: TestClient, connector: FakeConnector) -> Teams:
    return Teams(client, connector)


def at(teams_id: str, name: str) -> dict[str, Any]:
    return {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": teams_id, "name": name}}


BOT_MENTION = at(BOT_ID, "okrbot")


async def setup_okrs(teams: Teams) -> None:
    assert "web" in await teams.say("alice", 'team add web "Web"')
    assert "O-1" in await teams.say("alice", 'objective add "Happy customers" --team web')
    assert "KR-1" in await teams.say("alice", 'kr add O-1 "Active teams" --target 100 --unit teams')


async def test_every_command_answers_in_a_personal_chat(teams: Teams, connector: FakeConnector) -> None:
    assert "help" in (await teams.say("alice", "help")).lower()
    await setup_okrs(teams)
    reply = await teams.say("alice", "checkin KR-1 40 7 good week")
    assert "Checked in KR-1" in reply
    for text, expected in [
        ("list mine", "Happy customers"),
        ("list all", "Happy customers"),
        ("list team web", "Happy customers"),
        ("show KR-1", "40"),
        ("show O-1", "Happy customers"),
        ("tree", "Happy customers"),
        ("team list", "web"),
        ('capability add build "Build it"', "build"),
        ("capability list", "Build it"),
        ("cycle list", "2026"),
        ("digest", "Web"),
        ("digest all", ""),
        ("export csv", "Active teams"),
        ("export json", "Active teams"),
        ("grade KR-1 0.5", "0.5"),
        ("okr help checkin", "checkin"),
    ]:
        assert expected in await teams.say("alice", text), text
    # every reply went to the activity's serviceUrl, as a reply to the message
    assert all(call.conversation_id == "a:personal-alice" for call in connector.posted())
    assert "Bearer" not in "".join(call.authorization for call in connector.calls)  # auth off: no token sent
    # one connector client for the service URL, reused by every turn (the stock adapter makes one per turn)
    from adapters.teams.mount import CLOUD_ADAPTER_KEY

    assert teams.client.app[CLOUD_ADAPTER_KEY].bot_framework_authentication.connectors_created == 1


async def test_bad_command_gets_the_same_sentence_as_elsewhere(teams: Teams, client: TestClient) -> None:
    from adapters.server import BOT_KEY
    from bot.command import Actor, Command, WorkspaceRef

    reply = await teams.say("alice", "frobnicate now")
    core = await client.app[BOT_KEY].handle(
        Command(WorkspaceRef("teams", "tenant-1"), Actor("aad-alice", "Alice Doe"), "frobnicate now")
    )
    assert core.is_error and core.text.replace('"', "") in reply.replace("\\", "").replace('"', "")
    card = teams.last("send", "reply").body["attachments"][0]["content"]
    assert card["body"][0]["color"] == "attention"


async def test_channel_message_needs_the_mention_which_is_stripped(teams: Teams, connector: FakeConnector) -> None:
    await setup_okrs(teams)
    reply = await teams.say("alice", "<at>okrbot</at> okr list all", kind="channel", entities=[BOT_MENTION])
    assert "Happy customers" in reply
    call = teams.last("send", "reply")
    assert call.op == "reply" and call.conversation_id.startswith("19:general@thread.tacv2")


async def test_a_mentioned_person_becomes_a_member_from_the_roster(teams: Teams, connector: FakeConnector) -> None:
    await setup_okrs(teams)
    text = '<at>okrbot</at> kr add O-1 "Fewer bugs" --target 10 --owner <at>Bob Smith</at>'
    reply = await teams.say("alice", text, kind="groupChat", entities=[BOT_MENTION, at("29:bob", "Bob Smith")])
    assert "KR-2" in reply
    assert any(c.op == "member" and c.activity_id == "29:bob" for c in connector.calls)  # the roster look-up
    shown = await teams.say("alice", "show KR-2")
    assert "<at>Bob Smith</at>" in shown  # a real mention …
    entities = teams.last("send", "reply").body["attachments"][0]["content"]["msteams"]["entities"]
    assert {"type": "mention", "text": "<at>Bob Smith</at>", "mentioned": {"id": "aad-bob", "name": "Bob Smith"}} in (
        entities
    )


async def test_check_in_card_round_trip(teams: Teams, connector: FakeConnector, db_url: str) -> None:
    """The form through its Action.Submit fallback (a Teams client without Universal Actions)."""
    await setup_okrs(teams)
    await teams.say("alice", "checkin")
    card = teams.last_card()
    assert card_inputs(teams.last("send", "reply")) == {"KR-1.value", "KR-1.confidence", "KR-1.note"}
    assert press(card, "Check in", universal=False) == {
        "okrbot": "checkin", "KR-1.value": "0", "KR-1.confidence": "5"
    }  # fmt: skip

    card_id = "act-card-1"
    bad = {"okrbot": "checkin", "KR-1.value": "lots", "KR-1.confidence": "12", "KR-1.note": "x"}
    reply = await teams.say("alice", "", value=bad, replyToId=card_id)
    assert "KR-1.value" in json.dumps(teams.last("send", "reply").body)  # the card again …
    assert "⚠" in reply  # … with what was wrong
    assert not connector.of("update")
    assert await check_ins(db_url) == 0

    typed = {"KR-1.value": "55", "KR-1.confidence": "8", "KR-1.note": "<at>Bob</at> [x](y)"}
    reply = await teams.say("alice", "", value=press(card, "Check in", typed, universal=False), replyToId=card_id)
    update = teams.last("update")
    assert update.activity_id == card_id and "Checked in 1 key result" in reply
    assert await check_ins(db_url) == 1
    assert "55" in await teams.say("alice", "show KR-1")


def buttons(call: Call) -> list[str]:
    """The commands of every okrbot button a sent card carries."""
    text = json.dumps(call.body)
    return [json.loads(m)["command"] for m in re.findall(r'\{"okrbot": "command", "command": "[^"]*"\}', text)]


def card_inputs(call: Call) -> set[str]:
    return set(re.findall(r'"id": "(KR-\d+\.\w+)"', json.dumps(call.body)))


async def test_a_progress_lines_check_in_button_opens_the_card_for_that_key_result(
    teams: Teams, connector: FakeConnector, db_url: str
) -> None:
    await setup_okrs(teams)
    assert "KR-2" in await teams.say("alice", 'kr add O-1 "Fewer bugs" --target 10')
    text = 'kr add O-1 "Faster pages" --target 5 --owner <at>Bob Smith</at>'
    assert "KR-3" in await teams.say("alice", text, entities=[at("29:bob", "Bob Smith")])
    await teams.say("alice", "list all")
    assert {"checkin KR-1", "checkin KR-2", "checkin KR-3"} <= set(buttons(teams.last("send", "reply")))

    press = {"okrbot": "command", "command": "checkin KR-2"}
    reply = await teams.say("alice", "", value=press, replyToId="act-list")
    assert card_inputs(teams.last("send", "reply")) == {"KR-2.value", "KR-2.confidence", "KR-2.note"}
    assert "Fewer bugs" in reply and "Active teams" not in reply and "missing" not in reply
    good = {"okrbot": "checkin", "KR-2.value": "3", "KR-2.confidence": "6", "KR-2.note": ""}
    assert "Checked in 1 key result" in await teams.say("alice", "", value=good, replyToId="act-one")
    assert teams.last("update").activity_id == "act-one" and await check_ins(db_url) == 1

    # Bob's key result: Alice gets her own card, told why
    reply = await teams.say("alice", "", value={"okrbot": "command", "command": "checkin KR-3"}, replyToId="x")
    assert "KR-3 is not one of your active key results" in reply
    assert card_inputs(teams.last("send", "reply")) == {
        f"KR-{n}.{f}" for n in (1, 2) for f in ("value", "confidence", "note")
    }
    # a button that carries a value still runs as the command it is
    reply = await teams.say("alice", "", value={"okrbot": "command", "command": "checkin KR-1 60 7"}, replyToId="y")
    assert "Checked in KR-1" in reply and await check_ins(db_url) == 2


async def check_ins(db_url: str) -> int:
    db = Database(db_url)
    try:
        async with db.read() as session:
            return len((await session.exec(select(CheckIn))).all())
    finally:
        await db.dispose()


async def refs(db_url: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            rows = (await session.exec(select(ConversationRef, Workspace).join(Workspace))).all()
            return sorted((w.external_id, r.kind, r.key, json.loads(r.data)) for r, w in rows)
    finally:
        await db.dispose()


async def test_conversation_update_and_messages_store_references(teams: Teams, db_url: str) -> None:
    installed = teams.activity("alice", kind="channel")
    installed |= {"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}], "text": None}
    installed["conversation"]["id"] = "19:team@thread.tacv2"
    assert await teams.post(installed) == 201
    personal = teams.activity("bob") | {"type": "installationUpdate", "action": "add", "text": None}
    assert await teams.post(personal) == 201
    await teams.say("carol", "help", tenant="tenant-2")
    stored = [row for row in await refs(db_url) if row[1] != "welcomed"]
    assert [(t, k, key) for t, k, key, _ in stored] == [
        ("tenant-1", "channel", "19:team@thread.tacv2"),
        ("tenant-1", "user", "aad-bob"),
        ("tenant-2", "user", "aad-carol"),
    ]
    greeted = [(t, key) for t, kind, key, _ in await refs(db_url) if kind == "welcomed"]
    assert greeted == [("tenant-1", "19:team@thread.tacv2"), ("tenant-1", "a:personal-bob")]
    team_ref = stored[0][3]
    assert team_ref["teamId"] == "19:team@thread.tacv2"
    assert team_ref["reference"]["serviceUrl"] == teams.connector.service_url
    assert stored[1][3]["userId"] == "29:bob"


async def test_installing_okrbot_says_hello_once_with_the_commands_to_start(
    teams: Teams, connector: FakeConnector
) -> None:
    def team_install(**extra: Any) -> dict[str, Any]:
        activity = teams.activity("alice", kind="channel") | {"text": None, **extra}
        activity["conversation"]["id"] = "19:team@thread.tacv2"
        return activity

    assert await teams.post(team_install(type="conversationUpdate", membersAdded=[{"id": BOT_ID}])) == 201
    hello = connector.posted()
    assert len(hello) == 1 and hello[0].conversation_id == "19:team@thread.tacv2"
    text = card_text(hello[0].body)
    assert "Hi, I'm okrbot" in text and "Mention @okrbot" in text
    assert all(f"{command}: " in text for command in ("help", "checkin", "list mine"))
    assert buttons(hello[0]) == ["help", "checkin", "list mine"]
    # the same install's installationUpdate, and a person joining the team: no second hello
    assert await teams.post(team_install(type="installationUpdate", action="add")) == 201
    assert await teams.post(team_install(type="conversationUpdate", membersAdded=[{"id": "29:bob"}])) == 201
    assert len(connector.posted()) == 1

    personal = teams.activity("bob") | {"type": "installationUpdate", "action": "add", "text": None}
    assert await teams.post(personal) == 201
    hello = connector.posted()[-1]
    assert hello.conversation_id == "a:personal-bob" and "Type a command here" in card_text(hello.body)
    removed = teams.activity("alice") | {"type": "installationUpdate", "action": "remove", "text": None}
    assert await teams.post(removed) == 201
    assert len(connector.posted()) == 2
    # the hello's buttons run their commands
    reply = await teams.say("bob", "", value={"okrbot": "command", "command": "list mine"}, replyToId="hello")
    assert "You own no objectives or key results yet" in reply


async def admins(teams: Teams, user: str) -> dict[str, bool]:
    """Who okrbot holds to be an admin, read from `export json` as the person sees it in Teams."""
    await teams.say(user, "export json")
    box = json.dumps(teams.last("send", "reply").body)
    document = json.loads(json.loads(box)["attachments"][0]["content"]["body"][2]["value"])
    return {m["id"]: m["admin"] for m in document["members"]}


async def test_team_owners_are_admins_where_the_roster_says_so(teams: Teams, connector: FakeConnector) -> None:
    connector.add_member("29:dave", "Dave Jones", "aad-dave")  # the roster says "user"
    connector.add_member("29:erin", "Erin Poe", "aad-erin", role="owner")
    await teams.say("bob", "help")  # the first member: an admin by the first-member rule
    await teams.say("dave", "<at>okrbot</at> help", kind="channel", entities=[BOT_MENTION])
    await teams.say("alice", "<at>okrbot</at> help", kind="channel", entities=[BOT_MENTION])
    assert any(c.op == "member" and c.activity_id == "29:alice" for c in connector.calls)  # asked the roster
    connector.fail("member", 404)  # no roster answer for Erin: an ordinary member, whatever her role
    await teams.say("erin", "<at>okrbot</at> help", kind="channel", entities=[BOT_MENTION])
    assert await admins(teams, "bob") == {"aad-bob": True, "aad-dave": False, "aad-alice": True, "aad-erin": False}
    assert "Only a workspace admin" in await teams.say(
        "dave", "<at>okrbot</at> cycle close 2026-Q4", kind="channel", entities=[BOT_MENTION]
    )


async def test_two_tenants_are_kept_apart(teams: Teams) -> None:
    await setup_okrs(teams)
    other = await teams.say("carol", "list all", tenant="tenant-2")
    assert "Happy customers" not in other
    assert "Happy customers" not in await teams.say("carol", "show O-1", tenant="tenant-2")
    assert "ops" in await teams.say("carol", 'team add ops "Ops"', tenant="tenant-2")
    assert "ops" not in await teams.say("alice", "team list")
    assert "Happy customers" in await teams.say("alice", "list all")


# --- authentication ------------------------------------------------------------------------------


@pytest.fixture
async def secured(db_url: str) -> AsyncIterator[TestClient]:
    app = build_app(
        settings_for(
            db_url,
            MICROSOFT_APP_ID="00000000-0000-0000-0000-0000000000aa",
            MICROSOFT_APP_PASSWORD=SecretStr("not-a-real-secret"),
            MICROSOFT_APP_TENANT_ID="tenant-1",
            MICROSOFT_APP_TYPE="SingleTenant",
        )
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


def forged_token(issuer: str) -> str:
    import datetime as dt

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": issuer,
        "aud": "00000000-0000-0000-0000-0000000000aa",
        "serviceurl": "http://127.0.0.1:1/",
        "nbf": now,
        "exp": now + dt.timedelta(hours=1),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "forged-key"})


async def test_with_an_app_id_missing_or_forged_tokens_get_401_and_change_nothing(
    secured: TestClient, connector: FakeConnector, db_url: str
) -> None:
    teams = Teams(secured, connector)
    activity = teams.activity("alice", 'team add web "Web"')
    assert await teams.post(activity) == 401
    for issuer in ("https://api.botframework.com", "https://evil.example"):
        headers = {"Authorization": f"Bearer {forged_token(issuer)}"}
        assert await teams.post(activity, headers) == 401
    assert await teams.post(activity, {"Authorization": "Bearer not-even-a-jwt"}) == 401
    assert connector.calls == []
    assert await refs(db_url) == []


async def test_without_an_app_id_only_loopback_clients_are_answered(db_url: str, connector: FakeConnector) -> None:
    from adapters.server import SURFACES_KEY

    app = build_app(settings_for(db_url, MICROSOFT_APP_ID=""))
    line = next(s for s in app[SURFACES_KEY] if str(s).startswith("teams"))
    assert "AUTHENTICATION OFF" in line and "loopback" in line
    async with TestClient(TestServer(app, host="0.0.0.0")) as test_client:
        teams = Teams(test_client, connector)
        activity = teams.activity("alice", "help")
        outside = await test_client.session.post(f"http://192.0.2.2:{test_client.port}/api/messages", json=activity)
        assert outside.status == 403
        assert await teams.post(activity, {"X-Forwarded-For": "203.0.113.9"}) == 403  # relayed by a proxy
        assert connector.calls == []
        assert await teams.post(activity) == 201  # loopback, direct
    assert await refs(db_url) != []


async def test_a_repeated_turn_rewrites_no_reference_and_a_stored_one_holds_nothing_per_message(
    teams: Teams, db_url: str
) -> None:
    """Every turn offers its reference; only a changed one is written, by this process or by a
    second server on the same database. Nothing per message is kept (the activity id, a channel
    thread's ;messageid=, who spoke last in a channel), so repeats are the same row."""
    from adapters.teams.references import References

    async def stamps() -> list[tuple[str, str, dt.datetime]]:
        db = Database(db_url)
        try:
            async with db.read() as session:
                return sorted(
                    (r.kind, r.key, r.updated_at) for r in (await session.exec(select(ConversationRef))).all()
                )
        finally:
            await db.dispose()

    await teams.say("alice", "help")
    await teams.say("alice", "<at>okrbot</at> help", kind="channel", entities=[BOT_MENTION])
    first = await stamps()
    await teams.say("alice", "list mine")
    await teams.say("bob", "<at>okrbot</at> help", kind="channel", entities=[BOT_MENTION])
    assert await stamps() == first  # the same two rows, not written again

    stored = {(kind, key): data for _tenant, kind, key, data in await refs(db_url)}
    channel = stored[("channel", "19:general@thread.tacv2")]["reference"]
    personal = stored[("user", "aad-alice")]["reference"]
    assert "activityId" not in channel and "activityId" not in personal
    assert channel["conversation"]["id"] == "19:general@thread.tacv2" and "user" not in channel
    assert personal["user"]["id"] == "29:alice"

    other_server = Database(db_url)  # a second okrbot serve: compares with the row before writing
    try:
        activity = Activity().deserialize(teams.activity("alice", "help"))
        await References(other_server).remember(activity)
    finally:
        await other_server.dispose()
    assert await stamps() == first


def images_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Image":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def test_digest_all_and_tree_carry_the_value_chain_map_in_the_card(teams: Teams) -> None:
    await setup_okrs(teams)
    for line in ('capability add build "Build"', 'capability add run "Run"',
                 'objective add "Build it" --team web --capability build'):  # fmt: skip
        await teams.say("alice", line)
    for text in ("digest all", "tree"):
        await teams.say("alice", text)
        (image,) = [i for i in images_of(teams.last_card()) if "Value chain" in i.get("altText", "")]
        assert image["altText"].endswith("2 stages, 1 team; gaps: Run; fed by one team only: Build."), text
        assert image["url"].startswith("data:image/png;base64,")
