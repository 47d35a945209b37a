"""The Slack surface end to end: signed requests into the real server app, the fake Slack API behind."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import SECRET, TOKEN, FakeSlack, SlackClient, sign
from sqlalchemy import text

from adapters.server import DB_KEY, build_app
from adapters.settings import Settings, SlackSettings
from adapters.slack.mount import ADAPTER_KEY
from store.db import Database

FORM = "application/x-www-form-urlencoded"


def settings_for(db_url: str, fake: FakeSlack, **slack: Any) -> Settings:
    values = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": TOKEN, "OKRBOT_SLACK_API_URL": fake.api_url, **slack}
    return Settings(database_url=db_url, slack=SlackSettings(**values))


async def start(db_url: str, fake: FakeSlack, **slack: Any) -> SlackClient:
    app = build_app(settings_for(db_url, fake, **slack))
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    return SlackClient(http, fake)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", tz="Europe/Paris", admin=True)
    fake.add_user("UBOB", "Bob", tz="America/New_York")
    yield fake
    await fake.close()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack) -> AsyncIterator[SlackClient]:
    client = await start(db_url, fake)
    yield client
    await client.http.close()


async def count(db_url: str, table: str) -> int:
    db = Database(db_url)
    try:
        async with db.read() as session:
            return (await session.exec(text(f"SELECT count(*) FROM {table}"))).one()[0]  # type: ignore[call-overload]
    finally:
        await db.dispose()


def reply_text(reply) -> str:
    return json.dumps(reply, ensure_ascii=False)


async def setup_okrs(slack: SlackClient) -> None:
    for line in (
        'team add growth "Growth"',
        "team join growth",
        'objective add "Grow &lt;!channel&gt; usage" --team growth',
        'kr add O-1 "Active teams" --target 100 --unit users',
    ):
        reply = await slack.slash("UALICE", line)
        assert reply["response_type"] == "ephemeral", reply


async def test_slash_commands_are_acked_with_ephemeral_replies(slack: SlackClient, fake: FakeSlack, db_url: str):
    started = time.monotonic()
    reply = await slack.slash("UALICE", "help")
    assert time.monotonic() - started < 3
    assert reply["response_type"] == "ephemeral" and reply["blocks"]
    await setup_okrs(slack)
    reply = await slack.slash("UALICE", "checkin KR-1 40 7 good week")
    assert "KR-1" in reply_text(reply) and reply["response_type"] == "ephemeral"
    assert await count(db_url, "check_in") == 1
    for line in ("list", "list all", "show KR-1", "show O-1", "team list", "capability list", "cycle list"):
        reply = await slack.slash("UALICE", line)
        assert reply["response_type"] == "ephemeral" and reply["blocks"], line
    # identity from users.info, cached: one call per person
    assert [c.args["user"] for c in fake.of("users.info")].count("UALICE") == 1


async def test_an_api_token_is_shown_only_to_the_admin_who_made_it(slack: SlackClient, db_url: str):
    await slack.slash("UALICE", "help")  # the workspace's first person is its admin
    reply = await slack.slash("UALICE", "token add ci-deploys")
    assert reply["response_type"] == "ephemeral" and re.search(r"okr_[A-Za-z0-9_-]{43}", reply_text(reply))
    assert await count(db_url, "api_token") == 1
    reply = await slack.slash("UBOB", "token add mine")
    assert reply["response_type"] == "ephemeral" and "Only a workspace admin" in reply_text(reply)
    assert await count(db_url, "api_token") == 1


async def test_escaping_and_mentions(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    reply = await slack.slash("UALICE", "show O-1")
    rendered = reply_text(reply)
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    reply = await slack.slash("UALICE", 'kr add O-1 "Signups" --target 10 --owner <@UBOB|bob>')
    assert reply["response_type"] == "ephemeral"
    reply = await slack.slash("UALICE", "show KR-2")
    assert "<@UBOB>" in reply_text(reply)  # a real mention of Bob, by id


async def test_bad_command_gets_one_clear_ephemeral_sentence(slack: SlackClient):
    reply = await slack.slash("UALICE", "checkin KR-99 x")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith('The value must be a number like 42, an amount to add like +5, or a share of the '
                                    'way to the target like 55%, not "x". Use: checkin KR-n '), reply  # fmt: skip
    reply = await slack.slash("UALICE", "frobnicate")
    assert reply["response_type"] == "ephemeral" and "frobnicate" in reply_text(reply)


async def test_digest_is_posted_in_channel_with_chart_in_thread(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UALICE", "checkin KR-1 40 7")
    reply = await slack.slash("UALICE", "digest team growth")
    assert reply == ""  # acked at once; the digest follows
    posts = await fake.wait_for("chat.postMessage")
    assert posts[0].args["channel"] == "C1" and posts[0].args["blocks"]
    await fake.wait_for("files.completeUploadExternal")
    complete = fake.of("files.completeUploadExternal")[0].args
    assert complete["channel_id"] == "C1" and complete["thread_ts"].startswith("1700000000.")  # in the thread
    assert fake.of("upload")[0].args["body"].startswith(b"\x89PNG")


async def test_digest_all_uploads_the_value_chain_map_with_alt_text_naming_the_gaps(
    slack: SlackClient, fake: FakeSlack
):
    await setup_okrs(slack)
    for line in ('capability add build "Build"', 'capability add run "Run"',
                 'objective add "Build it" --team growth --capability build'):  # fmt: skip
        reply = await slack.slash("UALICE", line)
        assert reply["response_type"] == "ephemeral", reply
    assert await slack.slash("UALICE", "digest all") == ""
    (complete,) = [c.args for c in await fake.wait_for("files.completeUploadExternal")]
    (asked,) = [c.args for c in fake.of("files.getUploadURLExternal")]  # Slack takes the alt text here
    assert asked["filename"] == "value-chain.png" and asked["alt_txt"].startswith("Value chain · ")
    assert asked["alt_txt"].endswith(": 2 stages, 1 team; gaps: Run; fed by one team only: Build.")
    assert complete["channel_id"] == "C1" and complete["thread_ts"]  # in the digest's thread
    png = fake.of("upload")[0].args["body"]
    assert png.startswith(b"\x89PNG") and struct.unpack(">II", png[16:24])[0] <= 1600


async def test_export_is_uploaded_as_a_file_in_a_dm(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UALICE", "export csv")
    await fake.wait_for("files.completeUploadExternal")
    assert fake.of("conversations.open")[0].args["users"] == "UALICE"
    assert b"Active teams" in fake.of("upload")[0].args["body"]
    notes = await fake.wait_for("response_url")
    assert notes[-1].args["response_type"] == "ephemeral"


async def test_checkin_modal_round_trip_with_field_errors(slack: SlackClient, fake: FakeSlack, db_url: str):
    await setup_okrs(slack)
    assert await slack.slash("UALICE", "checkin") == ""
    opened = (await fake.wait_for("views.open"))[0].args
    assert opened["trigger_id"] == "trig-UALICE"
    view = opened["view"]
    assert {b.get("block_id") for b in view["blocks"]} >= {"KR-1.value", "KR-1.confidence", "KR-1.note"}
    response = await slack.submit("UALICE", view, {"KR-1.value": "lots", "KR-1.confidence": "8"})
    body = await response.json()
    assert body["response_action"] == "errors" and "KR-1.value" in body["errors"]
    assert await count(db_url, "check_in") == 0
    response = await slack.submit("UALICE", view, {"KR-1.value": "55", "KR-1.confidence": "8", "KR-1.note": "<!here>"})
    assert response.status == 200 and (await response.text()) == ""
    confirmation = (await fake.wait_for("chat.postEphemeral"))[0].args
    assert confirmation["channel"] == "C1" and confirmation["user"] == "UALICE"
    assert await count(db_url, "check_in") == 1
    reply = await slack.slash("UALICE", "show KR-1")
    assert "55" in reply_text(reply) and "<!here>" not in reply_text(reply)


async def test_web_api_calls_share_one_keep_alive_connection(slack: SlackClient, fake: FakeSlack):
    """slack_sdk opens a connection per call unless given a session: with slack.com that is a TLS
    handshake before every views.open."""
    await setup_okrs(slack)
    for n in range(1, 4):  # one after another: concurrent calls may each take a connection of the pool
        response = await slack.click("UALICE", "okr_checkin:KR-1", "KR-1")
        assert response.status == 200
        opened = await fake.wait_for("views.open", n)
    calls = [*fake.of("users.info"), *opened]
    assert len({call.peer for call in calls}) == 1, [call.peer for call in calls]


async def test_checkin_button_opens_the_modal_for_that_kr(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UALICE", 'kr add O-1 "Second" --target 5')
    reply = await slack.slash("UALICE", "show KR-1")
    buttons = [b["accessory"] for b in reply["blocks"] if "accessory" in b]
    assert buttons and buttons[0]["value"] == "KR-1"
    response = await slack.click("UALICE", buttons[0]["action_id"], buttons[0]["value"])
    assert response.status == 200
    view = (await fake.wait_for("views.open"))[0].args["view"]
    block_ids = {b.get("block_id") for b in view["blocks"]}
    assert "KR-1.value" in block_ids and "KR-2.value" not in block_ids


async def test_checkin_button_for_a_kr_not_yours_opens_the_whole_form_saying_so(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    assert "KR-2" in reply_text(await slack.slash("UALICE", 'kr add O-1 "Bob\'s" --target 5 --owner <@UBOB>'))
    response = await slack.click("UALICE", "okr_checkin:KR-2", "KR-2")
    assert response.status == 200
    view = (await fake.wait_for("views.open"))[0].args["view"]
    block_ids = {b.get("block_id") for b in view["blocks"]}
    assert view["callback_id"] == "okr_checkin_form"  # still a form, as on Teams and in the web chat
    assert "KR-1.value" in block_ids and "KR-2.value" not in block_ids
    assert view["blocks"][0]["type"] == "context"
    assert "KR-2 is not one of your active key results" in json.dumps(view["blocks"][0])


async def test_run_button_answers_through_response_url(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    response = await slack.click("UALICE", "okr_run:0", "show KR-1")
    assert response.status == 200
    answer = (await fake.wait_for("response_url"))[-1].args
    assert answer["response_type"] == "ephemeral" and "KR-1" in json.dumps(answer["blocks"])


async def test_app_home_is_published(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    response = await slack.event({"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"})
    assert response.status == 200
    published = (await fake.wait_for("views.publish"))[0].args
    assert published["user_id"] == "UALICE" and published["view"]["type"] == "home"
    rendered = json.dumps(published["view"])
    assert "KR-1" in rendered and "growth" in rendered and "okr_checkin" in rendered
    assert "<!channel>" not in rendered
    # the home's check-in button opens the modal
    await slack.click("UALICE", "okr_run:0", "checkin", from_home=True)
    assert (await fake.wait_for("views.open"))[0].args["view"]["callback_id"]


async def test_app_home_shows_the_value_chain_map_of_my_teams(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UALICE", 'capability add build "Build"')
    await slack.slash("UALICE", 'objective add "Build it" --team growth --capability build')
    event = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}
    assert (await slack.event(event, event_id="EvHome1")).status == 200
    view = (await fake.wait_for("views.publish"))[0].args["view"]
    (upload,) = fake.of("files.completeUploadExternal")
    assert "channel_id" not in upload.args  # shared in no channel: App Home shows it by its id
    (asked,) = fake.of("files.getUploadURLExternal")
    assert asked.args["filename"] == "value-chain-growth.png" and "team growth" in asked.args["alt_txt"]
    image = view["blocks"][-1]
    assert image["type"] == "image" and image["slack_file"] == {"id": asked.answer["file_id"]}
    assert image["alt_text"] == asked.args["alt_txt"]
    assert (await slack.event(event, event_id="EvHome2")).status == 200
    await fake.wait_for("views.publish", 2)
    assert len(fake.of("files.completeUploadExternal")) == 1  # the same picture: not uploaded again
    assert fake.of("views.publish")[1].args["view"]["blocks"][-1] == image


async def test_event_retries_run_once(slack: SlackClient, fake: FakeSlack):
    event = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}
    assert (await slack.event(event, event_id="EvR")).status == 200
    await fake.wait_for("views.publish")
    retry = await slack.event(
        event, event_id="EvR", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry.status == 200
    await slack.event({**event, "user": "UBOB"}, event_id="EvOther")
    await fake.wait_for("views.publish", 2)
    assert [c.args["user_id"] for c in fake.of("views.publish")] == ["UALICE", "UBOB"]


@pytest.mark.parametrize("case", ["missing", "wrong", "stale", "replayed"])
async def test_bad_signatures_get_401_and_write_nothing(slack: SlackClient, fake: FakeSlack, db_url: str, case: str):
    body = slack.form(team_id="T1", user_id="UALICE", channel_id="C1", command="/okr", text='team add x "X"',
                      response_url=fake.response_url(), trigger_id="t")  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if case == "wrong":
        headers |= sign(body, secret="not-the-secret")
    elif case == "stale":
        headers |= sign(body, timestamp=int(time.time()) - 6 * 60)
    elif case == "replayed":  # a real signature, for another body
        headers |= sign(body.replace("team+add+x", "help"))
    response = await slack.http.post("/slack/events", data=body.encode(), headers=headers)
    assert response.status == 401
    assert await count(db_url, "team") == 0 and await count(db_url, "workspace") == 0
    assert fake.calls == []


async def test_app_home_shows_the_member_s_own_teams_only(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UBOB", 'team add sales "Sales"')
    await slack.slash("UBOB", 'objective add "Close the quarter" --team sales')
    await slack.event({"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}, event_id="EvA")
    rendered = json.dumps((await fake.wait_for("views.publish"))[0].args["view"])
    assert "Team growth" in rendered and "Close the quarter" not in rendered and "Team sales" not in rendered
    await slack.event({"type": "app_home_opened", "user": "UCAROL", "channel": "D2", "tab": "home"}, event_id="EvB")
    rendered = json.dumps((await fake.wait_for("views.publish", 2))[1].args["view"])
    assert "no team yet" in rendered and "Team growth" not in rendered


@pytest.mark.parametrize("event", [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"bot": ["UB"]}}])
async def test_single_workspace_uninstall_events_are_answered(slack: SlackClient, fake: FakeSlack, event, caplog):
    caplog.set_level("INFO", logger="adapters.slack.adapter")
    response = await slack.event(event, event_id=f"Ev-{event['type']}")
    assert response.status == 200
    for _ in range(100):
        if any(event["type"].split("_")[-1] in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "T1" in logged and TOKEN not in logged
    assert (await slack.slash("UALICE", "help"))["response_type"] == "ephemeral"  # still serving


async def test_a_retry_reaching_another_instance_is_not_run_again(slack: SlackClient, fake: FakeSlack, db_url: str):
    other = await start(db_url, fake)  # a second instance on the same database (or this one restarted)
    try:
        event = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}
        assert (await slack.event(event, event_id="EvTwice")).status == 200
        await fake.wait_for("views.publish")
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert (await other.event(event, event_id="EvTwice", headers=retry)).status == 200
        assert (await other.event({**event, "user": "UBOB"}, event_id="EvNew")).status == 200
        await fake.wait_for("views.publish", 2)
        await asyncio.sleep(0.2)
        assert [c.args["user_id"] for c in fake.of("views.publish")] == ["UALICE", "UBOB"]
        assert await count(db_url, "slack_event") == 2
    finally:
        await other.http.close()


async def test_oversized_and_malformed_bodies_are_refused_cleanly(slack: SlackClient, db_url: str):
    huge = "text=" + "x" * (1024 * 1024)
    response = await slack.post(huge, "application/x-www-form-urlencoded")
    assert response.status == 413
    for body, kind in (('{"type": "event_callback", ', "application/json"), ("payload=%7Bnot+json", FORM),
                       ("\xff\xfe", FORM)):  # fmt: skip
        signed = {**sign(body), "Content-Type": kind}
        response = await slack.http.post("/slack/events", data=body.encode("latin-1"), headers=signed)
        # read before the signature is checked: even the wrongly signed non-UTF-8 body is a 400
        assert (response.status, await response.text()) == (400, "The request body could not be read."), body
    response = await slack.post('{"type": "event_callback", ', "application/json")
    assert response.status == 400
    assert (await slack.slash("UALICE", "help"))["response_type"] == "ephemeral"  # the server is fine
    assert await count(db_url, "workspace") == 1


def test_oauth_asks_for_the_manifest_s_scopes():
    from adapters.slack.mount import SCOPES

    with open("adapters/slack/manifest.yml", encoding="utf-8") as f:
        lines = [line.split("#")[0].rstrip() for line in f]
    start, end = lines.index("    bot:") + 1, lines.index("settings:")
    assert tuple(line.strip()[2:] for line in lines[start:end] if line.startswith("      - ")) == SCOPES


# --- the answer to Slack goes out when the listener returns: nothing slow before it --------------

ANSWER_IN = 5.0  # seconds: far more than any ack here takes, far less than a held call waits
HOME = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}


async def answered(request: Any) -> Any:
    """The HTTP answer to Slack, which must not wait for a held Web API call."""
    return await asyncio.wait_for(request, ANSWER_IN)


async def test_bolt_answers_as_soon_as_the_listener_returns(slack: SlackClient):
    """Bolt's default runs the listener as a task and looks for the ack every 10 ms."""
    assert slack.http.app[ADAPTER_KEY].app.process_before_response is True


