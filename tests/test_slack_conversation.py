"""Talking to okrbot in Slack: its DM, a mention in a channel, and the weekly prompt answered in
one click, in place. Signed events and clicks go into the real app; the fake Slack API records."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.slack_api import Call, FakeSlack, SlackClient
from sqlalchemy import text
from test_slack_app import count, setup_okrs, start

from adapters.slack.mount import ADAPTER_KEY, OUTBOUND_KEY
from scheduler.dispatch import Dispatcher
from scheduler.runs import matching_schedules, send_now
from store.db import Database
from store.models import SQLModel, utcnow


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


#: okrbot's own bookkeeping of the event ids it has run: written for every event, even one left alone.
BOOKKEEPING = {"slack_event"}


async def rows(db_url: str, query: str) -> list[tuple[Any, ...]]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            return [tuple(row) for row in (await session.exec(text(query))).all()]  # type: ignore[call-overload]
    finally:
        await db.dispose()


async def snapshot(db_url: str) -> dict[str, int]:
    """How many rows each of okrbot's tables holds."""
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name not in BOOKKEEPING]
    return {name: await count(db_url, name) for name in tables}


async def settled(slack: SlackClient, seconds: float = 10.0) -> None:
    """Wait (bounded) until the work okrbot started after its acks is done."""
    adapter = slack.http.app[ADAPTER_KEY]
    deadline = time.monotonic() + seconds
    while adapter._tasks:
        assert time.monotonic() < deadline, "work after the ack still running"
        await asyncio.sleep(0.02)


def posted_text(call: Call) -> str:
    return json.dumps({"text": call.args.get("text"), "blocks": call.args.get("blocks")}, ensure_ascii=False)


# --- the DM ---------------------------------------------------------------------------------------


async def test_a_command_typed_in_the_dm_is_answered_in_the_dm(slack: SlackClient, fake: FakeSlack, db_url: str):
    await setup_okrs(slack)
    response = await slack.dm("UALICE", "checkin KR-1 45 7 good week")
    assert response.status == 200 and await response.text() == ""  # acked at once: the reply follows
    (answer,) = await fake.wait_for("chat.postMessage")
    assert answer.args["channel"] == "DUALICE" and answer.args.get("thread_ts") is None
    assert "KR-1" in posted_text(answer) and "45 / 100" in posted_text(answer)
    assert await rows(db_url, "SELECT value, confidence, note FROM check_in") == [(45.0, 7, "good week")]

    await slack.dm("UALICE", "show KR-1")
    shown = (await fake.wait_for("chat.postMessage", 2))[1]
    assert shown.args["channel"] == "DUALICE" and "good week" in posted_text(shown)
    assert "<!channel>" not in posted_text(shown)  # the objective's typed title stays escaped


async def test_checkin_typed_in_the_dm_offers_the_form(slack: SlackClient, fake: FakeSlack, db_url: str):
    """No modal opens without a trigger_id: the reply's button opens it, the typed key result's."""
    await setup_okrs(slack)
    await slack.slash("UALICE", 'kr add O-1 "Signups" --target 50')
    await slack.dm("UALICE", "checkin KR-2")
    (offer,) = await fake.wait_for("chat.postMessage")
    assert offer.args["channel"] == "DUALICE" and "Weekly check-in" in posted_text(offer)
    await slack.press("UALICE", offer, "Check in", value="KR-2")
    view = (await fake.wait_for("views.open"))[0].args["view"]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["KR-2.value", "KR-2.confidence",
                                                                              "KR-2.note"]  # fmt: skip
    await slack.submit("UALICE", view, {"KR-2.value": "7", "KR-2.confidence": "6"})
    (note,) = await fake.wait_for("chat.postEphemeral")
    assert note.args["channel"] == "DUALICE" and not fake.of("chat.update")  # an offer, not a prompt
    assert await rows(db_url, "SELECT value, confidence FROM check_in") == [(7.0, 6)]


@pytest.mark.parametrize("typed", ["/okr help", "help", "okr help", "<@UBOT> help", "  /OKR   help  "])
async def test_help_typed_in_the_dm_with_or_without_okr(slack: SlackClient, fake: FakeSlack, typed: str):
    assert (await slack.dm("UALICE", typed)).status == 200
    (answer,) = await fake.wait_for("chat.postMessage")
    assert answer.args["channel"] == "DUALICE"
    assert "checkin KR-n" in posted_text(answer) and "I don't know" not in posted_text(answer)


