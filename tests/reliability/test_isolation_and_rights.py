"""Tenant isolation and who may change schedules.

Every command that takes an id answers ids of another workspace as unknown; `export` holds only
its own workspace; a property test over random command sequences in two workspaces finds no title
of one in any reply to the other. The permission matrix of tests/test_permissions.py is extended
to schedule, subscribe, unsubscribe, nudge and away.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from harness import command, no_secret_in_logs  # noqa: F401  (an autouse fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_permissions import PEOPLE, ROLES, org, snapshot  # noqa: F401  (org is a fixture)

from bot.core import INTERNAL_ERROR, Bot
from store.db import Database
from store.migrate import upgrade_async

OBJECTIVE, KEY_RESULT = "objective O-1", "key result KR-1"
ID_COMMANDS = {  # a command naming an id of workspace alpha: what beta is told it does not have
    "show O-1": OBJECTIVE,
    "show KR-1": KEY_RESULT,
    "checkin KR-1 5 7 x": KEY_RESULT,
    "grade KR-1 0.5": KEY_RESULT,
    "archive KR-1": KEY_RESULT,
    "archive O-1": OBJECTIVE,
    "nudge KR-1": KEY_RESULT,
    'kr add O-1 "Sneaky" --target 3': OBJECTIVE,
    'objective add "Sub" --team ops --parent O-1': OBJECTIVE,
}


async def test_ids_of_another_workspace_are_unknown(chat, db) -> None:
    for line in ['team add growth "Growth"', 'objective add "SECRET-A objective" --team growth',
                 'kr add O-1 "SECRET-A result" --target 10', "checkin KR-1 3 7 SECRET-A note"]:  # fmt: skip
        assert not (await chat("ada", line)).is_error
    await chat("bea", 'team add ops "Ops"', workspace="beta")
    before = await snapshot(db)
    for text, unknown in ID_COMMANDS.items():
        reply = await chat("bea", text, workspace="beta")
        assert reply.is_error, (text, reply.text)
        assert reply.text == f"There is no {unknown} in this workspace; `list all` shows them.", (text, reply.text)
    assert await snapshot(db) == before
    for what in ("json", "csv"):
        exported = (await chat("bea", f"export {what}", workspace="beta")).text
        assert "SECRET-A" not in exported


OPS = [
    'team add t{n} "Team {tag}{n}"', 'objective add "Obj {tag}{n}" --team t{n}', 'kr add O-{n} "KR {tag}{n}" --target 9',
    "checkin KR-{n} 4 6 note {tag}{n}", 'capability add c{n} "Cap {tag}{n}"', "show O-{n}", "show KR-{n}", "list all",
    "tree", "team list", "capability list", "export json", "digest all", "schedule list", "archive KR-{n}",
]  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["alpha", "beta"]), st.sampled_from(OPS), st.integers(1, 3)), max_size=25))
def test_no_title_of_one_workspace_reaches_the_other(steps) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'okrbot.db'}"
            await upgrade_async(url)
            db = Database(url)
            bot = Bot(db)
            try:
                for workspace, template, n in steps:
                    tag = "ZALPHA" if workspace == "alpha" else "ZBETA"
                    other = "ZBETA" if workspace == "alpha" else "ZALPHA"
                    reply = await bot.handle(command("boss", template.format(n=n, tag=tag), workspace=workspace))
                    assert other not in reply.text and INTERNAL_ERROR not in reply.text, (template, reply.text)
            finally:
                await db.dispose()

    asyncio.run(run())


SCHEDULE_ACTIONS = {
    # action: (command, who may); the team is growth, led by lee
    "schedule": ("schedule checkin team growth mon 09:00", {"admin", "lead"}),
    "subscribe_team": ("subscribe digest team growth", {"admin", "lead"}),
    "subscribe_all": ("subscribe digest all", {"admin"}),
    "nudge_team": ("nudge team growth", {"admin", "lead"}),
    "nudge_kr": ("nudge KR-1", {"admin", "lead", "objective_owner"}),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(SCHEDULE_ACTIONS))
async def test_schedule_rights_matrix(org, chat, db, role, action) -> None:  # noqa: F811
    text, allowed = SCHEDULE_ACTIONS[action]
    before = await snapshot(db)
    reply = await chat(PEOPLE[role], text)
    if role in allowed:
        assert not reply.is_error, f"{role} may {action}: {reply.text}"
    else:
        assert reply.is_error and reply.text.startswith("Only "), f"{role} may not {action}: {reply.text}"
        assert "\n" not in reply.text and await snapshot(db) == before


@pytest.mark.parametrize("role", ROLES)
async def test_unsubscribe_is_for_the_lead_and_admins(org, chat, db, role) -> None:  # noqa: F811
    assert not (await chat("ada", "subscribe digest team growth")).is_error
    before = await snapshot(db)
    reply = await chat(PEOPLE[role], "unsubscribe digest team growth")
    assert reply.is_error == (role not in {"admin", "lead"}), reply.text
    if reply.is_error:
        assert await snapshot(db) == before


@pytest.mark.parametrize("role", ROLES)
async def test_away_is_each_person_s_own(org, chat, db, role) -> None:  # noqa: F811
    reply = await chat(PEOPLE[role], "away until 2026-12-24")
    assert not reply.is_error and "You are away until 2026-12-24" in reply.text
    someone_else = "ada" if role != "admin" else "lee"  # never away; their `away off` must not end role's away
    assert (await chat(someone_else, "away off")).text == "You were not away; prompts and reminders go to you as usual."
    assert "Welcome back" in (await chat(PEOPLE[role], "away off")).text