async def test_answers_do_not_wait_for_the_work_after_the_ack(slack: SlackClient, fake: FakeSlack, db_url: str):
    """With Bolt answering when a listener returns, each listener returns at its ack and leaves
    the rest to a background task: a Slack API that is slow to answer holds no answer back."""
    await setup_okrs(slack)
    await slack.slash("UALICE", "checkin KR-1 40 7")

    posted = fake.hold("chat.postMessage")  # the digest's post arrives, and waits for its answer
    assert await answered(slack.slash("UALICE", "digest team growth")) == ""
    await fake.wait_for("chat.postMessage")
    mine = await answered(slack.slash("UALICE", "list mine"))  # a fast command rides on its ack meanwhile
    assert mine["response_type"] == "ephemeral" and "KR-1" in reply_text(mine)
    assert not fake.of("files.completeUploadExternal")  # the digest is still waiting on its post
    posted.set()
    await fake.wait_for("files.completeUploadExternal")  # then its chart follows in the thread

    opened = fake.hold("views.open")
    assert await answered(slack.slash("UALICE", "checkin")) == ""
    view = (await fake.wait_for("views.open"))[0].args["view"]
    opened.set()

    confirmed = fake.hold("chat.postEphemeral")
    response = await answered(slack.submit("UALICE", view, {"KR-1.value": "55", "KR-1.confidence": "8"}))
    assert response.status == 200 and await response.text() == ""
    await fake.wait_for("chat.postEphemeral")
    confirmed.set()
    assert await count(db_url, "check_in") == 2

    responded = fake.hold("response_url")
    assert (await answered(slack.click("UALICE", "okr_run:0", "show KR-1"))).status == 200
    await fake.wait_for("response_url")
    responded.set()

    published = fake.hold("views.publish")
    assert (await answered(slack.event(HOME, event_id="EvHeld"))).status == 200
    await fake.wait_for("views.publish")
    published.set()


