"""The board every `list` reads is kept between writes, and no longer: a write here, in another
instance on the same database, or a rolled-back one, and the next list shows the truth."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conftest import Chat, Clock, command
from sqlalchemy import event

from bot.core import Bot
from bot.messages import Form
from store.db import Database


async def ok(chat: Chat, user: str, text: str) -> str:
    reply = await chat(user, text)
    assert not reply.is_error, reply.text
    return reply.text


async def seed(chat: Chat) -> None:
    await ok(chat, "alice", 'team add growth "Growth"')
    await ok(chat, "alice", 'objective add "Grow" --team growth')
    await ok(chat, "alice", 'kr add O-1 "Active teams" --target 100')


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the database runs inside the block (BEGIN/COMMIT left out)."""
    seen: list[str] = []

    def record(_conn, _cursor, sql: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if not sql.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_repeated_list_costs_one_query(db: Database, chat: Chat) -> None:
    await seed(chat)
    first = await ok(chat, "alice", "list mine")
    with statements(db) as seen:
        again = await ok(chat, "alice", "list mine")
        team = await ok(chat, "alice", "list team growth")
        everything = await ok(chat, "alice", "list all")
    assert again == first
    assert "KR-1 Active teams" in team and "KR-1 Active teams" in everything
    assert len(seen) == 3  # who asks, in which workspace at which revision: once per command


async def test_a_write_shows_in_the_next_list(chat: Chat) -> None:
    await seed(chat)
    assert "0 / 100" in await ok(chat, "alice", "list mine")
    await ok(chat, "alice", "checkin KR-1 40 7")
    assert "40 / 100" in await ok(chat, "alice", "list mine")
    await ok(chat, "alice", 'kr add O-1 "Second" --target 10')
    assert "KR-2 Second" in await ok(chat, "alice", "list all")
    await ok(chat, "alice", "archive KR-2")
    assert "KR-2" not in await ok(chat, "alice", "list all")


async def test_another_instance_s_write_shows_in_this_one_s_next_list(db_url: str, chat: Chat, clock: Clock) -> None:
    await seed(chat)
    assert "0 / 100" in await ok(chat, "alice", "list mine")
    other_db = Database(db_url)  # a second okrbot serve on the same database
    try:
        reply = await Bot(other_db, clock=clock).handle(command("alice", "checkin KR-1 55 6"))
        assert not reply.is_error, reply.text
    finally:
        await other_db.dispose()
    assert "55 / 100" in await ok(chat, "alice", "list mine")


async def test_a_refused_write_leaves_the_kept_board_right(chat: Chat) -> None:
    await seed(chat)
    before = await ok(chat, "alice", "list all")
    refused = await chat("alice", "checkin KR-1 forty 7")
    assert refused.is_error
    assert await ok(chat, "alice", "list all") == before


async def test_workspaces_keep_their_own_boards(chat: Chat) -> None:
    await seed(chat)
    await ok(chat, "alice", "list all")
    other = await chat("bob", "list all", workspace="globex")
    assert "No objectives yet" in other.text
    assert "Grow" not in other.text


async def test_opening_the_check_in_form_is_a_read(db: Database, chat: Chat) -> None:
    """`checkin` alone shows the form: it neither takes the write lock nor spoils the kept board."""
    await seed(chat)
    await ok(chat, "alice", "list mine")
    with statements(db) as seen:
        form = await chat("alice", "checkin")
    assert any(isinstance(block, Form) and block.groups[0].ref == "KR-1" for block in form.blocks)
    assert len(seen) == 1 and "UPDATE" not in seen[0] and "FOR UPDATE" not in seen[0]
    with statements(db) as seen:
        await ok(chat, "alice", "list mine")
    assert len(seen) == 1
