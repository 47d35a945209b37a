"""The weekly check-in in one click on Teams: the prompt's Universal Actions (Action.Execute, answered
with the new card in the invoke's response) and their Action.Submit fallback, the form's card
kept under what one Teams message holds, and the welcome said once per conversation.

The prompt goes out through the real TeamsOutbound to the fake Bot Connector; what a Teams client
would send back when a person presses a button is read off that very card (``fakes.connector.press``)
and posted to the real app, through botbuilder's CloudAdapter.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.connector import Call, FakeConnector, card_of, card_text, press
from sqlmodel import col, select
from test_teams_e2e import BOT_ID, Teams, at, buttons, card_inputs, check_ins, settings_for

from adapters.server import build_app
from adapters.teams.formcard import FORM_CARD_UTF16_MAX, MESSAGE_UTF16_MAX
from adapters.teams.mount import OUTBOUND_KEY
from adapters.teams.outbound import TeamsOutbound
from bot.command import WorkspaceRef
from bot.commands.checkin import prompt_message
from bot.grading import grading_message
from bot.messages import Message
from store.db import Database
from store.models import Cycle, KeyResult, Member, Objective

TENANT = WorkspaceRef("teams", "tenant-1")
CARD = "application/vnd.microsoft.card.adaptive"


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
def teams(client: TestClient, connector: FakeConnector) -> Teams:
    return Teams(client, connector)


@pytest.fixture
def outbound(client: TestClient) -> TeamsOutbound:
    return client.app[OUTBOUND_KEY]


class Person:
    """Someone at a Teams client: presses buttons on okrbot's cards and types into its inputs,
    every press and every field typed counted."""

    def __init__(self, teams: Teams, user: str) -> None:
        self.teams = teams
        self.user = user
        self.clicks = 0
        self.typed = 0

    async def press(self, card: dict[str, Any], title: str, card_id: str, **typed: str) -> dict[str, Any]:
        """Press with Universal Actions: okrbot's answer to the invoke."""
        self.clicks += 1
        self.typed += len(typed)
        return await self.teams.invoke(self.user, press(card, title, typed), card_id=card_id)

    async def press_old_client(self, card: dict[str, Any], title: str, card_id: str, **typed: str) -> str:
        """Press on a client without Universal Actions (the Action.Submit fallback): okrbot's replies."""
        self.clicks += 1
        self.typed += len(typed)
        return await self.teams.say(self.user, "", value=press(card, title, typed, universal=False), replyToId=card_id)


async def three_key_results(teams: Teams) -> None:
    assert "web" in await teams.say("alice", 'team add web "Web"')
    assert "O-1" in await teams.say("alice", 'objective add "Happy customers" --team web')
    for n, title in enumerate(("Active teams", "Fewer bugs", "Faster pages"), start=1):
        assert f"KR-{n}" in await teams.say("alice", f'kr add O-1 "{title}" --target 100 --unit teams')


async def prompt_of(db_url: str, user: str) -> Message:
    """The weekly prompt the scheduler would queue for ``user`` (bot/commands/checkin.py)."""
    db = Database(db_url)
    try:
        async with db.read() as session:
            member = (await session.exec(select(Member).where(Member.external_id == user))).one()
            query = select(KeyResult).where(KeyResult.owner_id == member.id).order_by(col(KeyResult.number))
            return prompt_message(member, list((await session.exec(query)).all()))
    finally:
        await db.dispose()


async def send_prompt(teams: Teams, outbound: TeamsOutbound, db_url: str) -> list[Call]:
    """Alice's prompt, sent through TeamsOutbound: what the fake Connector received."""
    teams.connector.clear()
    await outbound.send_direct(TENANT, "aad-alice", await prompt_of(db_url, "aad-alice"))
    return teams.connector.of("send")


def actions(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        a for element in card["body"] if element["type"] == "ActionSet" for a in element["actions"] if a["type"] == kind
    ]


def answered_card(answer: dict[str, Any]) -> str:
    assert answer["statusCode"] == 200 and answer["type"] == CARD, answer
    return card_text({"attachments": [{"contentType": CARD, "content": answer["value"]}]})


