"""Arbitrary text on every surface (the terminal, Slack, Teams, the web chat) finds only clear
one-sentence errors: never a 5xx, never okrbot's internal error, never a multi-line refusal.

Hypothesis and function-scoped fixtures don't mix, so each test builds its own SQLite file, event
loop and (for the HTTP surfaces) the real app on loopback once, and reuses them for every example.
The text comes from ``st.text()`` and from ``tests/test_fuzz.py``'s strategies (grammar words,
quotes, flags, ids, mentions, numbers, dates, unicode, well-formed commands with wild values).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from fakes.connector import FakeConnector, card_text
from fakes.slack_api import SECRET, TOKEN, FakeSlack, SlackClient
from harness import no_secret_in_logs  # noqa: F401  (an autouse fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import any_text
from test_teams_e2e import Teams
from test_webchat_api import command as webchat_command

import bot.core  # noqa: F401  (registers every command)
from adapters.local import to_command
from adapters.server import BOT_KEY, build_app
from adapters.settings import Settings, SlackSettings, TeamsSettings
from bot.core import INTERNAL_ERROR, Bot
from bot.messages import Message
from store.db import Database
from store.migrate import upgrade_async

EXAMPLES = 40
SEED = ('team add growth "Growth"', 'objective add "Grow" --team growth',
        'kr add O-1 "Active teams" --target 100 --unit users', "checkin KR-1 40 7 good")  # fmt: skip
TEXTS = st.one_of(st.text(), any_text())
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def one_sentence(reply: Message, text: str) -> None:
    assert INTERNAL_ERROR not in reply.text, (text, reply.text)
    if reply.is_error:
        assert reply.text.strip() and "\n" not in reply.text.strip(), (text, reply.text)


def spy(bot: Bot) -> list[tuple[str, Message]]:
    """Every (text, reply) the surfaces' shared Bot produced, whatever path the adapter took."""
    seen: list[tuple[str, Message]] = []
    handle = bot.handle

    async def recording(cmd, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        reply = await handle(cmd, *args, **kwargs)
        seen.append((cmd.text, reply))
        return reply

    bot.handle = recording  # type: ignore[method-assign]
    return seen


def run_property(setup: Callable[[Path], Awaitable[Any]], example: Callable[[Any, str], Awaitable[None]]) -> None:
    """``setup`` once on one loop, then ``example(state, text)`` for each drawn text on that loop."""
    with tempfile.TemporaryDirectory() as tmp, asyncio.Runner() as runner:
        state = runner.run(setup(Path(tmp)))
        try:

            @PROPERTY
            @given(text=TEXTS)
            def check(text: str) -> None:
                runner.run(example(state, text))

            check()
        finally:
            runner.run(state["close"]())


# the terminal ----------------------------------------------------------------------------------


def test_the_terminal_answers_any_text_with_a_sentence() -> None:
    async def setup(tmp: Path) -> dict[str, Any]:
        url = f"sqlite:///{tmp / 'okrbot.db'}"
        await upgrade_async(url)
        db = Database(url)
        bot = Bot(db)
        for line in SEED:
            assert not (await bot.handle(to_command(line, user="ada", workspace="acme"))).is_error, line
        return {"bot": bot, "close": db.dispose}

    async def example(state: dict[str, Any], text: str) -> None:
        reply = await state["bot"].handle(to_command(text, user="ada", workspace="acme"))
        one_sentence(reply, text)

    run_property(setup, example)


# the HTTP surfaces: one real app (Slack, Teams without an app id, the web chat) on loopback ----


async def _app(tmp: Path) -> dict[str, Any]:
    import os

    os.environ["OKRBOT_WEBCHAT"] = "on"  # read by the web chat's settings; restored in close()
    url = f"sqlite:///{tmp / 'okrbot.db'}"
    await upgrade_async(url)
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", admin=True)
    connector = await FakeConnector().start()
    connector.add_member("29:alice", "Alice Doe", "aad-alice", role="owner")
    settings_ = Settings(database_url=url, slack=SlackSettings(SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN=TOKEN,
                         OKRBOT_SLACK_API_URL=fake.api_url), teams=TeamsSettings(MICROSOFT_APP_ID=""))  # type: ignore[call-arg]  # fmt: skip
    http = TestClient(TestServer(build_app(settings_), host="127.0.0.1"))
    await http.start_server()
    seen = spy(http.app[BOT_KEY])

    async def close() -> None:
        await asyncio.sleep(0.3)  # replies sent after the ack (digests, exports) land in the fakes
        await http.close()
        await fake.close()
        await connector.close()
        os.environ.pop("OKRBOT_WEBCHAT", None)
        received = json.dumps([c.args for c in fake.calls], default=str, ensure_ascii=False)
        received += json.dumps([c.body for c in connector.calls], default=str, ensure_ascii=False)
        assert INTERNAL_ERROR not in received
        for text, reply in seen:
            one_sentence(reply, text)
        assert any(reply.is_error for _, reply in seen), "the spy saw the bot refuse something"

    return {"http": http, "slack": SlackClient(http, fake), "teams": Teams(http, connector), "seen": seen,
            "fake": fake, "connector": connector, "close": close}  # fmt: skip


def test_slack_slash_commands_answer_any_text_with_a_sentence() -> None:
    async def setup(tmp: Path) -> dict[str, Any]:
        state = await _app(tmp)
        for line in SEED:
            await state["slack"].slash("UALICE", line)
        return state

    async def example(state: dict[str, Any], text: str) -> None:
        before = len(state["seen"])
        slack: SlackClient = state["slack"]
        body = slack.form(token="deprecated", team_id="T1", team_domain="acme", channel_id="C1", channel_name="okrs",
                          user_id="UALICE", user_name="alice", command="/okr", text=text,
                          response_url=state["fake"].response_url("r"), trigger_id="trig", api_app_id="A1")  # fmt: skip
        response = await slack.post(body, "application/x-www-form-urlencoded")
        answer = await response.text()
        assert response.status < 500, (text, response.status, answer)
        assert response.status == 200, (text, response.status, answer)
        assert INTERNAL_ERROR not in answer, (text, answer)
        for said, reply in state["seen"][before:]:
            one_sentence(reply, said)

    run_property(setup, example)


def test_teams_messages_answer_any_text_with_a_sentence() -> None:
    async def setup(tmp: Path) -> dict[str, Any]:
        state = await _app(tmp)
        for line in SEED:
            await state["teams"].say("alice", line)
        return state

    async def example(state: dict[str, Any], text: str) -> None:
        teams: Teams = state["teams"]
        connector: FakeConnector = state["connector"]
        before, handled = len(connector.calls), len(state["seen"])
        status = await teams.post(teams.activity("alice", text))
        assert status == 201, (text, status)
        sent = [c for c in connector.calls[before:] if c.op in ("send", "reply", "update")]
        shown = "\n".join(card_text(c.body) for c in sent)
        assert INTERNAL_ERROR not in shown, (text, shown)
        for said, reply in state["seen"][handled:]:
            one_sentence(reply, said)
            if reply.is_error:  # the card shows that one sentence (escaped for Teams' markdown)
                assert len(sent) == 1 and "\n" not in card_text(sent[0].body).strip(), (text, shown)

    run_property(setup, example)


def test_the_web_chat_answers_any_text_with_a_sentence() -> None:
    async def setup(tmp: Path) -> dict[str, Any]:
        state = await _app(tmp)
        for line in SEED:
            assert (await webchat_command(state["http"], line, user="ada")).status == 200, line
        return state

    async def example(state: dict[str, Any], text: str) -> None:
        response = await webchat_command(state["http"], text, user="ada")
        answer = await response.text()
        assert response.status < 500, (text, response.status, answer)
        assert INTERNAL_ERROR not in answer, (text, answer)
        if response.status == 200:
            message = json.loads(answer)["message"]
            if message["error"]:
                assert "\n" not in message["text"].strip(), (text, message["text"])
        else:  # refused before the bot (an empty line, say): a 400 with a one-line reason
            assert response.status == 400, (text, response.status, answer)
            assert "\n" not in answer.strip(), (text, answer)

    run_property(setup, example)