async def test_work_after_the_ack_fails_in_the_log_not_in_the_answer(
    slack: SlackClient, fake: FakeSlack, caplog, monkeypatch
):
    caplog.set_level("INFO", logger="adapters.slack.adapter")
    adapter = slack.http.app[ADAPTER_KEY]

    async def broken(*_: Any) -> list[str]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(adapter, "team_keys", broken)
    assert (await slack.event(HOME, event_id="EvFails")).status == 200  # answered before the work failed
    for _ in range(100):  # bounded: the Home tab is built after the event's ack
        if "App Home failed after the ack" in caplog.text:
            break
        await asyncio.sleep(0.02)
    assert "slack App Home failed after the ack" in caplog.text and "the database went away" in caplog.text
    assert not adapter._tasks and not fake.of("views.publish")  # done with, and let go
    assert (await slack.slash("UALICE", "help"))["response_type"] == "ephemeral"  # still serving


async def test_shutdown_lets_replies_in_flight_finish_then_cancels_the_rest(
    slack: SlackClient, fake: FakeSlack, caplog
):
    adapter = slack.http.app[ADAPTER_KEY]
    await setup_okrs(slack)
    posted = fake.hold("chat.postMessage")
    assert await slack.slash("UALICE", "digest team growth") == ""
    await fake.wait_for("chat.postMessage")
    closing = asyncio.create_task(adapter.close(grace=5))
    await asyncio.sleep(0.2)
    assert not closing.done()  # waiting for the digest
    posted.set()
    await asyncio.wait_for(closing, 5)
    assert fake.of("files.completeUploadExternal") and not adapter._tasks  # the digest finished

    caplog.set_level("WARNING", logger="adapters.slack.adapter")
    published = fake.hold("views.publish")
    await slack.event(HOME, event_id="EvCut")
    await fake.wait_for("views.publish")
    await asyncio.wait_for(adapter.close(grace=0.2), 5)  # the publish never answers in time: cancelled
    assert not adapter._tasks and "1 replies still running after 0.2 s: cancelled" in caplog.text
    published.set()


