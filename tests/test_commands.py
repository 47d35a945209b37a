"""Scenarios through Bot.handle, read like the conversation they check (SQLite and PostgreSQL).

Every refusal is checked twice: the reply is one error sentence naming the problem, and the
database holds exactly what it held before (:func:`refused` compares every table).
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from conftest import snapshot
from sqlalchemy import select

from bot.command import Actor, Command, WorkspaceRef
from store.models import metadata


async def exported(chat, user: str = "alice", workspace: str = "acme") -> dict:
    reply = await chat(user, "export json", workspace=workspace)
    assert not reply.is_error, reply.text
    return json.loads(reply.text)


def order(text: str, *needles: str) -> list[int]:
    return [text.index(needle) for needle in needles]


# teams ---------------------------------------------------------------------------------------


async def test_team_add_makes_the_creator_lead_and_member(ok):
    await ok("alice", 'team add growth "Growth & Sales"', "Created team growth (Growth & Sales)", "lead")
    listed = await ok("bob", "team list")
    assert "growth: Growth & Sales · lead @Alice · @Alice" in listed.text


async def test_team_list_when_empty(ok):
    await ok("alice", "team list", "No teams yet")


async def test_team_join_and_leave(ok, refused, chat):
    await ok("alice", 'team add growth "Growth"')
    await ok("bob", "team join growth", "You joined team growth")
    assert "@Alice, @Bob" in (await chat("carol", "team list")).text
    await refused("bob", "team join growth", "already in team growth")
    await ok("bob", "team leave growth", "You left team growth")
    assert "@Bob" not in (await chat("carol", "team list")).text
    await refused("bob", "team leave growth", "not in team growth")


async def test_team_duplicate_key_refused(ok, refused):
    await ok("alice", 'team add growth "Growth"')
    await refused("bob", 'team add growth "Other growth"', 'A team "growth" already exists')
    await refused("bob", 'team add GROWTH "Shouting"', 'A team "growth" already exists')


async def test_unknown_team_refused(refused, ok):
    await ok("alice", "help")
    await refused("alice", "team join nope", 'There is no team "nope" in this workspace')
    await refused("alice", "team leave nope", 'There is no team "nope"')
    await refused("alice", "list team nope", 'There is no team "nope"')


# capabilities --------------------------------------------------------------------------------


async def test_capabilities_append_in_order(ok):
    await ok("alice", 'capability add understand "Understand customers"', "stage 1")
    await ok("alice", 'capability add develop "Develop solutions"', "stage 2")
    await ok("alice", 'capability add deliver "Deliver"', "stage 3")
    text = (await ok("bob", "capability list")).text
    assert "1. Understand customers (understand)" in text
    assert "2. Develop solutions (develop)" in text
    assert "3. Deliver (deliver)" in text


async def test_capability_position_inserts_and_renumbers(ok, chat):
    for key in ("a", "b", "c"):
        await ok("alice", f'capability add {key} "Stage {key}"')
    await ok("alice", 'capability add x "Stage x" --position 2', "stage 2")
    await ok("alice", 'capability add first "Stage first" --position 1', "stage 1")
    await ok("alice", 'capability add last "Stage last" --position 999', "stage 6")
    text = (await chat("alice", "capability list")).text
    expected = ["first", "a", "x", "b", "c", "last"]
    for number, key in enumerate(expected, start=1):
        assert f"{number}. Stage {key} ({key})" in text, text
    assert order(text, *(f"({key})" for key in expected)) == sorted(order(text, *(f"({key})" for key in expected)))
    positions = {c["key"]: c["position"] for c in (await exported(chat))["capabilities"]}
    assert positions == {key: n for n, key in enumerate(expected, start=1)}


async def test_sub_capabilities_one_level_and_their_own_numbering(ok, refused, chat):
    await ok("alice", 'capability add understand "Understand"')
    await ok("alice", 'capability add deliver "Deliver"')
    await ok("alice", 'capability add interviews "Interviews" --parent understand', "sub-capability 1 of understand")
    await ok("alice", 'capability add surveys "Surveys" --parent understand --position 1', "sub-capability 1")
    text = (await chat("alice", "capability list")).text
    assert order(text, "1. Understand", "1.1 Surveys", "1.2 Interviews", "2. Deliver") == sorted(
        order(text, "1. Understand", "1.1 Surveys", "1.2 Interviews", "2. Deliver")
    )
    await refused("alice", 'capability add deep "Deep" --parent interviews', "interviews is itself a sub-capability")
    await refused("alice", 'capability add deep "Deep" --parent nope', 'There is no capability "nope"')
    await refused("alice", 'capability add surveys "Again"', 'A capability "surveys" already exists')


async def test_capability_list_when_empty(ok):
    await ok("alice", "capability list", "No capabilities yet")


# cycles ----------------------------------------------------------------------------------------


async def test_cycle_add_and_list(ok):
    await ok("alice", "cycle add 2027-H1 2027-01-01 2027-06-30", "Added cycle 2027-H1")
    await ok("alice", "cycle add 2026-Q3 2026-07-01 2026-09-30")
    text = (await ok("bob", "cycle list")).text
    assert "2026-Q3: 2026-07-01 to 2026-09-30" in text
    assert "2027-H1: 2027-01-01 to 2027-06-30" in text
    assert text.index("2026-Q3") < text.index("2027-H1"), "oldest first"


async def test_cycle_end_before_start_refused(ok, refused):
    await ok("alice", "help")
    await refused("alice", "cycle add bad 2027-06-30 2027-01-01", "ends (2027-01-01) before it starts (2027-06-30)")


async def test_cycle_duplicate_refused(ok, refused):
    await ok("alice", "cycle add 2027-H1 2027-01-01 2027-06-30")
    await refused("alice", "cycle add 2027-H1 2027-01-01 2027-03-31", 'A cycle "2027-H1" already exists')


async def test_cycle_close_is_for_admins(ok, refused):
    await ok("alice", "cycle add 2027-H1 2027-01-01 2027-06-30")
    await ok("bob", "help")
    await refused("bob", "cycle close 2027-H1", "Only a workspace admin may close a cycle")
    await ok("alice", "cycle close 2027-H1", "Closed cycle 2027-H1")
    assert "2027-H1: 2027-01-01 to 2027-06-30 · closed" in (await ok("bob", "cycle list")).text
    await refused("alice", "cycle close 2027-H1", "is closed already")
    await refused("alice", "cycle close nope", 'There is no cycle "nope"')


async def test_a_closed_cycle_takes_no_more_check_ins(ok, refused):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", "cycle add 2026-H2 2026-07-01 2026-12-31")
    await ok("alice", 'objective add "Grow" --team growth --cycle 2026-H2')
    await ok("alice", 'kr add O-1 "Active teams" --target 100')
    await ok("alice", "cycle close 2026-H2")
    await refused("alice", "checkin KR-1 40 7", "Cycle 2026-H2 is closed", "takes no more check-ins")
    await refused("alice", "grade KR-1 0.4", "Cycle 2026-H2 is closed", "keeps the score it had")
    await refused("alice", 'kr add O-1 "Late" --target 3', "Cycle 2026-H2 of O-1 is closed")
    await refused("alice", 'objective add "Late" --team growth --cycle 2026-H2', "Cycle 2026-H2 is closed")
    await refused("alice", "no change KR-1", "Cycle 2026-H2 is closed")


# objectives ----------------------------------------------------------------------------------


async def test_first_objective_creates_the_current_quarter(ok):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", "cycle list", "No cycles yet")
    await ok("alice", 'objective add "Grow revenue" --team growth', "Created O-1 Grow revenue", "2026-Q4", "committed")
    await ok("alice", "cycle list", "2026-Q4: 2026-10-01 to 2026-12-31")
    await ok("alice", 'objective add "Second" --team growth', "O-2", "2026-Q4")
    assert (await ok("alice", "cycle list")).text.count("2026-Q4") == 1


async def test_next_quarter_is_created_when_the_clock_gets_there(ok, clock):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", 'objective add "Now" --team growth', "2026-Q4")
    clock.advance(days=60)
    await ok("alice", 'objective add "Later" --team growth', "2027-Q1")
    await ok("alice", "cycle list", "2027-Q1: 2027-01-01 to 2027-03-31")


async def test_quarter_named_by_hand_that_misses_today_is_explained(ok, refused):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", "cycle add 2026-Q4 2026-01-01 2026-02-01")
    reply = await refused("alice", 'objective add "Now" --team growth', "2026-Q4 runs 2026-01-01 to 2026-02-01")
    assert "closed" not in reply.text
    await ok("alice", 'objective add "Now" --team growth --cycle 2026-Q4', "Created O-1")


async def test_closed_current_quarter_refuses_new_objectives(ok, refused):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", 'objective add "Now" --team growth')
    await ok("alice", "cycle close 2026-Q4")
    await refused("alice", 'objective add "More" --team growth', "2026-Q4 is closed")
    await refused("alice", 'objective add "More" --team growth --cycle 2026-Q4', "2026-Q4 is closed")


async def test_objective_options(ok, chat):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", 'capability add deliver "Deliver value"')
    await ok("alice", "cycle add 2027-H1 2027-01-01 2027-06-30")
    await ok("alice", 'objective add "Parent goal" --team growth')
    await ok(
        "alice",
        'objective add "Stretch" --team growth --capability deliver --parent O-1 --aspirational --cycle 2027-H1',
        "Created O-2 Stretch",
        "2027-H1",
        "aspirational",
    )
    shown = (await ok("bob", "show O-2")).text
    assert "supports Deliver value" in shown
    assert "under O-1 Parent goal" in shown
    assert "aspirational" in shown and "2027-H1" in shown
    assert "Supported by" in (await ok("bob", "show O-1")).text
    objective = (await exported(chat))["objectives"][1]
    assert objective == {
        "id": "O-2",
        "title": "Stretch",
        "team": "growth",
        "owner": "alice",
        "cycle": "2027-H1",
        "kind": "aspirational",
        "archived": False,
        "capability": "deliver",
        "parent": "O-1",
        "carried_from": None,
    }


async def test_objective_unknown_references_refused(okr, refused):
    await refused("alice", 'objective add "X" --team nope', 'There is no team "nope" in this workspace')
    await refused("alice", 'objective add "X" --team growth --capability nope', 'There is no capability "nope"')
    await refused(
        "alice", 'objective add "X" --team growth --parent O-9', "There is no objective O-9 in this workspace"
    )
    await refused("alice", 'objective add "X" --team growth --cycle nope', 'There is no cycle "nope"')


async def test_objective_with_archived_parent_refused(okr, ok, refused):
    await ok("alice", "archive O-1")
    await refused("alice", 'objective add "X" --team growth --parent O-1', "O-1 is archived")


# key results -----------------------------------------------------------------------------------


async def test_kr_add(okr, ok):
    shown = (await ok("bob", "show KR-1")).text
    assert "KR-1 Active teams" in shown
    assert "0 / 100 teams" in shown
    assert "Owner: @Alice" in shown
    assert "Confidence: 5/10 at risk" in shown, "a new KR starts at 5"
    assert "No check-ins yet." in shown


async def test_kr_target_equal_to_start_refused(okr, refused):
    await refused("alice", 'kr add O-1 "Flat" --target 5 --start 5', "equals the start")
    await refused("alice", 'kr add O-1 "Flat" --target 0', "equals the start")


async def test_kr_unknown_or_archived_objective_refused(okr, ok, refused):
    await refused("alice", 'kr add O-7 "X" --target 5', "There is no objective O-7 in this workspace")
    await ok("alice", "archive O-1")
    await refused("alice", 'kr add O-1 "X" --target 5', "O-1 is archived")


async def test_kr_owner_mention_creates_the_member(okr, ok, chat):
    await ok("alice", 'kr add O-1 "Ship it" --target 3 --owner <@U77|Carol Day>', "KR-2", "owner @Carol Day")
    assert "Owner: @Carol Day" in (await ok("bob", "show KR-2")).text
    members = {m["id"]: m for m in (await exported(chat))["members"]}
    assert members["U77"] == {"id": "U77", "name": "Carol Day", "timezone": None, "admin": False}
    await ok("alice", 'kr add O-1 "Again" --target 3 --owner <@U77>', "owner @Carol Day")
    assert [m["id"] for m in (await exported(chat))["members"]].count("U77") == 1


async def test_mentioned_owner_checks_in_on_their_kr(okr, ok):
    await ok("alice", 'kr add O-1 "Ship it" --target 3 --owner <@carol|Carol>')
    await ok("carol", "checkin KR-2 1", "Checked in KR-2")


@pytest.mark.parametrize(
    ("value", "percent"), [("10", "0%"), ("6", "50%"), ("4", "75%"), ("2", "100%"), ("0", "100%"), ("12", "0%")]
)
async def test_progress_of_a_kr_that_goes_down(okr, ok, value, percent):
    await ok("alice", 'kr add O-1 "Churn" --start 10 --target 2 --unit %', "KR-2", "10 / 2 %")
    reply = await ok("alice", f"checkin KR-2 {value}")
    assert f"{percent} · {value} / 2 %" in reply.text


async def test_progress_of_a_kr_that_goes_up(okr, ok):
    assert "40% · 40 / 100 teams" in (await ok("alice", "checkin KR-1 40")).text
    assert "100% · 130 / 100 teams" in (await ok("alice", "checkin KR-1 130")).text


async def test_values_are_shown_as_typed(okr, ok):
    assert "123456.5 / 100" in (await ok("alice", "checkin KR-1 123456.5")).text
    assert "1200 / 100" in (await ok("alice", "checkin KR-1 1,200")).text
    assert "0.25 / 100" in (await ok("alice", "checkin KR-1 0.25")).text


# check-ins ---------------------------------------------------------------------------------------


async def test_checkin_updates_value_confidence_and_history(okr, ok, clock):
    reply = await ok("alice", "checkin KR-1 40 7 good week")
    assert "Checked in KR-1: confidence 7/10 on track (was 5)" in reply.text
    assert "40 / 100 teams" in reply.text
    clock.advance(days=7)
    reply = await ok("alice", "checkin KR-1 55 slower week")
    assert "confidence 7/10 on track." in reply.text, "confidence omitted keeps the previous one"
    assert "(was" not in reply.text
    shown = (await ok("bob", "show KR-1")).text
    assert "55 / 100 teams" in shown
    assert "Confidence: 7/10 on track" in shown
    assert "Recent check-ins (2)" in shown
    newest = "2026-11-27 · 55 · confidence 7 · @Alice — slower week"
    oldest = "2026-11-20 · 40 · confidence 7 · @Alice — good week"
    assert newest in shown and oldest in shown
    assert shown.index(newest) < shown.index(oldest), "newest first"


async def test_checkin_history_is_appended_in_the_database(okr, ok, chat):
    await ok("alice", "checkin KR-1 10 3")
    await ok("alice", "checkin KR-1 20")
    await ok("alice", "checkin KR-1 15 9 oops, went down")
    data = await exported(chat)
    history = [(c["value"], c["confidence"], c["note"]) for c in data["check_ins"]]
    assert history == [(10.0, 3, ""), (20.0, 3, ""), (15.0, 9, "oops, went down")]
    assert data["key_results"][0]["current"] == 15.0
    assert data["key_results"][0]["confidence"] == 9


async def test_checkin_red_yellow_green(okr, ok):
    assert "3/10 off track" in (await ok("alice", "checkin KR-1 1 3")).text
    assert "6/10 at risk" in (await ok("alice", "checkin KR-1 1 6")).text
    assert "7/10 on track" in (await ok("alice", "checkin KR-1 1 7")).text


async def test_checkin_refusals(okr, refused):
    await refused("alice", "checkin KR-1", "The value for KR-1 is missing")
    await refused("alice", "checkin KR-9 40", "There is no key result KR-9 in this workspace")
    await refused("alice", "checkin KR-1 40 11", "The confidence must be a whole number from 0 to 10")
    await refused("alice", "checkin KR-1 lots", 'not "lots"')


async def test_checkin_without_arguments_is_a_form_of_my_krs(okr, ok):
    await ok("alice", 'kr add O-1 "Theirs" --target 3 --owner <@bob|Bob>')
    form = (await ok("alice", "checkin")).text
    assert "Weekly check-in" in form and "KR-1 Active teams" in form and "KR-2" not in form
    await ok("carol", "checkin", "You own no active key results")


# numbers ---------------------------------------------------------------------------------------


async def test_numbers_are_per_workspace_and_never_reused(okr, ok):
    await ok("zed", 'team add ops "Ops"', workspace="other")
    await ok("zed", 'objective add "Other first" --team ops', "Created O-1", workspace="other")
    await ok("zed", 'kr add O-1 "Other KR" --target 5', "Added KR-1", workspace="other")
    await ok("alice", 'kr add O-1 "Second" --target 5', "Added KR-2")
    await ok("alice", "archive KR-2")
    await ok("alice", "archive O-1")
    await ok("alice", 'objective add "After archive" --team growth', "Created O-2")
    await ok("alice", 'kr add O-2 "After archive" --target 5', "Added KR-3")
    await ok("zed", 'objective add "Other second" --team ops', "Created O-2", workspace="other")
    await ok("zed", 'kr add O-2 "Other KR 2" --target 5', "Added KR-2", workspace="other")


async def test_refused_command_does_not_use_up_a_number(okr, ok, refused):
    await refused("alice", 'kr add O-1 "Flat" --target 0', "equals the start")
    await refused("alice", 'objective add "X" --team nope', "There is no team")
    await ok("alice", 'objective add "Next" --team growth', "Created O-2")
    await ok("alice", 'kr add O-2 "Next" --target 1', "Added KR-2")


# grade and archive -------------------------------------------------------------------------------


async def test_grade(okr, ok, refused):
    await ok("alice", "grade KR-1 0.7", "Graded KR-1 Active teams: 0.70.")
    assert "Score: 0.70" in (await ok("bob", "show KR-1")).text
    await refused("alice", "grade KR-1 1.5", "A score is a number from 0.0 to 1.0")
    await refused("alice", "grade KR-9 0.5", "There is no key result KR-9 in this workspace")


async def test_grade_on_an_aspirational_objective(okr, ok):
    await ok("alice", 'objective add "Moonshot" --team growth --aspirational')
    await ok("alice", 'kr add O-2 "Land" --target 1')
    await ok("alice", "grade KR-2 0.7", "a success for an aspirational objective")
    await ok("alice", "grade KR-2 0.6", "below the 0.7")


async def test_archive_objective_archives_its_krs(okr, ok, refused, chat):
    await ok("alice", 'kr add O-1 "Second" --target 5')
    await ok("alice", "archive O-1", "Archived O-1 Grow revenue and its key results.")
    data = await exported(chat)
    assert data["objectives"][0]["archived"] is True
    assert [kr["archived"] for kr in data["key_results"]] == [True, True]
    await refused("alice", "checkin KR-1 5", "KR-1 is archived")
    await refused("alice", "checkin KR-2 5", "KR-2 is archived")
    await refused("alice", "grade KR-2 0.5", "KR-2 is archived")
    await refused("alice", "archive O-1", "O-1 is already archived")
    await refused("alice", "archive KR-1", "KR-1 is already archived")
    assert "Grow revenue" not in (await ok("alice", "list all")).text
    assert "Status: archived" in (await ok("alice", "show KR-1")).text


async def test_archive_one_kr(okr, ok, refused):
    await ok("alice", 'kr add O-1 "Second" --target 5')
    await ok("alice", "archive KR-1", "Archived KR-1 Active teams.")
    await refused("alice", "checkin KR-1 5", "KR-1 is archived")
    await ok("alice", "checkin KR-2 1")
    listed = (await ok("alice", "list all")).text
    assert "KR-2 Second" in listed and "KR-1" not in listed


async def test_archive_unknown_refused(okr, refused):
    await refused("alice", "archive O-5", "There is no objective O-5 in this workspace")
    await refused("alice", "archive KR-5", "There is no key result KR-5 in this workspace")


# lists and show ----------------------------------------------------------------------------------


@pytest.fixture
async def org(ok):
    """Two teams and a value chain: growth (alice) and platform (bob), carol owns a KR on O-2."""
    await ok("alice", 'team add growth "Growth"')
    await ok("bob", 'team add platform "Platform"')
    await ok("alice", 'capability add understand "Understand"')
    await ok("alice", 'capability add research "Research" --parent understand')
    await ok("alice", 'capability add deliver "Deliver"')
    await ok("alice", 'objective add "Alice growth goal" --team growth --capability understand')
    await ok("bob", 'objective add "Bob platform goal" --team platform --capability research')
    await ok("bob", 'kr add O-2 "Carol measures" --target 10 --owner <@carol|Carol>')
    await ok("bob", 'objective add "Bob delivery goal" --team platform --capability deliver')


async def test_list_mine_team_capability_all(org, ok):
    def titles(text: str) -> set[str]:
        return set(re.findall(r"(?:Alice|Bob) \w+ goal", text))

    assert titles((await ok("alice", "list")).text) == {"Alice growth goal"}
    assert titles((await ok("alice", "list mine")).text) == {"Alice growth goal"}
    assert titles((await ok("carol", "list mine")).text) == {"Bob platform goal"}, "a KR's owner sees its objective"
    assert titles((await ok("alice", "list team platform")).text) == {"Bob platform goal", "Bob delivery goal"}
    assert titles((await ok("alice", "list capability understand")).text) == {
        "Alice growth goal",
        "Bob platform goal",
    }, "a stage includes its sub-capabilities"
    assert titles((await ok("alice", "list capability research")).text) == {"Bob platform goal"}
    assert titles((await ok("dave", "list all")).text) == {
        "Alice growth goal",
        "Bob platform goal",
        "Bob delivery goal",
    }
    assert "own no objectives" in (await ok("dave", "list")).text


async def test_list_all_hides_closed_cycles(org, ok):
    await ok("alice", "cycle close 2026-Q4")
    assert "No objectives yet" in (await ok("alice", "list all")).text


async def test_list_unknown_capability_refused(org, refused):
    await refused("alice", "list capability nope", 'There is no capability "nope"')


async def test_show_objective(org, ok):
    await ok("carol", "checkin KR-1 5 8")
    shown = (await ok("dave", "show O-2")).text
    assert "== O-2 Bob platform goal ==" in shown
    assert "team platform · owner @Bob · 2026-Q4 · committed · supports Research" in shown
    assert "KR-1 Carol measures · @Carol" in shown
    assert "50% · 5 / 10" in shown
    assert "Average progress 50%" in shown


async def test_show_unknown_refused(org, refused):
    await refused("alice", "show O-99", "There is no objective O-99 in this workspace")
    await refused("alice", "show KR-99", "There is no key result KR-99 in this workspace")


# text as typed -----------------------------------------------------------------------------------

TRICKY = "Say \"hi\" 😀 <b>bold</b> & 'quotes' `code` '; DROP TABLE okr; --"


async def test_text_is_stored_and_shown_exactly_as_typed(ok, chat):
    quoted = TRICKY.replace('"', '\\"')
    await ok("alice", f'team add growth "{quoted}"', TRICKY)
    await ok("alice", f'objective add "{quoted}" --team growth', TRICKY)
    await ok("alice", f'kr add O-1 "{quoted}" --target 5', TRICKY)
    await ok("alice", f"checkin KR-1 1 7 {TRICKY}")
    for command in ("show O-1", "show KR-1", "list all", "team list"):
        assert TRICKY in (await ok("bob", command)).text, command
    data = await exported(chat)
    assert data["teams"][0]["name"] == TRICKY
    assert data["objectives"][0]["title"] == TRICKY
    assert data["key_results"][0]["title"] == TRICKY
    assert data["check_ins"][0]["note"] == TRICKY


async def test_unquoted_title_with_tricky_text(ok, chat):
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", "objective add Zoë’s <team> & “friends” 🚀 --team growth")
    assert (await exported(chat))["objectives"][0]["title"] == "Zoë’s <team> & “friends” 🚀"


async def test_nul_in_text_refused(okr, refused):
    await refused("alice", "checkin KR-1 5 bad\x00note", "NUL")
    await refused("alice", 'objective add "bad\x00" --team growth', "NUL")


# every bad input writes nothing ------------------------------------------------------------------

BAD = [
    'team add growth "Dup"',
    'team add "No key"',
    "team join",
    'objective add "" --team growth',
    'objective add "X"',
    'objective add "X" --team growth --team growth',
    'objective add "X" --team growth --colour red',
    'objective add "X --team growth',
    'objective add "X" --team growth --parent O-44',
    'objective add "X" --team growth --cycle 2031',
    'kr add O-1 "X" --target nan',
    'kr add O-1 "X" --target 1e400',
    'kr add O-1 "X" --target 5 --owner bob',
    'kr add O-1 "X" --target 5 --unit "two words"',
    'kr add O-1 "' + "t" * 201 + '" --target 5',
    "checkin KR-1 40 " + "n" * 2001,
    "checkin KR-1 40 -1",
    "checkin KR-2 40",
    "grade KR-1 2",
    "grade KR-1",
    "archive X-1",
    "cycle add q 2026-02-30 2026-03-31",
    "cycle add q 2026-03-31 2026-01-01",
    'capability add x "X" --position 0',
    'capability add x "X" --parent nowhere',
    "frobnicate",
    "team frob",
    "show",
]


@pytest.mark.parametrize("text", BAD)
async def test_bad_input_writes_nothing(okr, refused, text):
    await refused("alice", text)


@pytest.mark.parametrize("text", ['team add t "T"', "checkin KR-1 5", "list all", 'objective add "X" --team nope'])
async def test_a_stranger_refused_first_time_is_not_registered(okr, chat, text, db):
    """A newcomer's first command, when refused, leaves no member behind either."""
    before = await snapshot(db)
    reply = await chat("newcomer", text + " extra-token-that-is-wrong")
    assert reply.is_error
    assert await snapshot(db) == before