async def test_the_prompt_is_one_card_of_version_1_5_with_universal_actions_and_their_fallback(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await three_key_results(teams)
    (sent,) = await send_prompt(teams, outbound, db_url)
    card = card_of(sent.body)
    assert sent.conversation_id == "a:personal-alice" and card["version"] == "1.5"
    execute = {a["title"]: a for a in actions(card, "Action.Execute")}
    assert set(execute) == {"Check in", "No change"}
    for action in execute.values():  # the same button, data and all, for clients without Universal Actions
        fallback = action["fallback"]
        assert fallback["type"] == "Action.Submit" and fallback["data"] == action["data"]
        assert fallback["title"] == action["title"]
    assert execute["Check in"]["verb"] == "checkin" and execute["Check in"]["data"] == {"okrbot": "checkin"}
    assert execute["No change"]["data"] == {
        "okrbot": "command",
        "command": "no change KR-1 KR-2 KR-3",
        "replaces": True,
    }
    assert execute["No change"]["associatedInputs"] == "none"  # an empty input never stops it
    text = card_text(sent.body)
    assert text.count("Weekly check-in") == 1 and all(f"KR-{n}" in text for n in (1, 2, 3))  # the header, once
    assert card_inputs(sent) == {f"KR-{n}.{f}" for n in (1, 2, 3) for f in ("value", "confidence", "note")}
    assert buttons(sent) == []  # no separate "Check in" per progress line: the form asks for each


async def test_no_change_is_one_click_that_records_every_key_result_and_replaces_the_prompt(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await three_key_results(teams)
    (sent,) = await send_prompt(teams, outbound, db_url)
    alice = Person(teams, "alice")
    answer = await alice.press(card_of(sent.body), "No change", sent.created)
    shown = answered_card(answer)
    assert "No change ✓ recorded for KR-1, KR-2, KR-3 on" in shown and "Faster pages" in shown
    assert alice.clicks == 1 and alice.typed == 0 and await check_ins(db_url) == 3
    edit = teams.last("update")  # the message too, for Alice's other clients
    assert edit.activity_id == sent.created and card_of(edit.body) == answer["value"]
    assert teams.connector.posted() == [sent]  # no new message: the prompt itself became the answer

    again = await alice.press(card_of(sent.body), "No change", sent.created)  # another client's stale card
    assert "Nothing more recorded: KR-1, KR-2, KR-3 already checked in this week." in answered_card(again)
    assert await check_ins(db_url) == 3


async def test_the_form_through_action_execute_comes_back_with_errors_then_records(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await three_key_results(teams)
    (sent,) = await send_prompt(teams, outbound, db_url)
    alice = Person(teams, "alice")
    wrong = await alice.press(card_of(sent.body), "Check in", sent.created, **{"KR-2.value": "lots"})
    shown = answered_card(wrong)
    assert "⚠" in shown and "KR-2.value" in json.dumps(wrong["value"])  # the form again, saying what was wrong
    assert await check_ins(db_url) == 0 and not teams.connector.of("update")  # the prompt itself stays

    right = await alice.press(wrong["value"], "Check in", sent.created, **{"KR-2.value": "40", "KR-2.confidence": "8"})
    shown = answered_card(right)
    assert "Checked in 3 key results ✓ Thank you," in shown and "40 / 100" in shown
    assert await check_ins(db_url) == 3
    assert teams.last("update").activity_id == sent.created
    assert "Nothing more recorded" in answered_card(await alice.press(card_of(sent.body), "No change", sent.created))


async def test_from_the_prompt_to_a_saved_check_in_of_three_key_results(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    """No change: one click. The form: one click, plus typing what moved (the rest stays as it is)."""
    await three_key_results(teams)
    (sent,) = await send_prompt(teams, outbound, db_url)
    alice = Person(teams, "alice")
    await alice.press(card_of(sent.body), "No change", sent.created)
    assert (alice.clicks, alice.typed, await check_ins(db_url)) == (1, 0, 3)

    assert "help" in (await teams.say("bob", "help")).lower()  # Bob's chat with okrbot, where prompts go
    for title in ("Signups", "Churn", "Uptime"):
        text = f'kr add O-1 "{title}" --target 10 --owner <at>Bob Smith</at>'
        assert "KR-" in await teams.say("alice", text, entities=[at("29:bob", "Bob Smith")])
    teams.connector.clear()
    await outbound.send_direct(TENANT, "aad-bob", await prompt_of(db_url, "aad-bob"))
    (prompt,) = teams.connector.of("send")
    bob = Person(teams, "bob")
    answer = await bob.press(card_of(prompt.body), "Check in", prompt.created, **{"KR-4.value": "3"})
    assert "Checked in 3 key results ✓" in answered_card(answer)
    assert (bob.clicks, bob.typed, await check_ins(db_url)) == (1, 1, 6)  # one press (two at most is the aim)


async def test_a_button_pressed_on_a_client_without_universal_actions_updates_its_card(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await three_key_results(teams)
    (sent,) = await send_prompt(teams, outbound, db_url)
    alice = Person(teams, "alice")
    reply = await alice.press_old_client(card_of(sent.body), "No change", sent.created)
    assert "No change ✓ recorded for KR-1, KR-2, KR-3" in reply and await check_ins(db_url) == 3
    update = teams.last("update")
    assert update.activity_id == sent.created and card_of(update.body)["version"] == "1.4"
    assert teams.connector.posted() == [sent]
    reply = await alice.press_old_client(card_of(sent.body), "No change", sent.created)
    assert "Nothing more recorded" in reply and teams.last("update").activity_id == sent.created


async def test_a_refused_action_leaves_the_card_and_a_foreign_one_is_a_bad_request(teams: Teams, db_url: str) -> None:
    await three_key_results(teams)
    teams.connector.clear()
    command = {"okrbot": "command", "command": "no change KR-9", "replaces": True}
    answer = await teams.invoke("alice", {"action": {"type": "Action.Execute", "verb": "command", "data": command}})
    assert answer["type"] == "application/vnd.microsoft.activity.message" and "KR-9" in answer["value"]
    assert not teams.connector.of("update", "send", "reply") and await check_ins(db_url) == 0
    foreign = await teams.invoke("alice", {"action": {"type": "Action.Execute", "verb": "vote", "data": {"x": 1}}})
    assert foreign["statusCode"] == 400 and foreign["type"] == "application/vnd.microsoft.error"
    other = teams.activity("alice") | {"type": "invoke", "name": "composeExtension/query", "value": {}}
    assert await teams.post(other) == 501  # an invoke okrbot does not handle


async def forty_eight_key_results(teams: Teams) -> None:
    assert "web" in await teams.say("alice", 'team add web "Web"')
    assert "O-1" in await teams.say("alice", 'objective add "Happy customers" --team web')
    for n in range(1, 49):
        title = f"Grow weekly active teams in region {n} by a lot"
        assert f"KR-{n}" in await teams.say("alice", f'kr add O-1 "{title}" --target 100 --unit teams')


def utf16(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-16-le"))


async def test_48_key_results_make_a_form_under_the_teams_budget_that_says_how_to_check_in_on_the_rest(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await forty_eight_key_results(teams)
    await teams.say("alice", "checkin")
    sent = teams.last("send", "reply")
    assert utf16(card_of(sent.body)) <= FORM_CARD_UTF16_MAX and utf16(sent.body) <= MESSAGE_UTF16_MAX
    held = sorted({int(ref.split(".")[0][3:]) for ref in card_inputs(sent)})
    assert 20 < len(held) < 48 and held == list(range(1, len(held) + 1))
    text = card_text(sent.body)
    assert "More key results than a form holds: check in on the rest with checkin KR-n <\u200bvalue>." in text

    sends = await send_prompt(teams, outbound, db_url)  # the prompt: progress lines ahead, then the form
    assert len(sends) > 1 and all(utf16(call.body) <= MESSAGE_UTF16_MAX for call in sends)
    form = sends[-1]
    assert "More key results than a form holds" in card_text(form.body)
    left_out = {f"checkin KR-{n}" for n in range(1, 49)} - {f"checkin KR-{n}" for n in held}
    assert left_out and left_out <= {command for call in sends for command in buttons(call)}
    answer = await Person(teams, "alice").press(card_of(form.body), "No change", form.created)
    assert "No change ✓ recorded for KR-1, KR-2," in answered_card(answer) and await check_ins(db_url) == 48


def installed(teams: Teams, **extra: Any) -> dict[str, Any]:
    activity = teams.activity("alice", kind="channel") | {"text": None, "id": "install-1", **extra}
    activity["conversation"]["id"] = "19:team@thread.tacv2"
    return activity


async def test_the_welcome_goes_once_however_often_and_wherever_the_install_is_repeated(
    teams: Teams, connector: FakeConnector, db_url: str
) -> None:
    update = installed(teams, type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
    assert await teams.post(update) == 201
    assert await teams.post(update) == 201  # the same conversationUpdate again
    assert len(connector.posted()) == 1 and "Hi, I'm okrbot" in card_text(connector.posted()[0].body)
    again = [teams.post(installed(teams, type="installationUpdate", action="add")) for _ in range(3)]
    assert await asyncio.gather(*again) == [201] * 3  # at once, as a retrying client sends them

    app = build_app(settings_for(db_url, MICROSOFT_APP_ID=""))  # a second server (or a restart)
    async with TestClient(TestServer(app, host="127.0.0.1")) as other:
        assert await Teams(other, connector).post(update) == 201
        assert len(connector.posted()) == 1

        assert await teams.post(installed(teams, type="installationUpdate", action="remove")) == 201
        assert await Teams(other, connector).post(update) == 201  # installed anew: hello again
    assert len(connector.posted()) == 2


async def test_a_welcome_that_could_not_be_sent_is_tried_again(teams: Teams, connector: FakeConnector) -> None:
    update = installed(teams, type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
    connector.fail("send", 403)
    assert await teams.post(update) == 201
    assert len(connector.posted()) == 1  # tried, and refused: nobody was greeted
    assert await teams.post(update) == 201
    assert len(connector.posted()) == 2 and "Hi, I'm okrbot" in card_text(connector.posted()[-1].body)


async def test_the_grading_card_grades_every_key_result_in_one_press(
    teams: Teams, outbound: TeamsOutbound, db_url: str
) -> None:
    await three_key_results(teams)
    assert "Checked in KR-1" in await teams.say("alice", "checkin KR-1 40")
    db = Database(db_url)
    try:
        async with db.read() as session:
            member = (await session.exec(select(Member).where(Member.external_id == "aad-alice"))).one()
            query = (
                select(KeyResult, Cycle)
                .join(Objective, col(Objective.id) == KeyResult.objective_id)
                .join(Cycle, col(Cycle.id) == Objective.cycle_id)
                .order_by(col(KeyResult.number))
            )
            rows = (await session.exec(query)).all()
        teams.connector.clear()
        await outbound.send_direct(TENANT, "aad-alice", grading_message(member, rows[0][1], [kr for kr, _ in rows]))
        (sent,) = teams.connector.of("send")
        assert card_inputs(sent) == {"KR-1.score", "KR-2.score", "KR-3.score"}
        score = inputs_of(card_of(sent.body))["KR-1.score"]
        assert (score["type"], score["value"], score["placeholder"]) == (
            "Input.Number",
            0.4,
            "e.g. 0.7",
        )  # the progress
        alice = Person(teams, "alice")
        wrong = await alice.press(card_of(sent.body), "Grade", sent.created, **{"KR-2.score": "2"})
        assert "⚠" in answered_card(wrong) and "from 0.0 to 1.0" in answered_card(wrong)
        right = await alice.press(wrong["value"], "Grade", sent.created, **{"KR-2.score": "0.5"})
        assert "Graded 3 key results ✓" in answered_card(right)
        assert teams.last("update").activity_id == sent.created  # the prompt became the answer
        async with db.read() as session:
            scores = (await session.exec(select(KeyResult.score).order_by(col(KeyResult.number)))).all()
        assert list(scores) == [0.4, 0.5, 0.0]
    finally:
        await db.dispose()


def inputs_of(node: Any) -> dict[str, dict[str, Any]]:
    """Every input of a card, by id, however deep in its containers."""
    if isinstance(node, list):
        return {k: v for item in node for k, v in inputs_of(item).items()}
    if not isinstance(node, dict):
        return {}
    found = {node["id"]: node} if str(node.get("type", "")).startswith("Input.") else {}
    for value in node.values():
        found |= inputs_of(value)
    return found
