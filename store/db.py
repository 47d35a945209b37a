"""Engine and session handling for SQLite (the default) and PostgreSQL.

Reads run in plain transactions.  Writes on SQLite start with ``BEGIN IMMEDIATE`` so a
writer takes the lock before it reads, and wait on ``busy_timeout`` instead of failing with
"database is locked" halfway through; inside one process writers also queue on an asyncio
lock, so they never spin on SQLite's busy handler at all.

On SQLite every statement of a command runs on the event loop's own thread, with three
exceptions that go to the connection's thread: ``BEGIN IMMEDIATE`` when another process holds the
write lock (it waits for it), the checkpoint that :meth:`Database.write` runs every
``CHECKPOINT_EVERY`` commits (it syncs the disk; commits themselves never checkpoint), and every
statement of a :meth:`Database.read` opened with ``long=True`` (digests, exports).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

DEFAULT_URL = "sqlite:///okrbot.db"
_IMMEDIATE = "okrbot_immediate"
#: Set in ``session.info`` of a :meth:`Database.write` session, so queries know they may lock.
WRITES = "okrbot_writes"
#: Set in ``session.info`` of a write with no transaction (``Database.write(single=True)``).
AUTOCOMMIT = "okrbot_autocommit"
#: The session every query takes: the layers above pass it on without importing SQLAlchemy.
Session = AsyncSession
#: A write that lost a race for a unique row (another instance wrote it first): run it again.
Conflict = IntegrityError
#: True while statements must run on the connection's thread (a long read): see Database.read.
_ON_THREAD: contextvars.ContextVar[bool] = contextvars.ContextVar("okrbot_sqlite_on_thread", default=False)
log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another process's write
CHECKPOINT_EVERY = 200  # SQLite commits between checkpoints (a check-in writes a few pages; SQLite's own: 1,000)
PEEK_POOL = 4  # PostgreSQL connections for peeks, beside the engine's pool
#: PostgreSQL connections per instance, and no more: a burst waits for one in-process instead of
#: opening more. Fifty clicks at once in one workspace answer in about half the time with 8 than
#: with 10 plus 10 overflow (bench/clicks.py): each overflow connection costs a connect and its
#: statements' preparing, and then it is closed again, and more backends only queue on the same
#: row lock.
POOL = 8
_RIGHT_FORM = "use sqlite:///path/to/okrbot.db or postgresql://user:password@host/database"


def _parsed(url: str) -> URL:
    """The URL parsed, Heroku's ``postgres://`` read as ``postgresql://``; ValueError if it is none."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        return make_url(url)
    except ArgumentError:
        raise ValueError(f"The database URL {url[:40]!r} is not a URL; {_RIGHT_FORM}.") from None


