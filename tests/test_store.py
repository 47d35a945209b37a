"""The store: database URLs, the migrated schema, SQLite's settings, concurrency and scoping.

Everything runs on a real SQLite file and (when configured) a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import col, select

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot, FormReply
from bot.messages import Message
from store.db import CHECKPOINT_EVERY, Database, async_url, redacted
from store.migrate import head_revision, upgrade_async
from store.models import CheckIn, KeyResult, Objective, Workspace, metadata
from store.repo import Repo, workspace_by_external

# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///okrbot.db", "sqlite+aiosqlite:///okrbot.db"),
        ("sqlite:////var/lib/okrbot/okrbot.db", "sqlite+aiosqlite:////var/lib/okrbot/okrbot.db"),
        ("  sqlite:///okrbot.db\n", "sqlite+aiosqlite:///okrbot.db"),
        ("postgresql://bob:s3cret@db.example:5432/okr", "postgresql+asyncpg://bob:s3cret@db.example:5432/okr"),
        ("postgres://bob:s3cret@db.example:5432/okr", "postgresql+asyncpg://bob:s3cret@db.example:5432/okr"),
        ("postgresql+psycopg2://bob@db.example/okr", "postgresql+asyncpg://bob@db.example/okr"),
    ],
)
def test_async_url_accepts_sqlite_postgresql_and_heroku(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "mongodb://h/db", "okrbot.db", "", "not a url at all"])
def test_async_url_refuses_other_urls_with_one_sentence(url: str) -> None:
    with pytest.raises(ValueError, match=r"use sqlite:///path/to/okrbot\.db or postgresql://") as info:
        async_url(url)
    assert "\n" not in str(info.value)


def test_async_url_keeps_a_password_with_special_characters() -> None:
    url = async_url("postgres://bob:p%40ss%2Fw0rd@db.example/okr")
    assert url == "postgresql+asyncpg://bob:p%40ss%2Fw0rd@db.example/okr"


@pytest.mark.parametrize(
    "url", ["postgres://bob:s3cret@db.example/okr", "postgresql+asyncpg://bob:s3cret@db.example:5432/okr"]
)
def test_redacted_hides_the_password(url: str) -> None:
    shown = redacted(url)
    assert "s3cret" not in shown
    assert "bob:***@db.example" in shown


def test_redacted_leaves_sqlite_alone() -> None:
    assert redacted("sqlite:///okrbot.db") == "sqlite:///okrbot.db"


def test_redacted_of_a_malformed_url_hides_nothing_it_cannot_parse_and_does_not_raise() -> None:
    assert "s3cret" not in redacted("postgres://bob:s3cret@")


# -- the migrated schema -------------------------------------------------------------------------


async def test_migrations_give_exactly_the_models(db: Database) -> None:
    def differences(connection) -> list:  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


def okrbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the okrbot command as a user does, in a directory with no .env of ours."""
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(database_url: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKRBOT_", "DATABASE_URL"))}
    return {**env, "OKRBOT_DATABASE_URL": database_url, "PYTHONPATH": root}


def test_db_upgrade_twice_is_idempotent(tmp_path: Path) -> None:
    db_file = tmp_path / "sub" / "okrbot.db"
    env = cli_env(f"sqlite:///{db_file}")
    first = okrbot("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "is up to date" in first.stdout
    second = okrbot("db", "upgrade", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stdout
    import sqlite3

    with sqlite3.connect(db_file) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert version == head_revision()
    assert set(metadata.tables) <= tables


def test_db_upgrade_twice_on_postgresql(db_url: str, tmp_path: Path) -> None:
    env = cli_env(db_url)
    for _ in range(2):
        result = okrbot("db", "upgrade", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "is up to date" in result.stdout


def test_migrations_read_a_url_whose_password_holds_percent_signs(db_url: str) -> None:
    """Alembic's config interpolates %; a percent-encoded password must reach the driver intact."""
    from sqlalchemy.engine import make_url

    from store.migrate import alembic_config, upgrade

    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        if url.password:
            pytest.skip("the test server checks passwords; this needs trust authentication")
        url = url.set(password="p@ss/50%")
    text_url = url.render_as_string(hide_password=False)
    assert alembic_config(text_url).get_main_option("sqlalchemy.url") == text_url
    upgrade(text_url)  # connects (trust authentication ignores the password) and finds nothing to do


def test_db_upgrade_on_an_unsupported_url_says_so_in_one_line(tmp_path: Path) -> None:
    result = okrbot("db", "upgrade", env=cli_env("mysql://bob:s3cret@localhost/okr"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr
    assert "use sqlite:///path/to/okrbot.db or postgresql://" in result.stderr


# -- SQLite settings -----------------------------------------------------------------------------


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pragmas.db'}"
    db = Database(url)
    try:
        for session_of in (db.read, db.write):
            async with session_of() as session:
                connection = await session.connection()
                journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
                foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
                busy = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
            assert journal == "wal"
            assert foreign_keys == 1
            assert busy >= 5000
    finally:
        await db.dispose()


async def _seeded_sqlite(tmp_path: Path) -> tuple[str, Database, Bot]:
    url = f"sqlite:///{tmp_path / 'placement.db'}"
    await upgrade_async(url)
    db = Database(url)
    bot = Bot(db)
    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Grow" --team growth')
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 1000')
    return str(tmp_path / "placement.db"), db, bot


async def test_a_write_waiting_for_another_process_s_lock_leaves_the_loop_free(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE waits on the connection's thread: meanwhile reads are answered, and the
    check-in lands once the other writer lets go."""
    path, db, bot = await _seeded_sqlite(tmp_path)
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, as `okrbot import` is
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(bot.handle(cmd("alice", "checkin KR-1 40 7 blocked")))
        await asyncio.sleep(0.2)
        assert not write.done()  # waiting for the lock…
        started = time.monotonic()
        listing = await asyncio.wait_for(bot.handle(cmd("alice", "list mine")), 2)
        assert time.monotonic() - started < 1.0  # …without holding up a read
        assert "KR-1" in listing.text and "0 / 1000" in listing.text
        other.execute("COMMIT")
        reply = await asyncio.wait_for(write, 5)
        assert not reply.is_error, reply.text
        assert "40 / 1000" in (await bot.handle(cmd("alice", "show KR-1"))).text
    finally:
        other.close()
        await db.dispose()


async def test_short_statements_run_on_the_loop_s_thread_and_long_reads_do_not(tmp_path: Path) -> None:
    _path, db, bot = await _seeded_sqlite(tmp_path)
    threads: list[str] = []

    def record(*_args: object) -> None:
        threads.append(threading.current_thread().name)

    try:
        for long in (False, True):
            async with db.read(long=long) as session:
                driver = (await (await session.connection()).get_raw_connection()).driver_connection
                driver._conn.set_trace_callback(record)
                await session.exec(select(KeyResult))
                driver._conn.set_trace_callback(None)
    finally:
        await db.dispose()
    loop_thread = threading.current_thread().name
    assert threads[0] == loop_thread  # the short read, on the loop's thread
    assert threads[-1] != loop_thread  # the long one, on the connection's own thread


async def test_a_write_nobody_else_holds_the_lock_for_runs_wholly_on_the_loop_s_thread(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes to the thread only when another process is writing (the test above),
    and a commit never checkpoints (Database.write does, on the thread): nothing to wait for."""
    _path, db, bot = await _seeded_sqlite(tmp_path)
    threads: list[tuple[str, str]] = []
    try:
        async with db.write() as session:
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            driver._conn.set_trace_callback(lambda sql: threads.append((threading.current_thread().name, sql)))
        await ok(bot, "alice", "checkin KR-1 40 7")  # on a pooled connection, maybe the traced one
        driver._conn.set_trace_callback(None)
    finally:
        await db.dispose()
    assert threads and {name for name, _sql in threads} == {threading.current_thread().name}


def file_size(path: Path) -> int:
    return path.stat().st_size


async def test_the_write_ahead_log_is_checkpointed_as_writes_go_on(tmp_path: Path) -> None:
    """Commits do not checkpoint (wal_autocheckpoint=0): Database.write does every
    CHECKPOINT_EVERY commits, so the log does not grow with every check-in ever made."""
    path, db, bot = await _seeded_sqlite(tmp_path)
    wal = Path(path + "-wal")
    try:
        sizes = []
        for n in range(3 * CHECKPOINT_EVERY):
            await ok(bot, "alice", f"checkin KR-1 {n} 7")
            if n % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1:
                sizes.append(file_size(wal))
    finally:
        await db.dispose()
    assert sizes[0] > 0 and sizes[-1] <= sizes[0] * 1.5  # reused from its start, not grown threefold


async def test_database_creates_the_sqlite_file_s_directory(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a' / 'b' / 'okrbot.db'}")
    await db.dispose()
    assert (tmp_path / "a" / "b").is_dir()


async def test_a_failed_write_leaves_nothing(db: Database, bot: Bot) -> None:
    await bot.handle(cmd("alice", 'team add growth "Growth"'))
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            workspace = await workspace_by_external(session, "local", "acme")
            assert workspace is not None
            workspace.name = "changed"
            session.add(workspace)
            await session.flush()
            raise RuntimeError("boom")
    async with db.read() as session:
        workspace = await workspace_by_external(session, "local", "acme")
    assert workspace is not None and workspace.name == "acme"


# -- concurrency ---------------------------------------------------------------------------------


def cmd(user: str, line: str, workspace: str = "acme") -> Command:
    return Command(
        workspace=WorkspaceRef("local", workspace, workspace),
        actor=Actor(user, user.title()),
        text=line,
        channel="test",
        source="test",
    )


async def ok(bot: Bot, user: str, line: str, workspace: str = "acme") -> str:
    reply = await bot.handle(cmd(user, line, workspace))
    assert not reply.is_error, reply.text
    return reply.text


async def test_fifty_concurrent_check_ins_on_one_kr_are_all_kept(db: Database, bot: Bot) -> None:
    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Grow" --team growth')
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 1000')

    replies = await asyncio.gather(*(bot.handle(cmd("alice", f"checkin KR-1 {n} 7 week {n}")) for n in range(1, 51)))

    errors = [r.text for r in replies if r.is_error]
    assert errors == []
    assert not any("locked" in r.text for r in replies)
    async with db.read() as session:
        kr = (await session.exec(select(KeyResult).where(KeyResult.number == 1))).one()
        history = list(
            (await session.exec(select(CheckIn).where(CheckIn.key_result_id == kr.id).order_by(col(CheckIn.id)))).all()
        )
    assert sorted(c.value for c in history) == [float(n) for n in range(1, 51)]
    assert [c.note for c in history] == [f"week {int(c.value)}" for c in history]
    assert kr.current == history[-1].value  # the last check-in written is the KR's value


@pytest.mark.parametrize("way", ["command", "form"])
@pytest.mark.parametrize("meanwhile", ["edit", "archive"])
async def test_a_check_in_that_waits_for_the_lock_writes_what_is_true_once_it_has_it(
    db: Database, db_url: str, bot: Bot, meanwhile: str, way: str
) -> None:
    """PostgreSQL: a check-in (typed, or the form submitted) reads its key result, then locks the
    workspace as it writes (store.repo.LOCKS_LATE). Whoever changes the key result in between is
    not overwritten with what the check-in read: it reads again under the lock, and writes, or
    says why it cannot."""
    if db.is_sqlite:
        pytest.skip("SQLite's check-ins lock before they read: nothing can come in between")
    import asyncpg
    from sqlalchemy.engine import make_url

    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Grow" --team growth')
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 100')
    url = make_url(db_url)
    other = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT id FROM workspace FOR UPDATE")  # another writer holds the lock
        if way == "command":
            checkin = asyncio.ensure_future(bot.handle(cmd("alice", "checkin KR-1 30 a quiet week")))
        else:
            fields = {"KR-1.value": "30", "KR-1.confidence": "", "KR-1.note": "a quiet week"}
            submitted = bot.submit_form(cmd("alice", "checkin"), "checkin", fields)
            checkin = asyncio.ensure_future(_message(submitted))
        for _ in range(500):  # until the check-in waits for the lock (bounded: 5 s at most)
            await other.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees one snapshot
            waiting = await other.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the check-in never waited for the workspace's lock")
        # A typed check-in's write is a transaction of its own (Database.write(single=True)): it
        # no longer holds what its reads took (the identity read's lock on `member`); the form's
        # writes share one transaction with its reads, which keeps them.
        kept = await other.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = $1 AND c.relname = 'member'",
            waiting,
        )
        assert kept == (0 if way == "command" else 1)
        if meanwhile == "edit":
            await other.execute("UPDATE key_result SET confidence = 9")
        else:
            await other.execute("UPDATE key_result SET archived = true")
        await holding.commit()
        reply = await checkin
    finally:
        await other.close()
    async with db.read() as session:
        kr = (await session.exec(select(KeyResult))).one()
        history = (await session.exec(select(CheckIn))).all()
    if meanwhile == "edit":  # no confidence given: the one it has now, not the one read before
        assert not reply.is_error and "9/10" in reply.text and "(was" not in reply.text
        assert (kr.current, kr.confidence) == (30, 9) and [(c.value, c.confidence) for c in history] == [(30, 9)]
    else:
        assert reply.is_error and "KR-1 is archived" in reply.text
        assert kr.current == 0 and history == []


async def test_a_check_in_without_a_transaction_leaves_none_of_that_to_the_next_write(db: Database, bot: Bot) -> None:
    """PostgreSQL runs a typed check-in without a transaction; the pooled connection it used
    goes back to transactions, so a later write that fails still leaves nothing behind."""
    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Grow" --team growth')
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 100')
    for n in range(1, 6):
        await ok(bot, "alice", f"checkin KR-1 {n * 10} 6")
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                base = (await session.exec(select(Objective))).one()
                ids = {"workspace_id": base.workspace_id, "team_id": base.team_id, "cycle_id": base.cycle_id}
                session.add(Objective(**ids, number=90 + n, title="never", owner_id=base.owner_id))
                await session.flush()
                raise RuntimeError("the write fails after its insert")
    async with db.read() as session:
        assert len((await session.exec(select(Objective))).all()) == 1
        assert (await session.exec(select(KeyResult.current))).one() == 50


async def test_a_newcomer_s_refused_check_in_registers_nobody(db: Database, bot: Bot) -> None:
    """A first message that is a refused check-in (someone else's key result): nothing written,
    not even the person, whichever way the check-in would have run."""
    from store.models import Member

    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Grow" --team growth')
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 100')
    refused = await bot.handle(cmd("carol", "checkin KR-1 40 5"))
    assert refused.is_error and "Only the owner of KR-1" in refused.text
    async with db.read() as session:
        assert [m.external_id for m in (await session.exec(select(Member))).all()] == ["alice"]
        assert (await session.exec(select(CheckIn))).all() == []


async def _message(submitted: Awaitable[FormReply]) -> Message:
    return (await submitted).message


async def test_twenty_concurrent_objective_adds_number_without_gap_or_duplicate(db: Database, bot: Bot) -> None:
    await ok(bot, "alice", 'team add growth "Growth"')

    replies = await asyncio.gather(
        *(bot.handle(cmd("alice", f'objective add "Objective {n}" --team growth')) for n in range(20))
    )

    assert [r.text for r in replies if r.is_error] == []
    async with db.read() as session:
        numbers = list((await session.exec(select(Objective.number))).all())
        workspace = (await session.exec(select(Workspace))).one()
    assert sorted(numbers) == list(range(1, 21))
    assert workspace.next_objective_number == 21
    assert sorted(int(r.text.split("O-")[1].split()[0]) for r in replies) == list(range(1, 21))


async def test_concurrent_first_commands_of_new_people_register_each_once(db: Database, bot: Bot) -> None:
    await ok(bot, "alice", "team list")
    people = [f"user{n}" for n in range(10)] * 2  # each newcomer sends two commands at once
    replies = await asyncio.gather(*(bot.handle(cmd(person, "team list")) for person in people))
    assert [r.text for r in replies if r.is_error] == []
    async with db.read() as session:
        repo = await repo_of(session, "acme")
        assert sorted(m.external_id for m in await repo.members()) == sorted({"alice", *people})


async def test_concurrent_first_commands_in_a_new_workspace(db: Database, bot: Bot) -> None:
    replies = await asyncio.gather(*(bot.handle(cmd(f"user{n}", "team list", "fresh")) for n in range(5)))
    assert [r.text for r in replies if r.is_error] == []
    async with db.read() as session:
        repo = await repo_of(session, "fresh")
        members = await repo.members()
    assert len(members) == 5
    assert sum(m.is_admin for m in members) == 1  # the first one in is the admin


# -- workspace scoping ---------------------------------------------------------------------------


async def two_workspaces_alike(bot: Bot) -> None:
    """Workspaces a and b with the same team, capability, cycle, O-1 and KR-1, different titles."""
    for ws in ("a", "b"):
        await ok(bot, "alice", f'team add growth "Growth {ws}"', ws)
        await ok(bot, "alice", f'capability add deliver "Deliver {ws}"', ws)
        await ok(bot, "alice", "cycle add 2026-Q4 2026-10-01 2026-12-31", ws)
        await ok(bot, "alice", f'objective add "Objective {ws}" --team growth --capability deliver --cycle 2026-Q4', ws)
        await ok(bot, "alice", f'kr add O-1 "KR {ws}" --target 10', ws)
        await ok(bot, "alice", "checkin KR-1 3 6", ws)
    await ok(bot, "bob", 'team add only-b "Only in b"', "b")
    await ok(bot, "bob", 'objective add "Second in b" --team only-b --cycle 2026-Q4', "b")


async def repo_of(session, external_id: str) -> Repo:  # type: ignore[no-untyped-def]
    workspace = await workspace_by_external(session, "local", external_id)
    assert workspace is not None
    return Repo(session, workspace.id)  # type: ignore[arg-type]


async def test_a_repo_never_returns_another_workspace_s_rows(db: Database, bot: Bot) -> None:
    await two_workspaces_alike(bot)
    async with db.read() as session:
        a, b = await repo_of(session, "a"), await repo_of(session, "b")
        assert a.workspace_id != b.workspace_id

        objective = await a.objective(1)
        kr = await a.key_result(1)
        team, capability, cycle = await a.team("growth"), await a.capability("deliver"), await a.cycle("2026-Q4")
        assert objective is not None and objective.title == "Objective a"
        assert kr is not None and kr.title == "KR a"
        assert team is not None and team.name == "Growth a"
        assert capability is not None and capability.name == "Deliver a"
        assert cycle is not None
        for row in (objective, kr, team, capability, cycle):
            assert row.workspace_id == a.workspace_id

        assert await a.objective(2) is None  # O-2 exists only in b
        assert await a.team("only-b") is None
        assert [m.external_id for m in await a.members()] == ["alice"]
        assert await a.member_by_external("bob") is None

        b_objective, b_kr = await b.objective(1), await b.key_result(1)
        b_team = await b.team("growth")
        assert b_objective is not None and b_kr is not None and b_team is not None
        assert await a.objective_by_id(b_objective.id) is None  # type: ignore[arg-type]
        assert await a.team_by_id(b_team.id) is None  # type: ignore[arg-type]
        assert await a.check_ins(b_kr.id) == []  # type: ignore[arg-type]
        assert await a.team_member_ids(b_team.id) == []  # type: ignore[arg-type]
        assert {o.title for o in await a.objectives(include_archived=True)} == {"Objective a"}
        assert {k.title for k in await a.key_results(include_archived=True)} == {"KR a"}
        assert {t.key for t in await a.teams()} == {"growth"}
        assert len(await a.all_check_ins()) == 1
        assert all(c.workspace_id == a.workspace_id for c in await a.all_check_ins())
        assert [c.name for c in await a.cycles()] == ["2026-Q4"]
        assert [c.key for c in await a.capabilities()] == ["deliver"]


async def test_numbers_are_per_workspace(db: Database, bot: Bot) -> None:
    await two_workspaces_alike(bot)
    await ok(bot, "alice", 'objective add "Next in a" --team growth --cycle 2026-Q4', "a")
    async with db.read() as session:
        a, b = await repo_of(session, "a"), await repo_of(session, "b")
        assert [o.number for o in await a.objectives()] == [1, 2]
        assert [o.title for o in await b.objectives()] == ["Objective b", "Second in b"]