async def test_socket_mode_acks_through_the_same_listeners(db_url: str, fake: FakeSlack):
    """Socket Mode answers each envelope once Bolt returns: the same rule, no HTTP in between."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

    app = build_app(settings_for(db_url, fake, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN="xapp-test"))
    adapter = app[ADAPTER_KEY]  # the server is not started: it would connect to Slack's WebSocket
    handler = AsyncSocketModeHandler(adapter.app, "xapp-test")
    acks: list[Any] = []

    class Socket:
        logger = logging.getLogger("test.socket")

        async def send_socket_mode_response(self, response: Any) -> None:
            acks.append(response)

    async def slash(n: int, text: str) -> dict[str, Any]:
        payload = {"team_id": "T1", "channel_id": "C1", "user_id": "UALICE", "user_name": "alice",
                   "command": "/okr", "text": text, "response_url": fake.response_url(f"sm{n}"),
                   "trigger_id": f"trig-sm{n}", "api_app_id": "A1"}  # fmt: skip
        request = SocketModeRequest(type="slash_commands", envelope_id=f"env{n}", payload=payload)
        await asyncio.wait_for(handler.handle(Socket(), request), ANSWER_IN)  # type: ignore[arg-type]
        assert acks[-1].envelope_id == f"env{n}"
        return acks[-1].payload or {}

    try:
        for n, line in enumerate(('team add growth "Growth"', "team join growth",
                                  'objective add "Grow" --team growth', 'kr add O-1 "Teams" --target 10')):  # fmt: skip
            assert (await slash(n, line))["response_type"] == "ephemeral"
        posted = fake.hold("chat.postMessage")
        assert await slash(10, "digest team growth") == {}  # acked while the digest's post is held
        await fake.wait_for("chat.postMessage")
        assert "KR-1" in json.dumps(await slash(11, "list mine"))
        posted.set()
        await fake.wait_for("files.completeUploadExternal")
    finally:
        await adapter.close()
        await handler.client.close()
        await app[DB_KEY].dispose()


async def test_a_deactivated_account_is_marked_left_and_a_reactivated_one_back(slack: SlackClient, db_url: str):
    await slack.slash("UBOB", "help")  # okrbot knows bob
    for deleted, expected, event_id in ((True, 1, "EvGone"), (False, 0, "EvBack")):
        event = {"type": "user_change", "user": {"id": "UBOB", "deleted": deleted, "name": "bob"}}
        assert (await slack.event(event, event_id=event_id)).status == 200
        for _ in range(100):  # bounded: the change is written after the ack
            if await _left(db_url) == expected:
                break
            await asyncio.sleep(0.02)
        assert await _left(db_url) == expected
    for odd in ({"type": "user_change"}, {"type": "user_change", "user": "UBOB"}, {"type": "user_change", "user": {}}):
        assert (await slack.event(odd, event_id=f"EvOdd{len(str(odd))}")).status == 200  # nothing happens


async def _left(db_url: str) -> int:
    return await count(db_url, "member WHERE external_id = 'UBOB' AND left_at IS NOT NULL")
