"""``forget @person`` on SQLite and PostgreSQL: nothing that names them or holds their notes is
left (export json, the audit log, every table), their check-ins' numbers are unchanged, what they
owned passed on, and a refused forget writes nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from conftest import command, okrbot_cli, snapshot

from bot.core import Bot
from store.db import Database


async def say(bot: Bot, user: str, text: str, *, refused: bool = False, **mentions: str) -> str:
    reply = await bot.handle(dataclasses.replace(command(user, text), mentions=mentions))
    assert reply.is_error == refused, f"{text!r}: {reply.text}"
    return reply.text


async def setup(bot: Bot) -> None:
    """alice (admin) leads growth; Bertha Quist (bob) owns O-2, KR-2 and KR-3, leads ops, has notes."""
    await say(bot, "alice", 'team add growth "Growth"')
    await say(bot, "bob", "team join growth")
    await say(bot, "bob", 'team add ops "Ops"')
    await say(bot, "alice", 'objective add "Grow revenue" --team growth')
    await say(bot, "alice", 'kr add O-1 "Active teams" --target 100')
    await say(bot, "alice", 'kr add O-1 "Partners" --target 10 --owner <@bob|Bertha Quist>', bob="Bertha Quist")
    await say(bot, "bob", 'objective add "Keep it running" --team ops')
    await say(bot, "bob", 'kr add O-2 "Uptime" --target 99.9')
    await say(bot, "bob", "checkin KR-2 4 6 talked to Quist Holdings about the secret deal")
    await say(bot, "bob", "checkin KR-3 99.5 8 the pager woke Bertha twice")
    await say(bot, "alice", "checkin KR-1 40 7 fine")
    await say(bot, "alice", "token add ci")


def rows_without(rows: dict[str, list[tuple]], *tables: str) -> dict[str, list[tuple]]:
    return {name: found for name, found in rows.items() if name not in tables}


async def test_forget_leaves_no_name_or_note_and_keeps_the_numbers(bot: Bot, db: Database) -> None:
    await setup(bot)
    before = (await snapshot(db))["check_in"]
    reply = await say(bot, "alice", "forget <@bob>")
    assert "former member" in reply
    after = await snapshot(db)
    everything = repr(after)
    for trace in ("Bertha", "Quist", "secret deal", "pager", "'bob'"):
        assert trace not in everything, trace
    numbers = [(r[2], r[4], r[5]) for r in sorted(before)]  # key result, value, confidence
    assert [(r[2], r[4], r[5]) for r in sorted(after["check_in"])] == numbers
    exported = (await bot.handle(command("alice", "export json"))).blocks[0].content  # type: ignore[attr-defined]
    assert "Bertha" not in exported and "secret deal" not in exported and "former member" in exported
    document = json.loads(exported)
    assert {e["action"] for e in document["audit"]} >= {"forget"}
    assert "Bertha" not in await say(bot, "alice", "audit") and "former member" in await say(bot, "alice", "audit")
    # what bob owned passed on: KR-2 (growth) to its lead alice; ops, which bob led, to alice too
    shown = (
        await say(bot, "alice", "show KR-2")
        + await say(bot, "alice", "show O-2")
        + await say(bot, "alice", "team list")
    )
    assert "@Alice" in shown and "Bertha" not in shown
    assert "no key results" in (await say(bot, "alice", "list mine")).lower() or "KR-2" in await say(
        bot, "alice", "list mine"
    )


async def test_forget_is_refused_for_nobody_for_non_admins_and_for_the_last_admin(bot: Bot, db: Database) -> None:
    await setup(bot)
    before = await snapshot(db)
    assert "Only a workspace admin" in await say(bot, "bob", "forget <@alice>", refused=True)
    assert "nobody" in await say(bot, "alice", "forget <@nobody>", refused=True)
    assert "last admin" in await say(bot, "alice", "forget <@alice>", refused=True)
    assert "@mention" in await say(bot, "alice", "forget bob", refused=True)
    assert rows_without(await snapshot(db), "member") == rows_without(before, "member")
    await say(bot, "alice", "forget <@bob>")
    assert "nobody" in await say(bot, "alice", "forget <@bob>", refused=True)  # once is enough


async def test_someone_forgotten_who_comes_back_is_a_new_person(bot: Bot, db: Database) -> None:
    await setup(bot)
    await say(bot, "alice", "forget <@bob>")
    assert "KR-2" not in await say(bot, "bob", "list mine")
    members = (await snapshot(db))["member"]
    assert sum(1 for m in members if m[2] == "bob") == 1 and any(str(m[2]).startswith("forgotten-") for m in members)


async def test_the_cli_forgets_as_an_admin(bot: Bot, db: Database, db_url: str) -> None:
    await setup(bot)
    as_bob = await asyncio.to_thread(okrbot_cli, db_url, "forget", "alice", "--user", "bob", "--workspace", "acme")
    assert as_bob.returncode == 1 and "Only a workspace admin" in as_bob.stderr
    done = await asyncio.to_thread(okrbot_cli, db_url, "forget", "bob", "--user", "alice", "--workspace", "acme")
    assert done.returncode == 0 and "former member" in done.stdout, done.stderr
    assert "Bertha" not in repr(await snapshot(db))