# workspace isolation -----------------------------------------------------------------------------


@pytest.fixture
async def two_workspaces(okr, ok):
    """acme has O-1, O-2 and KR-1, KR-2; other has only its own O-1 and KR-1."""
    await ok("alice", 'objective add "Acme secret plan" --team growth')
    await ok("alice", 'kr add O-2 "Acme secret KR" --target 9')
    await ok("zed", 'team add growth "Other growth"', workspace="other")
    await ok("zed", 'objective add "Other plan" --team growth', workspace="other")
    await ok("zed", 'kr add O-1 "Other KR" --target 3', workspace="other")


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("show O-2", "There is no objective O-2 in this workspace"),
        ("show KR-2", "There is no key result KR-2 in this workspace"),
        ("checkin KR-2 5", "There is no key result KR-2 in this workspace"),
        ("grade KR-2 0.5", "There is no key result KR-2 in this workspace"),
        ("archive O-2", "There is no objective O-2 in this workspace"),
        ("archive KR-2", "There is no key result KR-2 in this workspace"),
        ('kr add O-2 "Sneaky" --target 5', "There is no objective O-2 in this workspace"),
        ('objective add "Sneaky" --team growth --parent O-2', "There is no objective O-2 in this workspace"),
        ('objective add "Sneaky" --team nope', 'There is no team "nope" in this workspace'),
    ],
)
async def test_ids_from_another_workspace_are_unknown(two_workspaces, refused, text, unknown):
    reply = await refused("zed", text, unknown, workspace="other")
    assert "Acme" not in reply.text


