"""The board every `list` reads, and the replies of `list` and `show`, are kept between writes and
no longer: a write here, in another instance on the same database, or a rolled-back one, and the
next read shows the truth; a kept reply is one person's, for one day."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from conftest import Chat, Clock, command
from sqlalchemy import event

from bot.core import Bot
from bot.messages import Form
from store.db import Database

PEEK = "SELECT id, revision FROM workspace"  # store.repo.Revisions' statement


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


async def test_a_repeated_read_is_answered_with_the_kept_reply(db: Database, chat: Chat) -> None:
    await seed(chat)
    first, shown = await chat("alice", "list mine"), await chat("alice", "show KR-1")
    with statements(db) as seen:
        again, shown_again = await chat("alice", "list  mine"), await chat("alice", "show kr-1")
        team = await ok(chat, "alice", "list team growth")
    assert again is first and shown_again is shown  # kept, not built again
    assert "KR-1 Active teams" in team
    # Through the pool: only the identity peek (SQLite peeks on a connection of its own), and for
    # the list not kept yet, its one query; never the board's queries again.
    assert all(PEEK in sql for sql in seen[:-1]) and len(seen) <= 4


async def test_people_asking_at_once_share_the_revision_read_that_starts_after_them(bot: Bot, chat: Chat) -> None:
    """Fifty `list mine` at the same moment: one revision read is running when they ask, so they
    all wait for the next one, and share it; whoever asks after that one started gets a third."""
    await seed(chat)
    first = await chat("alice", "list mine")
    reads = bot.revisions.reads
    replies = await asyncio.gather(*(chat("alice", "list mine") for _ in range(50)))
    assert all(reply is first for reply in replies)
    assert bot.revisions.reads - reads == 2
    alone = asyncio.ensure_future(chat("alice", "list mine"))
    await asyncio.sleep(0)  # its read has started: whoever asks now waits for the next one
    together = await asyncio.gather(*(chat("alice", "list mine") for _ in range(5)))
    assert await alone is first and all(reply is first for reply in together)
    assert bot.revisions.reads - reads == 4


async def test_people_who_give_up_waiting_take_no_one_s_answer_with_them(chat: Chat) -> None:
    """A request cancelled while it waits for the shared revision read (the client went away)
    leaves the read, and everyone else waiting on it, as they were."""
    await seed(chat)
    first = await chat("alice", "list mine")
    waiting = [asyncio.ensure_future(chat("alice", "list mine")) for _ in range(3)]
    await asyncio.sleep(0)  # the first runs a read; the other two wait for the next one
    waiting[0].cancel()
    waiting[1].cancel()
    assert await waiting[2] is first
    assert await chat("alice", "list mine") is first


async def test_people_opening_their_forms_at_once_build_the_board_once(bot: Bot, chat: Chat) -> None:
    """Twenty people click one prompt's Check in at the same moment: each form is their own, but
    the board they are cut from is built once for all of them, not twenty times."""
    await seed(chat)
    people = [f"p{n}" for n in range(20)]
    for person in people:
        await ok(chat, person, "help")  # everyone known, so the forms below only read
    builds = bot.reads.builds
    forms = await asyncio.gather(*(chat(person, "checkin") for person in people))
    assert all(not form.is_error for form in forms)
    assert bot.reads.builds - builds == 1
    await ok(chat, "alice", "checkin KR-1 5 7")  # a write: the next forms need a new board
    builds = bot.reads.builds
    asking = [asyncio.ensure_future(chat(person, "checkin")) for person in ["alice", *people[:4]]]
    for _ in range(10_000):  # bounded: until the first of them is building the board
        if bot.reads.builds > builds:
            break
        await asyncio.sleep(0)
    asking[0].cancel()  # the one building goes away (its client hung up): the others still get theirs
    rest = await asyncio.gather(*asking[1:])
    assert all(not form.is_error for form in rest) and asking[0].cancelled()


async def test_kept_replies_are_each_person_s_own(chat: Chat) -> None:
    await seed(chat)
    assert "KR-1 Active teams" in await ok(chat, "alice", "list mine")
    assert "You own no objectives" in await ok(chat, "bob", "list mine")
    assert "KR-1 Active teams" in await ok(chat, "alice", "list mine")


async def test_a_kept_show_is_built_again_the_next_day(chat: Chat, clock: Clock) -> None:
    await seed(chat)
    today = await chat("alice", "show KR-1")
    clock.advance(days=3)
    later = await chat("alice", "show KR-1")
    assert later is not today and later.text != today.text  # the share of the cycle elapsed moved


async def test_a_person_s_new_name_is_not_answered_from_the_kept_reply(bot: Bot, chat: Chat) -> None:
    await seed(chat)
    before = await chat("alice", "list mine")
    renamed = command("alice", "list mine")
    renamed = replace(renamed, actor=replace(renamed.actor, display_name="Alice Liddell"))
    after = await bot.handle(renamed)
    assert after is not before and "Alice Liddell" in after.text and "Alice Liddell" not in before.text


async def test_a_write_shows_in_the_next_list(chat: Chat) -> None:
    await seed(chat)
    assert "0 / 100" in await ok(chat, "alice", "list mine")
    await ok(chat, "alice", "checkin KR-1 40 7")
    assert "40 / 100" in await ok(chat, "alice", "list mine")
    assert "40 / 100" in await ok(chat, "alice", "show KR-1")
    await ok(chat, "alice", "checkin KR-1 45 7")
    assert "45" in await ok(chat, "alice", "show KR-1")
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
    assert all(PEEK in sql for sql in seen)  # the kept reply: nothing but the revision read


async def test_reads_answer_after_the_database_cut_every_connection(db: Database, db_url: str, chat: Chat) -> None:
    """PostgreSQL: the peeks' own pool and the engine's lose their connections (a failover, a
    restart); the next read goes the long way and is right, and the one after it peeks again."""
    if db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    import asyncpg
    from sqlalchemy.engine import make_url

    await seed(chat)
    assert "0 / 100" in await ok(chat, "alice", "list mine")
    url = make_url(db_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        cut = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database,
        )
    finally:
        await admin.close()
    assert cut  # the peek pool's connection, at least
    assert "0 / 100" in await ok(chat, "alice", "list mine")
    await ok(chat, "alice", "checkin KR-1 30 6")
    assert "30 / 100" in await ok(chat, "alice", "list mine")


async def test_a_check_in_raises_the_revision_once_and_lands_whole(db: Database, chat: Chat) -> None:
    """On PostgreSQL the check-in, the key result's move and the revision are one statement
    (store.repo._CHECKIN_MOVE_TOUCH); elsewhere three. Either way: all of it, revision + 1."""
    from sqlmodel import select

    from store.models import CheckIn, KeyResult, Workspace

    await seed(chat)

    async def state() -> tuple[int, int, float]:
        async with db.read() as session:
            revision = (await session.exec(select(Workspace.revision))).one()
            history = len((await session.exec(select(CheckIn))).all())
            current = (await session.exec(select(KeyResult.current))).one()
        return revision, history, current

    revision, history, _ = await state()
    await ok(chat, "alice", "checkin KR-1 62 8 a good week")
    assert await state() == (revision + 1, history + 1, 62)
    refused = await chat("alice", "checkin KR-1 70 11")  # confidence out of range: nothing written
    assert refused.is_error and await state() == (revision + 1, history + 1, 62)


async def test_the_check_in_form_is_kept_until_a_check_in_changes_it(db: Database, chat: Chat) -> None:
    """Every Check in button of a prompt asks for the form: the second time, one revision read."""
    await seed(chat)
    form = await chat("alice", "checkin")
    with statements(db) as seen:
        again = await chat("alice", "checkin")
    assert again is form and all(PEEK in sql for sql in seen)
    await ok(chat, "alice", "checkin KR-1 40")
    moved = await chat("alice", "checkin")
    assert moved is not form and "[40]" in moved.text and "[40]" not in form.text