async def test_a_long_reply_in_the_dm_is_split_into_a_thread(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    for n in range(2, 61):
        await slack.slash("UALICE", f'kr add O-1 "Key result number {n}" --target {n}')
    await slack.dm("UALICE", "list mine")
    await fake.wait_for("chat.postMessage", 2)
    await settled(slack)
    posts = fake.of("chat.postMessage")
    assert {p.args["channel"] for p in posts} == {"DUALICE"}
    assert posts[0].args.get("thread_ts") is None
    assert all(p.args["thread_ts"] == posts[0].answer["ts"] for p in posts[1:])
    assert all(len(p.args["blocks"]) <= 45 for p in posts)


async def test_an_export_asked_for_in_the_dm_arrives_there_as_a_file(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.dm("UALICE", "export csv")
    complete = (await fake.wait_for("files.completeUploadExternal"))[0].args
    assert complete["channel_id"] == "DUALICE"
    assert b"Active teams" in fake.of("upload")[0].args["body"]


LEFT_ALONE: dict[str, dict[str, Any]] = {
    "okrbot's own message": {"user": "UBOT"},
    "okrbot's own bot message": {"bot_id": "BBOT", "subtype": "bot_message", "user": None},
    "another bot": {"bot_id": "B999", "bot_profile": {"id": "B999", "name": "other"}},
    "another bot, no bot_id": {"bot_profile": {"id": "B998", "name": "other"}},
    "message_changed": {"subtype": "message_changed", "message": {"text": "help", "user": "UALICE"}},
    "message_deleted": {"subtype": "message_deleted", "previous_message": {"text": "help"}},
    "a file shared": {"subtype": "file_share"},
    "no user": {"user": None},
    "no text": {"text": None},
    "empty text": {"text": "   "},
    "no channel": {"channel": None},
    "unknown channel_type": {"channel_type": "mpim"},
    "a public channel": {"channel_type": "channel", "channel": "C1"},
    "no channel_type": {"channel_type": None},
    "text that is no command": {"text": "checkin KR-1 40 7 " + "x" * 40_000},
    "user not a string": {"user": {"id": "UALICE"}},
}


@pytest.mark.parametrize("case", list(LEFT_ALONE))
async def test_events_okrbot_must_not_answer_get_200_and_nothing_happens(
    slack: SlackClient, fake: FakeSlack, db_url: str, case: str
):
    before = await snapshot(db_url)
    fields = {k: v for k, v in LEFT_ALONE[case].items() if v is not None}
    dropped = [k for k, v in LEFT_ALONE[case].items() if v is None]
    event = {"type": "message", "channel": "DUALICE", "channel_type": "im", "user": "UALICE", "text": "help",
             "ts": "1700000001.000001", **fields}  # fmt: skip
    for key in dropped:
        event.pop(key)
    response = await slack.event(event, event_id=f"Ev-{case}")
    assert response.status == 200
    assert not slack.http.app[ADAPTER_KEY]._tasks  # nothing was started after the ack
    assert [c.method for c in fake.calls if c.method != "auth.test"] == []
    assert await snapshot(db_url) == before


async def test_a_mention_of_okrbot_in_a_dm_is_answered_once(slack: SlackClient, fake: FakeSlack):
    """A DM's text arrives as message.im; should Slack also send app_mention for it, that one is left alone."""
    dm_mention = {"type": "app_mention", "channel": "DUALICE", "channel_type": "im", "user": "UALICE",
                  "text": "<@UBOT> help", "ts": "1700000001.5"}  # fmt: skip
    assert (await slack.event(dm_mention, event_id="EvAtDM")).status == 200
    assert not slack.http.app[ADAPTER_KEY]._tasks and not fake.of("chat.postMessage")


async def test_a_retried_dm_runs_once(slack: SlackClient, fake: FakeSlack, db_url: str):
    await setup_okrs(slack)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await slack.dm("UALICE", "checkin KR-1 40 7", event_id="EvOnce")).status == 200
    await fake.wait_for("chat.postMessage")
    event = {"type": "message", "channel": "DUALICE", "channel_type": "im", "user": "UALICE",
             "text": "checkin KR-1 40 7", "ts": "1700000001.9"}  # fmt: skip
    answer = await slack.event(event, event_id="EvOnce", headers=retry)
    assert answer.status == 200 and answer.headers.get("X-Slack-No-Retry") == "1"
    await slack.dm("UALICE", "show KR-1")
    await fake.wait_for("chat.postMessage", 2)
    assert len(fake.of("chat.postMessage")) == 2 and await count(db_url, "check_in") == 1


# --- mentions in a channel ------------------------------------------------------------------------


async def test_a_mention_in_a_channel_is_answered_in_the_channel(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.slash("UALICE", "checkin KR-1 40 7")
    assert (await slack.mention("UALICE", "digest team growth", channel="CGROWTH")).status == 200
    (digest,) = await fake.wait_for("chat.postMessage")
    assert digest.args["channel"] == "CGROWTH" and digest.args.get("thread_ts") is None
    assert "KR-1" in posted_text(digest)
    complete = (await fake.wait_for("files.completeUploadExternal"))[0].args
    assert complete["channel_id"] == "CGROWTH" and complete["thread_ts"] == digest.answer["ts"]  # chart in its thread
    assert not fake.of("chat.postEphemeral")


async def test_a_mention_in_a_thread_is_answered_in_the_thread(slack: SlackClient, fake: FakeSlack):
    await setup_okrs(slack)
    await slack.mention("UALICE", "/okr digest team growth", channel="CGROWTH", thread_ts="1700000000.000777")
    (digest,) = await fake.wait_for("chat.postMessage")
    assert digest.args["channel"] == "CGROWTH" and digest.args["thread_ts"] == "1700000000.000777"
    complete = (await fake.wait_for("files.completeUploadExternal"))[0].args
    assert complete["thread_ts"] == "1700000000.000777"


@pytest.mark.parametrize("thread_ts", [None, "1700000000.000888"])
async def test_a_private_reply_to_a_mention_is_ephemeral(slack: SlackClient, fake: FakeSlack, thread_ts: str | None):
    await setup_okrs(slack)
    await slack.mention("UALICE", "show KR-1", channel="CGROWTH", thread_ts=thread_ts)
    (note,) = await fake.wait_for("chat.postEphemeral")
    assert (note.args["channel"], note.args["user"], note.args.get("thread_ts")) == ("CGROWTH", "UALICE", thread_ts)
    assert "Active teams" in posted_text(note)
    assert not fake.of("chat.postMessage")  # nobody else sees it


async def test_a_refused_mention_is_one_sentence_to_the_person(slack: SlackClient, fake: FakeSlack, db_url: str):
    await slack.mention("UALICE", "chekin KR-1 40")
    (note,) = await fake.wait_for("chat.postEphemeral")
    assert "did you mean `checkin`?" in note.args["text"] and note.args["user"] == "UALICE"
    assert await count(db_url, "check_in") == 0


# --- the weekly prompt, answered in place ---------------------------------------------------------


async def prompts_sent(slack: SlackClient, db_url: str, count: int) -> list[Call]:
    """``okrbot send prompts --team growth``: the week's prompts queued, then sent to the fake Slack."""
    db = Database(db_url)
    try:
        schedules = await matching_schedules(db, "prompts", team="growth")
        assert await send_now(db, "prompts", schedules, utcnow()) == count
        await Dispatcher(db, {"slack": slack.http.app[OUTBOUND_KEY]}).drain()
    finally:
        await db.dispose()
    return await slack.fake.wait_for("chat.postMessage", count)


async def reminders_queued(db_url: str) -> int:
    """``okrbot send reminders --team growth``: how many reminders were queued."""
    db = Database(db_url)
    try:
        return await send_now(db, "reminders", await matching_schedules(db, "reminders", team="growth"), utcnow())
    finally:
        await db.dispose()


async def three_key_results(slack: SlackClient) -> None:
    """Alice owns KR-1..KR-3; Bob owns KR-4, so a reminder has someone to go to."""
    await setup_okrs(slack)
    await slack.slash("UALICE", 'kr add O-1 "Signups" --target 50')
    await slack.slash("UALICE", 'kr add O-1 "Churn" --start 10 --target 2 --unit %')
    await slack.slash("UALICE", 'kr add O-1 "Bob\'s" --target 5 --owner <@UBOB>')


def prompt_to(posts: list[Call], user: str) -> Call:
    return next(p for p in posts if p.args["channel"] == f"D{user}")


async def test_no_change_on_the_prompt_records_every_kr_in_one_click_in_place(
    slack: SlackClient, fake: FakeSlack, db_url: str
):
    await three_key_results(slack)
    prompt = prompt_to(await prompts_sent(slack, db_url, 2), "UALICE")
    buttons = [e for b in prompt.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("No change", "okr_replace:0", "no change KR-1 KR-2 KR-3")
    ]

    response = await slack.press("UALICE", prompt, "No change")
    assert response.status == 200 and await response.text() == ""  # acked before the work
    (updated,) = await fake.wait_for("chat.update")
    assert (updated.args["channel"], updated.args["ts"]) == ("DUALICE", prompt.answer["ts"])
    assert updated.args["text"].startswith("No change ✓ recorded for KR-1, KR-2, KR-3 on ")
    assert "No change" not in [e["text"]["text"] for b in updated.args["blocks"] for e in b.get("elements", ())]
    saved = await rows(db_url, "SELECT k.number, c.value, c.confidence, c.note FROM check_in c "
                               "JOIN key_result k ON k.id = c.key_result_id ORDER BY k.number")  # fmt: skip
    assert saved == [(1, 0.0, 5, "no change"), (2, 0.0, 5, "no change"), (3, 10.0, 5, "no change")]
    assert not fake.of("response_url") and not fake.of("chat.postEphemeral")

    again = await slack.press("UALICE", prompt, "No change")  # a second click (a double click, a stale copy)
    assert again.status == 200
    second = (await fake.wait_for("chat.update", 2))[1]
    assert second.args["ts"] == prompt.answer["ts"]
    assert second.args["text"] == "Nothing more recorded: KR-1, KR-2, KR-3 already checked in this week."
    assert await count(db_url, "check_in") == 3

    assert await reminders_queued(db_url) == 1  # Bob, who has not answered; Alice is left in peace
    assert await rows(db_url, "SELECT recipient FROM delivery WHERE kind = 'reminder'") == [("UBOB",)]


async def test_the_check_in_form_from_the_prompt_answers_it_in_place(slack: SlackClient, fake: FakeSlack, db_url: str):
    await three_key_results(slack)
    prompt = prompt_to(await prompts_sent(slack, db_url, 2), "UALICE")
    assert (await slack.press("UALICE", prompt, "Check in", value="")).status == 200  # the whole form
    view = (await fake.wait_for("views.open"))[0].args["view"]
    metadata = json.loads(view["private_metadata"])
    assert (metadata["prompt_channel"], metadata["prompt_ts"]) == ("DUALICE", prompt.answer["ts"])
    values = [b for b in view["blocks"] if b["type"] == "input" and b["block_id"].endswith(".value")]
    assert [b["block_id"] for b in values] == ["KR-1.value", "KR-2.value", "KR-3.value"]

    refused = await slack.submit("UALICE", view, {"KR-1.value": "lots", "KR-2.value": "5", "KR-3.value": "8"})
    assert (await refused.json())["response_action"] == "errors"
    assert not fake.of("chat.update") and await count(db_url, "check_in") == 0  # nothing changed

    typed = {"KR-1.value": "30", "KR-1.confidence": "8", "KR-2.value": "12", "KR-3.value": "8", "KR-3.note": "ok"}
    response = await slack.submit("UALICE", view, typed)
    assert response.status == 200 and await response.text() == ""
    (updated,) = await fake.wait_for("chat.update")
    assert (updated.args["channel"], updated.args["ts"]) == ("DUALICE", prompt.answer["ts"])
    assert updated.args["text"].startswith("Checked in 3 key results ✓ Thank you, ")
    assert "30 / 100" in posted_text(updated)
    assert (await fake.wait_for("chat.postEphemeral"))[0].args["channel"] == "DUALICE"  # as before, too
    assert await count(db_url, "check_in") == 3
    assert await reminders_queued(db_url) == 1  # Bob only


async def test_three_key_results_checked_in_one_click_or_two(slack: SlackClient, fake: FakeSlack, db_url: str):
    """From the prompt to three saved check-ins: No change is one click; the form is two (Check in,
    then Submit) plus typing what moved, the other inputs coming filled in as they stand."""
    await three_key_results(slack)
    for n in (5, 6):
        await slack.slash("UBOB", f'kr add O-1 "Bob\'s {n}" --target 10')  # Bob owns KR-4..KR-6
    posts = await prompts_sent(slack, db_url, 2)
    saved = "SELECT count(*) FROM check_in c JOIN member m ON m.id = c.member_id WHERE m.external_id = '{}'"

    before = slack.requests
    await slack.press("UALICE", prompt_to(posts, "UALICE"), "No change")
    await fake.wait_for("chat.update")
    assert slack.requests - before == 1 and await rows(db_url, saved.format("UALICE")) == [(3,)]

    before = slack.requests
    await slack.press("UBOB", prompt_to(posts, "UBOB"), "Check in", value="")
    view = (await fake.wait_for("views.open"))[0].args["view"]
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["element"].get("initial_value") for b in inputs if b["block_id"].endswith(".value")] == ["0"] * 3
    assert all("initial_option" in b["element"] for b in inputs if b["block_id"].endswith(".confidence"))
    typed = {"KR-4.value": "2", "KR-5.value": "3", "KR-6.value": "4"}  # what moved: three numbers
    assert (await slack.submit("UBOB", view, typed)).status == 200
    await fake.wait_for("chat.update", 2)
    assert slack.requests - before == 2 and await rows(db_url, saved.format("UBOB")) == [(3,)]


async def test_one_kr_s_check_in_button_on_the_prompt_answers_it_in_place(
    slack: SlackClient, fake: FakeSlack, db_url: str
):
    await three_key_results(slack)
    prompt = prompt_to(await prompts_sent(slack, db_url, 2), "UALICE")
    await slack.press("UALICE", prompt, "Check in", value="KR-2")
    view = (await fake.wait_for("views.open"))[0].args["view"]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"][0] == "KR-2.value"
    await slack.submit("UALICE", view, {"KR-2.value": "20", "KR-2.confidence": "6"})
    (updated,) = await fake.wait_for("chat.update")
    assert updated.args["ts"] == prompt.answer["ts"] and updated.args["text"].startswith("Checked in 1 key result ✓")


async def test_a_check_in_from_a_digest_leaves_the_digest_as_it_is(slack: SlackClient, fake: FakeSlack, db_url: str):
    """A digest is everyone's: one person's check-in from its button is confirmed to them alone."""
    await setup_okrs(slack)
    await slack.slash("UALICE", "digest team growth")
    digest = (await fake.wait_for("chat.postMessage"))[0]
    await fake.wait_for("files.completeUploadExternal")
    await slack.press("UALICE", digest, "Check in", value="KR-1")
    view = (await fake.wait_for("views.open"))[0].args["view"]
    assert "prompt_ts" not in json.loads(view["private_metadata"])
    await slack.submit("UALICE", view, {"KR-1.value": "20", "KR-1.confidence": "6"})
    (note,) = await fake.wait_for("chat.postEphemeral")
    assert note.args["channel"] == "C1" and note.args["text"].startswith("Checked in 1 key result ✓")
    assert not fake.of("chat.update") and await count(db_url, "check_in") == 1


async def test_no_change_that_is_refused_leaves_the_prompt_and_says_why(
    slack: SlackClient, fake: FakeSlack, db_url: str
):
    await three_key_results(slack)
    prompt = prompt_to(await prompts_sent(slack, db_url, 2), "UALICE")
    bob = await slack.press("UBOB", prompt, "No change")  # a prompt forwarded to someone else
    assert bob.status == 200
    (said,) = await fake.wait_for("response_url")
    assert said.args["response_type"] == "ephemeral" and said.args.get("replace_original") is False
    assert not fake.of("chat.update") and await count(db_url, "check_in") == 0


async def test_a_failed_chat_update_still_answers(slack: SlackClient, fake: FakeSlack, db_url: str):
    await three_key_results(slack)
    prompt = prompt_to(await prompts_sent(slack, db_url, 2), "UALICE")
    fake.fail("chat.update", "message_not_found")
    await slack.press("UALICE", prompt, "No change")
    (said,) = await fake.wait_for("response_url")
    assert "No change ✓ recorded" in said.args["text"] and await count(db_url, "check_in") == 3