async def test_list_all_shows_only_this_workspace(two_workspaces, ok):
    other = (await ok("zed", "list all", workspace="other")).text
    assert "Other plan" in other and "Other KR" in other
    assert "Acme" not in other and "Grow revenue" not in other and "Active teams" not in other
    acme = (await ok("alice", "list all")).text
    assert "Acme secret plan" in acme and "Grow revenue" in acme
    assert "Other" not in acme


async def test_same_id_means_each_workspaces_own_row(two_workspaces, ok):
    assert "Other plan" in (await ok("zed", "show O-1", workspace="other")).text
    assert "Grow revenue" in (await ok("alice", "show O-1")).text
    await ok("zed", "checkin KR-1 2", workspace="other")
    assert "0 / 100 teams" in (await ok("alice", "show KR-1")).text


async def test_same_person_id_is_a_different_member_in_each_workspace(two_workspaces, ok, refused):
    """alice is admin of acme, but in "other" she is a newcomer with no say over zed's KR."""
    await refused("alice", "checkin KR-1 2", "Only the owner of KR-1", workspace="other")
    await refused("alice", "cycle close 2026-Q4", "Only a workspace admin", workspace="other")


# help --------------------------------------------------------------------------------------------


async def test_help_lists_every_command(ok):
    text = (await ok("alice", "help")).text
    for usage in ("checkin KR-n <value>", "objective add", "kr add O-n", "grade KR-n", "team add <key>"):
        assert usage in text


