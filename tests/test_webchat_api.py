"""The web chat's HTTP edge in process: who it answers, what it refuses, and how pushes reach
the right pages (a direct message to its person only, a channel post to everyone's page)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_deploy_serve import PLATFORM_VARIABLES

from adapters.server import DB_KEY, build_app, outbounds
from adapters.settings import Settings
from adapters.webchat.hub import Hub
from adapters.webchat.mount import OUTBOUND_KEY
from adapters.webchat.render import to_json
from bot.command import WorkspaceRef
from bot.messages import Actions, Button, Message, Text, UserText
from scheduler.ops import send
from store.migrate import upgrade_async

ACME = WorkspaceRef("local", "acme", "acme")


@pytest.fixture
async def client(tmp_path, monkeypatch):
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await upgrade_async(url)
    settings = Settings(OKRBOT_DATABASE_URL=url)
    app = build_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def command(http: TestClient, text: str, *, user: str = "alice", pane: str = "channel", **extra):
    body = {"workspace": "acme", "user": user, "pane": pane, "text": text, **extra}
    return await http.post("/api/webchat/command", json=body)


async def next_event(stream) -> dict:  # type: ignore[no-untyped-def]
    """The next ``data:`` of a server-sent event stream (comments skipped)."""
    async with asyncio.timeout(5):
        while True:
            line = (await stream.content.readline()).decode()
            if line.startswith("data: "):
                return json.loads(line.removeprefix("data: "))


def test_user_text_goes_out_as_data_for_the_page_to_show_as_text():
    message = Message.of(Text(("Created ", UserText("<img src=x onerror=alert(1)>"), ".")))
    blocks = to_json(message)["blocks"]
    assert blocks == [
        {"type": "text", "strong": False, "text": [
            {"text": "Created "}, {"text": "<img src=x onerror=alert(1)>", "user": True}, {"text": "."}]}
    ]  # fmt: skip


async def test_page_is_served_with_a_strict_content_security_policy(client):
    response = await client.get("/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "/webchat/app.js" in await response.text()
    script = await client.get("/webchat/app.js")
    assert script.status == 200 and "innerHTML" not in (await script.text()).replace("never through innerHTML", "")
    assert (await client.get("/webchat/../mount.py")).status == 404


async def test_a_command_answers_and_a_first_speaker_becomes_a_member(client):
    reply = await (await command(client, "/okr team add web Web")).json()
    assert "Created team web" in reply["message"]["text"]
    members = await (await client.get("/api/webchat/workspace", params={"workspace": "acme"})).json()
    assert members["members"] == [{"id": "alice", "name": "alice", "admin": True}]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Host": "okrbot.example.com"}, "a name that is not this machine (DNS rebinding)"),
        ({"X-Forwarded-For": "203.0.113.9"}, "relayed by a proxy"),
    ],
)
async def test_only_this_machine_is_answered(client, headers, why):
    response = await client.get("/", headers=headers)
    assert response.status == 403, why
    assert "OKRBOT_WEBCHAT_PUBLIC=true" in await response.text()


async def test_requests_from_another_page_or_not_json_are_refused(client):
    other = await client.post("/api/webchat/command", json={"text": "help"}, headers={"Origin": "https://evil.example"})
    assert other.status == 403
    form = await client.post("/api/webchat/command", data="text=help")
    assert form.status == 415
    bad_name = await command(client, "help", user="<script>")
    assert bad_name.status == 400
    assert "one word" in (await bad_name.json())["error"]


async def test_pushes_reach_the_right_pages_live(client):
    outbound = client.app[OUTBOUND_KEY]
    assert outbounds(Settings(), None, client.app)["local"] is outbound  # type: ignore[arg-type]
    alice = await client.get("/api/webchat/events", params={"workspace": "acme", "user": "alice"})
    bob = await client.get("/api/webchat/events", params={"workspace": "acme", "user": "bob"})
    assert alice.headers["Content-Type"].startswith("text/event-stream")
    await asyncio.sleep(0.1)  # both streams are listening

    await outbound.send_direct(ACME, "bob", Message.of(Text(("Time to check in",))))
    await outbound.post_channel(ACME, "general", Message.of(Text(("Digest",))))
    await outbound.post_channel(ACME, "dm:alice", Message.of(Text(("Your digest",))))

    got_bob = [await next_event(bob), await next_event(bob)]
    assert [(e["pane"], e["message"]["text"]) for e in got_bob] == [
        ("direct", "Time to check in"),
        ("channel", "Digest"),
    ]
    got_alice = [await next_event(alice), await next_event(alice)]
    assert [(e["pane"], e["message"]["text"]) for e in got_alice] == [("channel", "Digest"), ("direct", "Your digest")]

    # a reply for the whole channel shows on the other pages too, with who said what
    await command(client, "team add web Web", user="alice", client="page-1")
    await command(client, 'objective add "Ship it" --team web', user="alice", client="page-1")
    posted = await command(client, "digest team web", user="alice", client="page-1")
    assert posted.status == 200
    seen = await next_event(bob)
    assert seen["kind"] == "reply" and seen["from"] == "alice" and seen["client"] == "page-1"
    alice.close()
    bob.close()


async def test_a_pushed_prompt_carries_no_change_which_answers_in_its_place(client):
    await command(client, "team add web Web")
    await command(client, 'objective add "Ship it" --team web')
    await command(client, 'kr add O-1 "Pages served" --target 100')
    await command(client, 'kr add O-1 "Pages fixed" --target 10')
    alice = await client.get("/api/webchat/events", params={"workspace": "acme", "user": "alice"})
    await asyncio.sleep(0.1)  # the stream is listening

    queued, _stats, _pending = await send(client.app[DB_KEY], outbounds(Settings(), None, client.app), "prompts",
                                          team="web", workspace="acme")  # type: ignore[arg-type]  # fmt: skip
    assert queued == 1
    prompt = await next_event(alice)
    assert (prompt["pane"], prompt["kind"]) == ("direct", "push")
    kinds = [block["type"] for block in prompt["message"]["blocks"]]
    assert kinds.index("actions") == kinds.index("form") + 1  # beside the form's Check in
    [actions] = [block for block in prompt["message"]["blocks"] if block["type"] == "actions"]
    assert actions["buttons"] == [
        {"label": "No change", "command": "no change KR-1 KR-2", "style": "default", "replaces": True}
    ]

    # what the page sends when it is clicked, from the direct-message pane
    first = (await (await command(client, "no change KR-1 KR-2", pane="direct")).json())["message"]
    assert not first["error"] and first["text"].startswith("No change ✓ recorded for KR-1, KR-2 on ")
    again = (await (await command(client, "no change KR-1 KR-2", pane="direct")).json())["message"]
    assert not again["error"] and again["text"].startswith("Nothing more recorded: KR-1, KR-2 already checked in")
    shown = (await (await command(client, "show KR-1")).json())["message"]
    assert shown["text"].count("no change") == 1
    alice.close()


def test_other_buttons_run_below_their_message():
    message = Message.of(Actions((Button("Check in", "checkin KR-7"),)))
    assert to_json(message)["blocks"][0]["buttons"][0]["replaces"] is False


async def test_a_page_that_reconnects_gets_what_it_missed():
    hub = Hub()
    first = hub.publish("acme", "channel", "general", {"n": 1})
    hub.publish("acme", "direct", "bob", {"n": 2})
    hub.publish("acme", "channel", "general", {"n": 3})
    hub.publish("other", "channel", "general", {"n": 4})
    stream = hub.listen("acme", "alice", after=first.id - 1)
    got = [await anext(stream), await anext(stream)]
    assert [e.data["n"] for e in got] == [1, 3]
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_digest_all_shows_the_value_chain_map_inline(client):
    for line in (
        "team add web Web",
        'capability add build "Build"',
        'objective add "Ship it" --team web --capability build',
    ):
        assert (await command(client, line)).status == 200
    for text in ("digest all", "tree"):
        message = (await (await command(client, text)).json())["message"]
        (image,) = [b for b in message["blocks"] if b["type"] == "image" and b["name"] == "value-chain.png"]
        assert image["src"].startswith("data:image/png;base64,")
        assert image["alt"].endswith("1 stage, 1 team; no gaps; fed by one team only: Build."), image["alt"]


async def test_grade_answers_with_a_form_whose_submit_grades_all_or_nothing(client):
    for line in ("team add web Web", 'objective add "Ship" --team web', 'kr add O-1 "Users" --target 10',
                 'kr add O-1 "Pages" --target 4', "checkin KR-1 5"):  # fmt: skip
        assert not (await (await command(client, line)).json())["message"]["error"]
    reply = (await (await command(client, "grade")).json())["message"]
    (form,) = [b for b in reply["blocks"] if b["type"] == "form"]
    assert form["action"] == "grade"
    fields = {f["name"]: f["initial"] for g in form["groups"] for f in g["fields"]}
    assert fields == {"KR-1.score": "0.50", "KR-2.score": "0.00"}
    body = {"workspace": "acme", "user": "alice", "pane": "channel", "action": "grade"}
    wrong = await (
        await client.post("/api/webchat/form", json={**body, "values": {**fields, "KR-2.score": "-1"}})
    ).json()
    assert set(wrong["errors"]) == {"KR-2.score"}
    assert "Score" not in (await (await command(client, "show KR-1")).json())["message"]["text"]
    right = await (await client.post("/api/webchat/form", json={**body, "values": fields})).json()
    assert not right["errors"] and "Graded 2 key results" in right["message"]["text"]
    assert "Score: 0.50" in (await (await command(client, "show KR-1")).json())["message"]["text"]
