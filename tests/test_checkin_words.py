"""The words people type to check in fast: ``+5``, ``55%``, ``no change``, ``undo``, and a nearest
command when one is mistyped (SQLite and PostgreSQL). Refusals write nothing (:func:`refused`)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from conftest import snapshot

from bot.commands.checkin import prompt_message
from bot.messages import Actions
from store.models import KeyResult, Member, row_id
from store.repo import workspace_by_external
from store.rhythm import owners

pytestmark = pytest.mark.usefixtures("okr")


async def history(chat, ref: str = "KR-1") -> str:
    return (await chat("alice", f"show {ref}")).text


async def test_plus_adds_to_the_current_value(ok):
    await ok("alice", "checkin KR-1 40")
    assert "45 / 100 teams" in (await ok("alice", "checkin KR-1 +5")).text
    assert "45.5 / 100 teams" in (await ok("alice", "checkin KR-1 +0.5")).text


async def test_a_share_is_of_the_way_from_start_to_target(ok):
    await ok("alice", 'kr add O-1 "Churn" --start 20 --target 10 --unit accounts')
    assert "15 / 10 accounts" in (await ok("alice", "checkin KR-2 50%")).text  # a key result that goes down
    assert "55 / 100 teams" in (await ok("alice", "checkin KR-1 55%")).text


async def test_a_share_of_a_percent_key_result_is_the_value_itself(ok):
    await ok("alice", 'kr add O-1 "Adoption" --start 40 --target 80 --unit %')
    assert "55 / 80 %" in (await ok("alice", "checkin KR-2 55%")).text


@pytest.mark.parametrize("typed", ["+x", "55%%", "%", "+", "+5%", "5%x"])
async def test_a_malformed_move_is_one_sentence(refused, typed):
    reply = await refused("alice", f"checkin KR-1 {typed}", "an amount to add like +5", "like 55%")
    assert f'not "{typed}"' in reply.text


async def test_a_move_past_the_whole_range_says_so_and_offers_undo(ok):
    reply = await ok("alice", "checkin KR-1 250")
    assert "more than its whole way from 0 to 100; `undo` takes it back" in reply.text
    assert "whole way" not in (await ok("alice", "checkin KR-1 260")).text


async def test_undo_takes_back_my_last_checkin_and_its_history_line(ok, chat):
    await ok("alice", "checkin KR-1 40 7 first")
    await ok("alice", "checkin KR-1 90 9 typo")
    reply = await ok("alice", "undo")
    assert reply.text.startswith(
        "Took back your check-in on KR-1 (90 at confidence 9): it is 40 at confidence 7 again."
    )
    shown = await history(chat)
    assert "40 / 100 teams" in shown and "typo" not in shown and "first" in shown
    assert "It is 0 at confidence 5 again" not in (await ok("alice", "undo")).text  # the first one too
    assert "0 / 100 teams" in await history(chat) and "first" not in await history(chat)


async def test_nothing_to_undo_is_one_sentence(refused, ok, clock):
    await refused("alice", "undo", "You have no check-in of the last 24 hours to undo.")
    await ok("alice", "checkin KR-1 40")
    clock.advance(hours=25)
    await refused("alice", "undo", "You have no check-in of the last 24 hours to undo.")
    await refused("alice", "undo KR-1 extra", "is more than undo takes")


async def test_undo_is_mine_only_and_not_under_a_newer_checkin(ok, refused):
    await ok("alice", 'kr add O-1 "Shared" --target 10 --owner <@bob|Bob>')
    await ok("bob", "checkin KR-2 3")
    await ok("alice", "checkin KR-2 4")
    await refused("bob", "undo", "KR-2 was checked in again after you")
    assert "it is 3 at confidence 5 again" in (await ok("alice", "undo")).text
    await refused("carol", "undo", "You have no check-in of the last 24 hours to undo.")


async def test_undo_in_a_closed_cycle_changes_nothing(ok, refused):
    await ok("alice", "checkin KR-1 40")
    await ok("alice", "cycle close 2026-Q4")
    await refused("alice", "undo", "Cycle 2026-Q4 is closed")


async def test_no_change_records_each_key_result_as_it_stands_once_a_week(ok, chat, db, clock):
    await ok("alice", 'kr add O-1 "Second" --target 10')
    await ok("alice", "checkin KR-1 40 7")
    clock.advance(days=7)  # the next week
    reply = await ok("alice", "no change KR-1 KR-2")
    assert reply.text.startswith("No change ✓ recorded for KR-1, KR-2 on Fri 27 Nov 09:00.")
    assert "40 / 100 teams" in reply.text and "7/10" in reply.text
    shown = await history(chat)
    assert shown.count("no change") == 1 and "40 / 100 teams" in shown
    before = (await snapshot(db))["check_in"]
    again = await ok("alice", "no change KR-1 KR-2")
    assert again.text == "Nothing more recorded: KR-1, KR-2 already checked in this week."
    assert (await snapshot(db))["check_in"] == before


async def test_no_change_skips_what_moved_this_week_and_defaults_to_mine(ok):
    await ok("alice", 'kr add O-1 "Second" --target 10')
    await ok("alice", "checkin KR-2 4")  # this week
    reply = await ok("alice", "no change")
    assert reply.text.startswith("No change ✓ recorded for KR-1 on")
    assert "KR-2 already checked in this week: left as it was." in reply.text


async def test_no_change_refusals(refused, ok):
    await refused("alice", "no change KR-1 banana", '"banana" is not a key result like KR-7')
    await refused("alice", "no change KR-9", "There is no key result KR-9")
    await ok("alice", 'kr add O-1 "Bob\'s" --target 10 --owner <@bob|Bob>')
    await refused("carol", "no change KR-2", "Only")


async def test_the_prompt_carries_no_change_for_its_key_results(ok, db):
    await ok("alice", 'kr add O-1 "Second" --target 10')
    async with db.read() as session:
        workspace = await workspace_by_external(session, "local", "acme")
        assert workspace is not None
        (owner,) = await owners(session, row_id(workspace), dt.date(2026, 11, 20))
    message = prompt_message(owner.member, owner.krs)
    buttons = [b for block in message.blocks if isinstance(block, Actions) for b in block.buttons]
    assert [(b.label, b.command, b.replaces) for b in buttons] == [("No change", "no change KR-1 KR-2", True)]


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("chekin KR-1 4", "I don't know `chekin`; did you mean `checkin`?"),
        ("lsit", "I don't know `lsit`; did you mean `list`?"),
        ("team ad x", '"ad" is not a team command; did you mean `team add`? Use: team add'),
        ('objective add "x" --tem growth', '"--tem" is not an option of objective add; did you mean --team? Use:'),
        ("frobnicate", 'I don\'t know the command "frobnicate"; type `help` to see them all.'),
    ],
)
async def test_a_mistyped_command_suggests_the_nearest(refused, typed, sentence):
    assert (await refused("alice", typed)).text.startswith(sentence)


def test_a_prompt_with_many_key_results_says_no_change_alone() -> None:
    member = Member(id=1, workspace_id=1, external_id="U1", display_name="Ada")
    krs = [
        KeyResult(id=n, workspace_id=1, number=n, objective_id=1, title=f"KR {n}", owner_id=1, target=10)
        for n in range(100, 160)
    ]
    (button,) = next(b for b in prompt_message(member, krs).blocks if isinstance(b, Actions)).buttons
    assert (button.command, button.replaces) == ("no change", True)


async def test_two_no_change_clicks_at_once_record_once(ok, chat, db, clock) -> None:
    """A double click: on PostgreSQL the second waits on the workspace's lock, then finds the first's rows."""
    await ok("alice", 'kr add O-1 "Second" --target 10')
    clock.advance(days=7)
    replies = await asyncio.gather(*(chat("alice", "no change KR-1 KR-2") for _ in range(2)))
    assert sorted(r.text.split(" ")[0] for r in replies) == ["No", "Nothing"], [r.text for r in replies]
    rows = (await snapshot(db))["check_in"]
    assert len(rows) == 2  # one each for KR-1 and KR-2