async def test_help_on_one_command(ok, refused):
    assert "checkin KR-n <value> [<confidence 0-10>] [note ...]" in (await ok("alice", "help checkin")).text
    assert "team add" in (await ok("alice", "help team")).text
    await refused("alice", "help frobnicate", 'There is no command "frobnicate"')


async def test_empty_text_is_help(ok):
    await ok("alice", "   ", "okrbot")


# concurrency ---------------------------------------------------------------------------------------


def _command(user: str, text: str, workspace: str = "fresh") -> Command:
    return Command(
        workspace=WorkspaceRef("local", workspace, workspace), actor=Actor(user, user.title()), text=text, source="test"
    )


async def test_first_messages_at_once_to_a_new_workspace(bot, chat):
    """Eight people speak to a new workspace at the same moment: all answered, one admin."""
    replies = await asyncio.gather(*(bot.handle(_command(f"user{i}", "help")) for i in range(8)))
    assert [r.is_error for r in replies] == [False] * 8, [r.text for r in replies if r.is_error]
    members = (await exported(chat, "user0", workspace="fresh"))["members"]
    assert len(members) == 8
    assert sum(m["admin"] for m in members) == 1


async def test_same_team_added_twice_at_once(bot, chat):
    await chat("alice", "help", workspace="fresh")
    await chat("bob", "help", workspace="fresh")
    replies = await asyncio.gather(
        bot.handle(_command("alice", 'team add growth "A"')), bot.handle(_command("bob", 'team add growth "B"'))
    )
    assert sorted(r.is_error for r in replies) == [False, True]
    assert 'A team "growth" already exists' in next(r.text for r in replies if r.is_error)


async def test_objectives_and_key_results_are_dated_by_the_bot_clock(ok, db, clock):
    clock.now = clock.now.replace(year=2026, month=10, day=2)
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", 'objective add "Grow" --team growth')
    await ok("alice", 'kr add O-1 "Active teams" --target 100')
    async with db.engine.connect() as connection:
        rows = (await connection.execute(select(metadata.tables["objective"].c.created_at))).all()
        krs = (await connection.execute(select(metadata.tables["key_result"].c.created_at))).all()
    assert [r[0] for r in rows] == [clock.now] and [r[0] for r in krs] == [clock.now]