def async_url(url: str) -> str:
    """The SQLAlchemy async URL for ``sqlite:///…``, ``postgresql://…`` or Heroku's ``postgres://…``."""
    parsed = _parsed(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"The database URL scheme {parsed.drivername!r} is not supported; {_RIGHT_FORM}.")


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and error messages; never raises."""
    try:
        return _parsed(url).render_as_string(hide_password=True)
    except ValueError:
        return "(a database URL that could not be read)"


def url_password(url: str) -> str | None:
    """The password a database URL carries, so logs can hide it; None when it has none or is no URL."""
    try:
        password = _parsed(url).password
    except ValueError:
        return None
    return str(password) if password else None


def prepare_sqlite_file(url: str) -> None:
    """Create the directory of a SQLite file: SQLite creates the file, not its folders."""
    if _parsed(url).get_backend_name() == "sqlite" and (database := _sqlite_file(url)) is not None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    """One engine, and the two ways of using it: :meth:`read` and :meth:`write`."""

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False, pool: int = POOL) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            prepare_sqlite_file(self.url)
            self.engine: AsyncEngine = create_async_engine(
                self.url,
                echo=echo,
                async_creator=_sqlite_creator(self.url, timeout=BUSY_TIMEOUT_MS / 1000),
                pool_size=8,
                max_overflow=8,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(self.url, echo=echo, pool_size=pool, max_overflow=0, pool_pre_ping=True)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._commits = 0
        self._peek_file = _sqlite_file(self.url) if self.is_sqlite else None
        self._peek_connection: sqlite3.Connection | None = None
        self._peek_pool: asyncio.Future[asyncpg.Pool] | None = None

    async def peek(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row of one short read statement (``:name`` placeholders), outside any session.

        For the question a kept reply asks first (the workspace's revision:
        :class:`store.repo.Revisions`): no ORM, no transaction to begin and end, no pool ping. On
        SQLite it runs on a connection kept for it, on the loop's thread, in autocommit, so it
        sees the last commit of any process (WAL readers never wait for writers); on PostgreSQL
        on a small asyncpg pool of its own, as a prepared statement. A failure raises: the caller goes the long way, which says what is wrong.
        """
        if self.is_sqlite and self._peek_file is not None:
            if self._peek_connection is None:
                self._peek_connection = _peek_connection(self._peek_file)
            return self._peek_connection.execute(sql, params).fetchone()
        if not self.is_sqlite:
            numbered, names = _numbered(sql)
            pool = await self._pool()
            return await pool.fetchrow(numbered, *(params[name] for name in names))
        async with self.engine.connect() as connection:  # an in-memory SQLite database
            return (await connection.execute(text(sql), dict(params))).first()

    async def _pool(self) -> asyncpg.Pool:
        if self._peek_pool is None:
            dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._peek_pool = asyncio.ensure_future(
                asyncpg.create_pool(dsn, min_size=PEEK_POOL, max_size=PEEK_POOL, reset=_peeks_change_nothing)
            )
        try:
            return await asyncio.shield(self._peek_pool)
        except Exception:
            self._peek_pool = None  # the server is away: try again next time
            raise

    async def warm(self) -> None:
        """Open now what the first requests would otherwise wait for: PostgreSQL's peek pool.
        Never raises: peeks that cannot run make commands go the long way."""
        if not self.is_sqlite:
            try:
                await self._pool()
            except Exception as exc:  # noqa: BLE001 - the server may come up later
                log.warning("the peek pool could not connect yet (%s)", exc.__class__.__name__)

    async def ping(self) -> None:
        """One trivial statement through a read session: raises when the database cannot answer
        (the health check's question, asked the way every command reaches the database)."""
        async with self.read() as session:
            await (await session.connection()).execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def read(self, *, long: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session. ``long``: statements that may scan much (digests, exports); on
        SQLite they run on the connection's thread, so other requests go on meanwhile."""
        token = _ON_THREAD.set(True) if long else None
        try:
            async with self._sessions() as session:
                yield session
        finally:
            if token is not None:
                _ON_THREAD.reset(token)

    @contextlib.asynccontextmanager
    async def write(self, *, single: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error.

        ``single``: for a write that reads, then writes with one statement that checks what it
        read (a check-in). On PostgreSQL it runs without a transaction, each statement committed
        as it runs, so no lock it takes outlives its statement (``AUTOCOMMIT`` in ``session.info``);
        on SQLite it is an ordinary write."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self._sessions() as session:
            session.info[WRITES] = True
            if self.is_sqlite:
                await session.connection(execution_options={_IMMEDIATE: True})
            elif single:
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                session.info[AUTOCOMMIT] = True
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        if self.is_sqlite:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                try:
                    await self.checkpoint()
                except Exception as exc:  # noqa: BLE001 - the write is committed: never report it failed
                    log.warning("checkpoint failed (%s); the next one will try again", exc.__class__.__name__)

    async def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log back into the database file, on the connection's
        thread (it syncs the disk). PASSIVE: readers and writers go on meanwhile."""
        token = _ON_THREAD.set(True)
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            _ON_THREAD.reset(token)

    async def dispose(self) -> None:
        if self._peek_connection is not None:
            self._peek_connection.close()
            self._peek_connection = None
        if self._peek_pool is not None:
            pool, self._peek_pool = self._peek_pool, None
            with contextlib.suppress(Exception):  # a pool that never connected has nothing to close
                await (await pool).close()
        await self.engine.dispose()


async def _peeks_change_nothing(_connection: asyncpg.Connection) -> None:
    """asyncpg resets a pooled connection on release with a round trip of its own (RESET ALL,
    UNLISTEN *, …); a peek sets, listens to and locks nothing, so there is nothing to reset."""


@functools.lru_cache(maxsize=64)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` placeholders as asyncpg's ``$1``, ``$2``…, and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL; None for an in-memory or URI database (peeks then use the pool)."""
    database = _parsed(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _peek_connection(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA query_only=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # Database.write checkpoints, off the loop
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# --- SQLite: short statements on the loop's thread, the rest one trip each ------------------
#
# aiosqlite runs each sqlite3 call on the connection's own thread, and SQLAlchemy's adapter makes
# four such trips per statement (make a cursor, execute and fetch, close). Each trip hands the
# GIL to that thread and back and waits a turn of the event loop: half of what a check-in or a
# `list mine` costs (bench/sequential.py: 2.6 → 1.5 ms and 4.8 → 2.7 ms without the trips),
# while the statements themselves take tens of microseconds. So these cursors execute, fetch
# every row and close in one call, made right here, and on the connection's thread (one trip)
# only for what may wait or scan: ``BEGIN IMMEDIATE`` while another process writes, and every
# statement of a long read (``_ON_THREAD``). What SQLAlchemy reads afterwards (description,
# rowcount, lastrowid, the rows) is kept from that call.


def _run_statement(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[Any, int, int | None, list[Any]]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneTripCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses, a statement per trip."""

    arraysize = 1

    def __init__(self, connection: _OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> _OneTripCursor:
        return await self._run(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> _OneTripCursor:
        return await self._run(sql, parameters, many=True)

    async def _run(self, sql: str, parameters: Any, *, many: bool) -> _OneTripCursor:
        connection = self._connection
        result = None
        if sql == "BEGIN IMMEDIATE":
            result = _begin_at_once(connection._conn, sql)  # None: another process is writing
            if result is None:
                result = await connection._execute(_run_statement, connection._conn, sql, parameters, many)
        elif _ON_THREAD.get():
            result = await connection._execute(_run_statement, connection._conn, sql, parameters, many)
        else:
            result = _run_statement(connection._conn, sql, parameters, many)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


def _begin_at_once(connection: sqlite3.Connection, sql: str) -> tuple[Any, int, int | None, list[Any]] | None:
    """``BEGIN IMMEDIATE`` here and now if no other process holds the write lock, else None.

    Inside one process writers already queue on Database's lock, so the write lock is nearly
    always free: taken without waiting, on the loop's thread. Only when another process (a
    second server, ``okrbot import``) is writing does the caller wait for it on the thread."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        return _run_statement(connection, sql, None, False)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None
        raise
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


class _OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> _OneTripCursor:  # type: ignore[override]
        return _OneTripCursor(self)

    async def commit(self) -> None:
        # No commit checkpoints (wal_autocheckpoint=0, Database.write checkpoints on the thread),
        # and synchronous=NORMAL does not sync the WAL: a commit is a few writes to the page cache.
        if _ON_THREAD.get():
            await self._execute(self._conn.commit)
        else:
            self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()


def _sqlite_creator(url: str, *, timeout: float) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """What ``create_async_engine(async_creator=…)`` calls: the connection SQLAlchemy would open
    (same arguments as its aiosqlite dialect), with one-trip cursors."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs["timeout"] = timeout
    kwargs["check_same_thread"] = False  # used from the loop's thread and from aiosqlite's

    async def connect() -> aiosqlite.Connection:
        connection = _OneTripConnection(functools.partial(sqlite3.connect, *args, **kwargs), iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        return await connection

    return connect


async def rowcount(session: AsyncSession, statement: Any) -> int:
    """Run a Core insert, update or delete on the session's connection; the rows it touched
    (how a caller tells "I claimed it" from "someone else did", on either database)."""
    result = await (await session.connection()).execute(statement)
    return int(result.rowcount)


async def dialect_insert(session: AsyncSession) -> Any:
    """The session's dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
    dialect = (await session.connection()).dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert
