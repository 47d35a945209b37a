"""The audit log: each admin action, a grade by someone else, and every write through the CLI or
the HTTP API is an entry (who, what, on what, when, from where), written with what it records;
``audit [--since]`` shows admins the latest 50 and ``export json`` carries it for admins."""

from __future__ import annotations

import dataclasses
import json

from conftest import command, snapshot

from bot.core import Bot
from store.db import Database


async def say(bot: Bot, user: str, text: str, *, source: str = "test", refused: bool = False) -> str:
    reply = await bot.handle(dataclasses.replace(command(user, text), source=source))
    assert reply.is_error == refused, f"{text!r}: {reply.text}"
    return reply.text


async def entries(db: Database) -> list[tuple[str, str, str]]:
    rows = (await snapshot(db))["audit_entry"]
    return [(row[3], row[4], row[5]) for row in sorted(rows)]  # action, target, surface, in order


async def setup(bot: Bot) -> None:
    for text in (
        'team add growth "Growth"',
        'objective add "Grow revenue" --team growth',
        'kr add O-1 "Active teams" --target 100',
        'kr add O-1 "Partners" --target 10 --owner <@bob>',
    ):
        await say(bot, "alice", text)


async def test_admin_actions_are_recorded_with_what_they_were_on(bot: Bot, db: Database) -> None:
    await setup(bot)
    assert await entries(db) == []  # creating OKRs in the chat is no admin action
    for text in (
        "schedule checkin team growth friday 10:00",
        "subscribe digest team growth",
        "unsubscribe digest team growth",
        "token add ci",
        "token revoke ci",
        "grade KR-2 0.6",  # bob's, by alice
        "grade KR-1 0.5",  # her own: not recorded
        "archive KR-2",
        "cycle close 2026-Q4",
    ):
        await say(bot, "alice", text)
    assert await entries(db) == [
        ("schedule checkin team", "growth", "test"),
        ("subscribe digest team", "growth", "test"),
        ("unsubscribe digest team", "growth", "test"),
        ("token add", "ci", "test"),
        ("token revoke", "ci", "test"),
        ("grade", "KR-2", "test"),
        ("archive", "KR-2", "test"),
        ("cycle close", "2026-Q4", "test"),
    ]


async def test_a_refused_command_leaves_no_entry(bot: Bot, db: Database) -> None:
    await setup(bot)
    await say(bot, "bob", "cycle close 2026-Q4", refused=True)
    await say(bot, "alice", "archive KR-9", refused=True)
    assert await entries(db) == []


async def test_every_write_from_the_cli_is_recorded_and_no_read(bot: Bot, db: Database) -> None:
    await setup(bot)
    await say(bot, "alice", "checkin KR-1 40 7 a private note", source="console")
    await say(bot, "alice", "list all", source="console")
    await say(bot, "alice", 'team add ops "Ops"', source="console")
    assert await entries(db) == [("checkin", "KR-1", "console"), ("team add", "ops", "console")]
    assert "private note" not in repr((await snapshot(db))["audit_entry"])  # never a note


async def test_admins_read_the_log_and_export_carries_it(bot: Bot, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
    await setup(bot)
    await say(bot, "alice", "token add ci")
    clock.advance(days=3)
    await say(bot, "alice", "archive KR-2")
    shown = await say(bot, "alice", "audit")
    assert "Audit log" in shown and "token add ci" in shown and "archive KR-2" in shown
    assert shown.index("archive KR-2") < shown.index("token add ci")  # newest first
    since = await say(bot, "alice", f"audit --since {clock.now.date()}")
    assert "archive KR-2" in since and "token add" not in since
    assert "Only a workspace admin" in await say(bot, "bob", "audit", refused=True)
    assert "YYYY-MM-DD" in await say(bot, "alice", "audit --since yesterday", refused=True)
    exported = json.loads((await bot.handle(command("alice", "export json"))).blocks[0].content)  # type: ignore[attr-defined]
    assert [(e["action"], e["target"], e["by"]) for e in exported["audit"]] == [
        ("token add", "ci", "alice"),
        ("archive", "KR-2", "alice"),
    ]
    by_bob = json.loads((await bot.handle(command("bob", "export json"))).blocks[0].content)  # type: ignore[attr-defined]
    assert "audit" not in by_bob


async def test_an_import_from_the_cli_is_recorded(bot: Bot, db: Database) -> None:
    await setup(bot)
    csv = (await bot.handle(command("alice", "export csv"))).blocks[0].content  # type: ignore[attr-defined]
    done, sentence = await bot.import_csv(
        dataclasses.replace(command("carol", "import", workspace="w2"), source="console"), csv
    )
    assert done, sentence
    rows = (await snapshot(db))["audit_entry"]
    assert [(row[3], row[5]) for row in rows] == [("import", "console")]
