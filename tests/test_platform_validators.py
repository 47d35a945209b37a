"""Slack's and Microsoft's own checkers over what okrbot draws (tests/platform_checks.py).

Two sources: a fixed set of messages drawn here (every block kind, the weekly prompt with its
No change button, the check-in modal, App Home, hostile text), and everything the fakes of the
Slack Web API and the Bot Connector received earlier in this run (this module runs last).
"""

from __future__ import annotations

import datetime as dt

import platform_checks as checks
import pytest

from adapters.slack import render as slack
from adapters.teams import render as teams
from bot.commands.checkin import checkin_form, prompt_message, reminder_message
from bot.grading import grading_form, grading_message
from bot.messages import (
    Actions,
    Button,
    Context,
    Divider,
    Fields,
    File,
    Header,
    Image,
    Mention,
    Message,
    Progress,
    Text,
    UserText,
)
from store.models import Cycle, KeyResult, Member

HOSTILE = "<!channel> *bold* <https://x|y> & <script>alert(1)</script> 🚀 مرحبا"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ff"
                    "ff3f0005fe02fea7d6a4b20000000049454e44ae426082")  # fmt: skip


def _key_results(count: int) -> list[KeyResult]:
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    return [
        KeyResult(id=n, workspace_id=1, number=n, objective_id=1, title=f"{HOSTILE} {n}", owner_id=1, start=0,
                  target=100, current=10 * n, unit="teams", confidence=n % 11, updated_at=now)
        for n in range(1, count + 1)
    ]  # fmt: skip


def corpus() -> list[Message]:
    member = Member(id=1, workspace_id=1, external_id="U1", display_name="Ada")
    krs = _key_results(3)
    return [
        prompt_message(member, krs),
        grading_message(
            member,
            Cycle(id=1, workspace_id=1, name="2026-Q4", starts_on=dt.date(2026, 10, 1), ends_on=dt.date(2026, 12, 31)),
            krs,
        ),  # fmt: skip
        reminder_message(member, krs, by=Member(id=2, workspace_id=1, external_id="U2", display_name="Lee")),
        Message.of(
            Header(("Digest · team ", UserText(HOSTILE))),
            Text(("Who checked in: ", Mention("U1", "Ada"), ", ", UserText(HOSTILE)), strong=True),
            Fields((("Progress", ("42%",)), ("At risk", (UserText(HOSTILE),)))),
            Progress(("KR-1 ", UserText(HOSTILE)), 0.42, "42 / 100 teams", 3, "red", "KR-1"),
            Progress(("KR-2",), 1.0, "done", None, "grey"),
            Divider(),
            Context(("small print ", UserText(HOSTILE))),
            Actions(
                (Button("Show KR-1", "show KR-1", "primary"), Button("No change", "no change KR-1", replaces=True))
            ),
            Image(PNG, "A chart of progress per week", "chart.png"),
            visibility="channel",
        ),
        Message.of(Text(("export",)), File("okrs.csv", "text/csv", "kr,title\nKR-1,x\n")),
        Message.error("There is no key result KR-9 in this workspace; `list all` shows them."),
    ]


def test_the_corpus_type_checks_against_slacks_block_kit() -> None:
    if (why := checks.slack_missing()) is not None:
        pytest.skip(why)
    blocks = [part["blocks"] for message in corpus() for part in slack.to_messages(message) if part.get("blocks")]
    views = [
        slack.form_modal(checkin_form(_key_results(3)), {"channel": "D1"}),
        slack.form_modal(checkin_form(_key_results(60)), {"channel": "D1"}),
        slack.form_modal(grading_form(_key_results(120)), {"channel": "D1"}),
        slack.home_view(corpus()[:3]),
    ]
    assert checks.block_kit_errors(blocks, views) == []


async def test_the_corpus_parses_as_adaptive_cards() -> None:
    if (why := checks.cards_missing()) is not None:
        pytest.skip(why)
    cards = [card for message in corpus() for card in teams.to_cards(message)]
    cards += teams.to_cards(Message.of(checkin_form(_key_results(48))))
    cards += teams.to_cards(Message.of(grading_form(_key_results(120))))
    assert cards and await checks.card_errors(cards) == []


def test_a_wrong_payload_is_caught() -> None:
    """The checks can fail: a made-up block type, a modal with no title and no blocks."""
    if (why := checks.slack_missing()) is not None:
        pytest.skip(why)
    errors = checks.block_kit_errors([[{"type": "banner", "text": "x"}]], [{"type": "modal"}])
    assert any("message blocks #0" in e for e in errors) and any("view #0" in e for e in errors), errors


async def test_a_wrong_card_is_caught() -> None:
    if (why := checks.cards_missing()) is not None:
        pytest.skip(why)
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock"}, {"type": "Input.Text"}]}
    errors = await checks.card_errors([card])
    assert errors and all("card #0" in e for e in errors)


def test_everything_the_fakes_received_type_checks_against_slacks_block_kit() -> None:
    if (why := checks.slack_missing()) is not None:
        pytest.skip(why)
    if not checks.RECORDED["blocks"] and not checks.RECORDED["views"]:
        pytest.skip("no Slack payload reached the fake in this run (run the whole suite)")
    assert checks.block_kit_errors(checks.RECORDED["blocks"], checks.RECORDED["views"]) == []


async def test_every_card_the_fakes_received_parses() -> None:
    if (why := checks.cards_missing()) is not None:
        pytest.skip(why)
    if not checks.RECORDED["cards"]:
        pytest.skip("no Teams card reached the fake in this run (run the whole suite)")
    assert await checks.card_errors(checks.RECORDED["cards"]) == []
