"""Who may change what (the rules are in bot/permissions.py).

Anyone in a workspace reads. A key result's check-in, grade and archive are for its owner, its
objective's owner, the team's lead and workspace admins; an objective's archive is for its owner,
the lead and admins. A refusal is one sentence saying who may, and writes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.command import Actor, Command, WorkspaceRef
from store.db import Database
from store.models import metadata

ROLES = ["admin", "lead", "objective_owner", "kr_owner", "team_member", "other_lead", "stranger"]
# one person per role, so each role is tested on its own
PEOPLE = {
    "admin": "ada",
    "lead": "lee",
    "objective_owner": "olga",
    "kr_owner": "kim",
    "team_member": "mo",
    "other_lead": "otto",
    "stranger": "sam",
}
KR_ALLOWED = {"admin", "lead", "objective_owner", "kr_owner"}
OBJECTIVE_ALLOWED = {"admin", "lead", "objective_owner"}

ACTIONS = {
    # action: (command, what the refusal says, who may)
    "checkin": ("checkin KR-1 4 7 moving", "may check in on it", KR_ALLOWED),
    "checkin_keeps_confidence": ("checkin KR-1 4", "may check in on it", KR_ALLOWED),
    "grade": ("grade KR-1 0.4", "may grade it", KR_ALLOWED),
    "archive_kr": ("archive KR-1", "may archive it", KR_ALLOWED),
    "archive_objective": ("archive O-1", "may archive it", OBJECTIVE_ALLOWED),
}


async def snapshot(db: Database) -> dict[str, list[tuple]]:
    out = {}
    async with db.read() as session:
        connection = await session.connection()
        for table in metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            out[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return out


@pytest.fixture
async def org(chat):
    """ada speaks first (admin); lee leads growth; olga owns O-1; kim owns KR-1; mo is in growth."""

    async def say(user: str, text: str) -> None:
        reply = await chat(user, text)
        assert not reply.is_error, f"{user}: {text}: {reply.text}"

    await say("ada", "help")
    await say("lee", 'team add growth "Growth"')
    await say("otto", 'team add ops "Ops"')
    await say("olga", "team join growth")
    await say("olga", 'objective add "Grow revenue" --team growth')
    await say("olga", 'kr add O-1 "Active teams" --target 10 --owner <@kim|Kim>')
    await say("kim", "help")
    await say("mo", "team join growth")
    await say("sam", "help")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_permission_matrix(org, chat, db, role, action):
    text, refusal, allowed = ACTIONS[action]
    before = await snapshot(db)
    reply = await chat(PEOPLE[role], text)
    if role in allowed:
        assert not reply.is_error, f"{role} may {action}: {reply.text}"
        assert await snapshot(db) != before
    else:
        assert reply.is_error, f"{role} may not {action}, yet: {reply.text}"
        assert reply.text.startswith("Only the owner of ")
        assert refusal in reply.text
        assert "\n" not in reply.text
        assert await snapshot(db) == before, f"a refused {action} by {role} wrote to the database"


READS = {
    # command: what every reader sees in its reply
    "show KR-1": "== KR-1 Active teams ==\n",
    "show O-1": "== O-1 Grow revenue ==\n",
    "list all": "== All OKRs ==\nO-1 Grow revenue — 0%\n",
    "list team growth": "== Team growth ==\nO-1 Grow revenue — 0%\n",
    "team list": "growth: Growth · lead @Lee · @Lee, @Mo, @Olga\n",
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("text", list(READS))
async def test_anyone_in_the_workspace_reads(org, chat, role, text):
    reply = await chat(PEOPLE[role], text)
    assert not reply.is_error, reply.text
    assert READS[text] in reply.text, reply.text


async def test_refusal_names_who_may(org, chat):
    reply = await chat("sam", "checkin KR-1 4")
    assert reply.is_error
    assert reply.text == (
        "Only the owner of KR-1, the owner of O-1, the team lead or a workspace admin may check in on it."
    )
    reply = await chat("kim", "archive O-1")
    assert reply.text == "Only the owner of O-1, the team lead or a workspace admin may archive it."


async def test_refused_checkin_leaves_value_and_history(org, chat):
    await chat("sam", "checkin KR-1 9 10 not mine")
    shown = (await chat("sam", "show KR-1")).text
    assert "0 / 10" in shown and "No check-ins yet." in shown and "Confidence: 5/10" in shown


async def test_first_member_is_the_admin(chat):
    await chat("first", "help")
    await chat("second", "help")
    await chat("first", "cycle add q 2027-01-01 2027-03-31")
    reply = await chat("second", "cycle close q")
    assert reply.is_error and reply.text == "Only a workspace admin may close a cycle."
    assert not (await chat("first", "cycle close q")).is_error


async def test_first_member_of_each_workspace_is_its_admin(chat):
    await chat("first", "help")
    await chat("second", "help", workspace="other")
    await chat("first", "help", workspace="other")
    await chat("second", "cycle add q 2027-01-01 2027-03-31", workspace="other")
    assert not (await chat("second", "cycle close q", workspace="other")).is_error
    await chat("first", "cycle add q 2027-01-01 2027-03-31", workspace="other")
    assert (await chat("first", "cycle close q", workspace="other")).is_error


async def test_a_mentioned_person_is_not_made_admin(chat):
    """The first to be *mentioned* is not the first member: the one who spoke is."""
    await chat("ada", 'team add growth "Growth"')
    await chat("ada", 'objective add "Grow" --team growth')
    await chat("ada", 'kr add O-1 "x" --target 1 --owner <@kim|Kim>')
    await chat("ada", "cycle add q 2027-01-01 2027-03-31")
    assert (await chat("kim", "cycle close q")).is_error


async def test_platform_admin_becomes_workspace_admin(org, bot):
    def command(admin: bool) -> Command:
        return Command(
            workspace=WorkspaceRef("local", "acme", "acme"),
            actor=Actor("sam", "Sam", is_platform_admin=admin),
            text="checkin KR-1 3",
            source="test",
        )

    assert (await bot.handle(command(False))).is_error
    reply = await bot.handle(command(True))
    assert not reply.is_error, reply.text
    assert not (await bot.handle(command(False))).is_error, "an admin stays admin"


async def test_first_member_refused_command_does_not_take_the_admin_seat(chat):
    """A newcomer whose first command fails is not registered, so the next one to speak is admin."""
    assert (await chat("eve", "checkin KR-1 5")).is_error
    await chat("ada", "help")
    await chat("eve", "help")
    await chat("ada", "cycle add q 2027-01-01 2027-03-31")
    assert (await chat("eve", "cycle close q")).is_error
    assert not (await chat("ada", "cycle close q")).is_error
