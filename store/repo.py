"""Queries, each scoped to one workspace.

A :class:`Repo` is bound to a session and a workspace id; every method filters on that id,
so an id typed in one workspace can never reach a row of another.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import TextClause
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from store.db import AUTOCOMMIT, WRITES, Database
from store.models import (
    ApiAnswer,
    ApiToken,
    AuditEntry,
    Capability,
    CheckIn,
    Cycle,
    KeyResult,
    Member,
    Objective,
    Schedule,
    Team,
    TeamMembership,
    Workspace,
    as_utc,
    utcnow,
)


async def workspace_by_external(session: AsyncSession, platform: str, external_id: str) -> Workspace | None:
    """The workspace; in a write session its row is locked until the transaction ends.

    On PostgreSQL that lock makes writers in one workspace queue, as SQLite's single writer
    does: a check-in's read-then-update of its key result cannot interleave with another's
    (the last check-in written is the key result's value), and get-or-create steps such as the
    quarter's cycle cannot run twice. SQLite ignores ``FOR UPDATE``; it already serialises.
    """
    query = select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id)
    if session.info.get(WRITES):
        query = query.with_for_update()
    return (await session.exec(query)).first()


# The statements of the check-in path, built once: building a statement costs more than SQLite
# takes to run it, and SQLAlchemy compiles each only once either way.
_IDENTITY = (
    select(Workspace, Member)
    .outerjoin(Member, and_(col(Member.workspace_id) == Workspace.id, col(Member.external_id) == bindparam("member")))
    .where(Workspace.platform == bindparam("platform"), Workspace.external_id == bindparam("external_id"))
)
_IDENTITY_LOCKED = _IDENTITY.with_for_update(of=Workspace)
_IN_CYCLE = (  # a key result with its objective and cycle, all of one workspace
    select(KeyResult, Objective, Cycle)
    .join(Objective, col(Objective.id) == KeyResult.objective_id)
    .join(Cycle, col(Cycle.id) == Objective.cycle_id)
    .where(
        KeyResult.workspace_id == bindparam("workspace_id"),
        Objective.workspace_id == bindparam("workspace_id"),
        Cycle.workspace_id == bindparam("workspace_id"),
    )
)
_KEY_RESULT_IN_CYCLE = _IN_CYCLE.where(KeyResult.number == bindparam("number"))
# the same for several numbers at once (No change on a prompt's key results)
_KEY_RESULTS_IN_CYCLE = _IN_CYCLE.where(col(KeyResult.number).in_(bindparam("numbers", expanding=True)))
_INSERT_CHECKIN = insert(CheckIn.__table__)  # type: ignore[attr-defined]
_INSERT_AUDIT = insert(AuditEntry.__table__)  # type: ignore[attr-defined]
#: Forgetting member :m of workspace :w (platform id :ext): what they own passes to their team's
#: lead, or to :heir (the admin who forgets them) where they led it themselves; what identifies
#: them goes (memberships, notes' text, ways to message them, messages queued for them, tokens).
_LEAD_OR_HEIR = "COALESCE((SELECT t.lead_id FROM team t WHERE t.id = {team} AND t.lead_id <> :m), :heir)"
_FORGET = (
    "UPDATE key_result SET owner_id = " + _LEAD_OR_HEIR.format(
        team="(SELECT o.team_id FROM objective o WHERE o.id = key_result.objective_id)"
    ) + " WHERE workspace_id = :w AND owner_id = :m",
    "UPDATE objective SET owner_id = " + _LEAD_OR_HEIR.format(team="objective.team_id")
    + " WHERE workspace_id = :w AND owner_id = :m",
    "UPDATE team SET lead_id = :heir WHERE workspace_id = :w AND lead_id = :m",
    "DELETE FROM team_membership WHERE member_id = :m",
    "UPDATE check_in SET note = '' WHERE workspace_id = :w AND member_id = :m",
    "DELETE FROM conversation_ref WHERE workspace_id = :w AND kind = 'user' AND key = :ext",
    "DELETE FROM delivery WHERE workspace_id = :w AND recipient = :ext",
    "DELETE FROM api_answer WHERE token_id IN (SELECT id FROM api_token WHERE created_by_id = :m)",
    "DELETE FROM api_token WHERE workspace_id = :w AND created_by_id = :m",
)  # fmt: skip
_MOVE_KEY_RESULT = (
    update(KeyResult.__table__)  # type: ignore[attr-defined]
    .where(KeyResult.__table__.c.id == bindparam("kr_id"))  # type: ignore[attr-defined]
    .values(current=bindparam("current"), confidence=bindparam("new_confidence"), updated_at=bindparam("at"))
)


#: PostgreSQL's check-in in one statement (data-modifying CTEs): the workspace row locked, the key
#: result moved if it is still as it was read (active, at the value and confidence the check-in
#: remembers as what it replaced, and the reply says it was),
#: the history row added, the revision raised. No row back: it was not, and nothing was written.
#: The check-in's time is never before the key result's last change: its clock was read before
#: the lock, and check-ins must be in time order as they are in write order.
def _checkin_move_touch(*, audited: bool) -> TextClause:
    entry = (
        ", audited AS (INSERT INTO audit_entry (workspace_id, member_id, action, target, surface, created_at)"
        " SELECT :workspace_id, :member_id, :audit_action, :audit_target, :source, updated_at FROM moved)"
    )
    return text(
        "WITH locked AS (SELECT id FROM workspace WHERE id = :workspace_id FOR UPDATE),"
        " moved AS (UPDATE key_result SET current = :value, confidence = :confidence,"
        " updated_at = GREATEST(key_result.updated_at, :created_at)"
        " FROM locked WHERE key_result.id = :key_result_id AND key_result.workspace_id = locked.id"
        " AND NOT key_result.archived AND key_result.confidence = :before AND key_result.current = :previous_value"
        " RETURNING key_result.id, key_result.updated_at),"
        " added AS (INSERT INTO check_in (workspace_id, key_result_id, member_id, value, confidence, note,"
        " created_at, source, previous_value, previous_confidence)"
        " SELECT :workspace_id, id, :member_id, :value, :confidence, :note, updated_at, :source,"
        " :previous_value, :before FROM moved)"
        + (entry if audited else "")
        + " UPDATE workspace SET revision = revision + 1 WHERE id = :workspace_id AND EXISTS (SELECT FROM moved)"
        " RETURNING (SELECT updated_at FROM moved)"
    )


#: ... and, for a check-in that is audited (through the HTTP API), its audit entry.
_CHECKIN_MOVE_TOUCH = {audited: _checkin_move_touch(audited=audited) for audited in (False, True)}
#: PostgreSQL's "no change" in one statement, which takes the workspace's lock itself: each key
#: result that is active, has no check-in since ``:since`` and is still as it was read (its
#: ``updated_at``, which every check-in moves) gets a check-in at its own value and confidence,
#: and the revision is raised when any did; the ids recorded come back (no row: none). The key
#: results are locked ``FOR UPDATE``: a statement waiting on another's lock checks the rows again
#: as that one left them (a statement otherwise sees only what was committed when it began), so
#: a double click's second records nothing.
_UNCHANGED_MOVE_TOUCH = text(
    "WITH locked AS (SELECT id FROM workspace WHERE id = :workspace_id FOR UPDATE),"
    " todo AS (SELECT k.id, k.current, k.confidence FROM key_result k JOIN locked ON k.workspace_id = locked.id"
    " JOIN unnest(CAST(:ids AS BIGINT[]), CAST(:stamps AS TIMESTAMPTZ[])) AS r(id, stamp) ON k.id = r.id"
    " WHERE k.updated_at = r.stamp AND NOT k.archived"
    " AND NOT EXISTS (SELECT 1 FROM check_in c WHERE c.key_result_id = k.id AND c.created_at >= :since)"
    " FOR UPDATE OF k),"
    " moved AS (UPDATE key_result SET updated_at = GREATEST(key_result.updated_at, :at) FROM todo"
    " WHERE key_result.id = todo.id RETURNING key_result.id, key_result.updated_at, todo.current, todo.confidence),"
    " added AS (INSERT INTO check_in (workspace_id, key_result_id, member_id, value, confidence, note,"
    " created_at, source, previous_value, previous_confidence)"
    " SELECT :workspace_id, id, :member_id, current, confidence, :note, updated_at, :source, current, confidence"
    " FROM moved)"
    " UPDATE workspace SET revision = revision + 1 WHERE id = :workspace_id AND EXISTS (SELECT FROM moved)"
    " RETURNING (SELECT array_agg(id) FROM moved)"
)
#: In ``session.info`` of a write that locks the workspace itself, with the statement that writes
#: (``checkin``, the check-in form): its identity read does not lock, so the lock is held from
#: that statement on, not from the first.
LOCKS_LATE = "okrbot_locks_late"


class NeedsTransaction(Exception):
    """A write running without a transaction (``Database.write(single=True)``) found it must
    lock the workspace across statements: run it again, in a transaction."""


_LOCK = select(Workspace.id).where(Workspace.id == bindparam("workspace_id")).with_for_update()
_TOUCHED = "okrbot_revision_raised"  # in session.info: this transaction raised the revision
_TOUCH = (
    update(Workspace.__table__)  # type: ignore[attr-defined]
    .where(Workspace.__table__.c.id == bindparam("workspace_id"))  # type: ignore[attr-defined]
    .values(revision=Workspace.__table__.c.revision + 1)  # type: ignore[attr-defined]
)


async def identity(
    session: AsyncSession, platform: str, external_id: str, member_id: str
) -> tuple[Workspace | None, Member | None]:
    """The workspace and the member in one statement: every command starts here.

    In a write session the workspace row is locked, as in :func:`workspace_by_external`, unless
    the write locks it later itself (:data:`LOCKS_LATE`).
    """
    locks = session.info.get(WRITES) and not session.info.get(LOCKS_LATE)
    query = _IDENTITY_LOCKED if locks else _IDENTITY
    params = {"platform": platform, "external_id": external_id, "member": member_id}
    row = (await session.exec(query, params=params)).first()
    return (row[0], row[1]) if row else (None, None)


@dataclass(frozen=True)
class Seen:
    """What a kept reply needs of the person asking, as stored at one revision of the workspace:
    every write to a member raises the revision, so while it stands this is still true."""

    member_id: int
    display_name: str
    timezone: str | None
    is_admin: bool
    workspace_timezone: str


_PEEK_REVISION = "SELECT id, revision FROM workspace WHERE platform = :platform AND external_id = :external_id"


class Revisions:
    """Workspaces' revisions, read outside any session (:meth:`store.db.Database.peek`) with one
    statement shared by everyone who asks for the same workspace while it is on its way.

    Whoever asks while a read is running waits for the next one, which starts after it and
    serves every caller that arrived meanwhile: no caller is given a read that began before it
    asked, so each sees every commit made before it asked, on any instance. Fifty people opening
    their list at once cost a round trip or two, not fifty.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._running: dict[tuple[str, str], asyncio.Future[tuple[int, int] | None]] = {}
        self._next: dict[tuple[str, str], asyncio.Future[tuple[int, int] | None]] = {}
        self.reads = 0  # statements run, for tests and benchmarks

    async def current(self, platform: str, external_id: str) -> tuple[int, int] | None:
        """(workspace id, revision), or None for a workspace not seen yet; a failed read raises."""
        key = (platform, external_id)
        if key not in self._running:
            return await asyncio.shield(self._start(key))
        waiting = self._next.get(key)
        if waiting is None:
            waiting = self._next[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiting)

    def _start(self, key: tuple[str, str]) -> asyncio.Future[tuple[int, int] | None]:
        self.reads += 1
        read = asyncio.ensure_future(self._read(*key))
        self._running[key] = read
        read.add_done_callback(lambda _read: self._finished(key))
        return read

    def _finished(self, key: tuple[str, str]) -> None:
        del self._running[key]
        waiting = self._next.pop(key, None)
        if waiting is not None:
            self._start(key).add_done_callback(lambda read: _pass_on(read, waiting))

    async def _read(self, platform: str, external_id: str) -> tuple[int, int] | None:
        row = await self.db.peek(_PEEK_REVISION, {"platform": platform, "external_id": external_id})
        return (row[0], row[1]) if row is not None else None


def _pass_on(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.cancelled():
        return
    if source.cancelled():  # the read, not its callers: they go the long way
        target.set_exception(RuntimeError("the revision read was cancelled"))
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


async def ensure_workspace(
    session: AsyncSession, *, platform: str, external_id: str, name: str, timezone: str
) -> Workspace:
    """The workspace, created if new; safe when several first requests arrive at once."""
    connection = await session.connection()
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    await connection.execute(
        dialect_insert(Workspace)
        .values(
            platform=platform,
            external_id=external_id,
            name=name,
            timezone=timezone,
            next_objective_number=1,
            next_kr_number=1,
            created_at=utcnow(),
        )  # fmt: skip
        .on_conflict_do_nothing(index_elements=["platform", "external_id"])
    )
    workspace = await workspace_by_external(session, platform, external_id)
    assert workspace is not None
    return workspace


T = TypeVar("T")


class Scoped(Protocol):
    """A row of one workspace's data."""

    workspace_id: int


RowT = TypeVar("RowT", bound=Scoped)


class Repo:
    def __init__(self, session: AsyncSession, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    async def add(self, row: RowT) -> RowT:
        row.workspace_id = self.workspace_id
        self.session.add(row)
        await self.session.flush()
        return row

    async def save(self, row: RowT) -> RowT:
        """Write what changed on a row of this workspace now (an UPDATE, or the INSERT of a new one)."""
        assert row.workspace_id in (None, self.workspace_id)
        return await self.add(row)

    async def touch(self) -> None:
        """Raise the workspace's revision: what was read before this write is out of date."""
        if self.session.info.pop(_TOUCHED, False):
            return  # raised already, in this transaction, by the statement that wrote
        await self.session.exec(_TOUCH, params={"workspace_id": self.workspace_id})

    async def next_number(self, what: Literal["objective", "kr"]) -> int:
        """Allocate the next O-n or KR-n atomically: numbers are never reused."""
        column = col(Workspace.next_objective_number if what == "objective" else Workspace.next_kr_number)
        connection = await self.session.connection()
        result = await connection.execute(
            update(Workspace)
            .where(col(Workspace.id) == self.workspace_id)
            .values({column: column + 1})
            .returning(column)
        )
        return int(result.scalar_one()) - 1

    async def raise_numbers_to(self, *, objective: int, kr: int) -> None:
        """After an import that kept its numbers, new ones start above the highest."""
        o, k = col(Workspace.next_objective_number), col(Workspace.next_kr_number)
        connection = await self.session.connection()
        await connection.execute(
            update(Workspace)
            .where(col(Workspace.id) == self.workspace_id)
            .values({o: case((o <= objective, objective + 1), else_=o), k: case((k <= kr, kr + 1), else_=k)})
        )

    # members -------------------------------------------------------------------------------

    async def member(self, member_id: int) -> Member | None:
        return await self._one(select(Member).where(Member.id == member_id))

    async def member_by_external(self, external_id: str) -> Member | None:
        return await self._one(select(Member).where(Member.external_id == external_id))

    async def members(self, ids: Sequence[int] | None = None) -> list[Member]:
        query = select(Member)
        if ids is not None:
            query = query.where(col(Member.id).in_(ids))
        return await self._all(query.order_by(col(Member.display_name)))

    async def member_count(self) -> int:
        return len(await self._all(select(col(Member.id))))

    async def forget(self, member: Member, *, pseudonym: str, heir_id: int) -> None:
        """Erase what identifies ``member`` (bot/commands/people.py says what stays)."""
        params = {"w": self.workspace_id, "m": member.id, "heir": heir_id, "ext": member.external_id}
        for statement in _FORGET:
            await self.session.exec(text(statement), params=params)  # type: ignore[call-overload]
        member.external_id, member.display_name = f"forgotten-{member.id}", pseudonym
        member.timezone, member.is_admin, member.away_until = None, False, None
        await self.save(member)

    # teams ---------------------------------------------------------------------------------

    async def team(self, key: str) -> Team | None:
        return await self._one(select(Team).where(Team.key == key))

    async def team_by_id(self, team_id: int) -> Team | None:
        return await self._one(select(Team).where(Team.id == team_id))

    async def teams(self) -> list[Team]:
        return await self._all(select(Team).order_by(col(Team.key)))

    async def membership(self, team_id: int, member_id: int) -> TeamMembership | None:
        return await self._one(
            select(TeamMembership).where(TeamMembership.team_id == team_id, TeamMembership.member_id == member_id)
        )

    async def team_member_ids(self, team_id: int) -> list[int]:
        return await self._all(select(TeamMembership.member_id).where(TeamMembership.team_id == team_id))

    async def delete(self, row: Scoped) -> None:
        assert row.workspace_id == self.workspace_id
        await self.session.delete(row)
        await self.session.flush()

    # schedules -----------------------------------------------------------------------------

    async def schedules(self) -> list[Schedule]:
        """The workspace's check-in and digest schedules, check-ins first."""
        return await self._all(select(Schedule).order_by(col(Schedule.what), col(Schedule.id)))

    # capabilities --------------------------------------------------------------------------

    async def capability(self, key: str) -> Capability | None:
        return await self._one(select(Capability).where(Capability.key == key))

    async def capabilities(self) -> list[Capability]:
        return await self._all(select(Capability).order_by(col(Capability.position), col(Capability.key)))

    # cycles --------------------------------------------------------------------------------

    async def cycle(self, name: str) -> Cycle | None:
        return await self._one(select(Cycle).where(Cycle.name == name))

    async def cycles(self) -> list[Cycle]:
        return await self._all(select(Cycle).order_by(col(Cycle.starts_on), col(Cycle.name)))

    async def cycle_by_id(self, cycle_id: int) -> Cycle | None:
        return await self._one(select(Cycle).where(Cycle.id == cycle_id))

    async def open_cycle_on(self, day: dt.date) -> Cycle | None:
        return await self._one(
            select(Cycle)
            .where(Cycle.starts_on <= day, Cycle.ends_on >= day, col(Cycle.closed).is_(False))
            .order_by(col(Cycle.starts_on).desc())
        )

    # objectives and key results ------------------------------------------------------------

    async def objective(self, number: int) -> Objective | None:
        return await self._one(select(Objective).where(Objective.number == number))

    async def objective_by_id(self, objective_id: int) -> Objective | None:
        return await self._one(select(Objective).where(Objective.id == objective_id))

    async def objectives(
        self,
        *,
        team_id: int | None = None,
        capability_ids: Sequence[int] | None = None,
        cycle_id: int | None = None,
        cycle_ids: Sequence[int] | None = None,
        ids: Sequence[int] | None = None,
        include_archived: bool = False,
    ) -> list[Objective]:
        query = select(Objective)
        if team_id is not None:
            query = query.where(Objective.team_id == team_id)
        if capability_ids is not None:
            query = query.where(col(Objective.capability_id).in_(capability_ids))
        if cycle_id is not None:
            query = query.where(Objective.cycle_id == cycle_id)
        if cycle_ids is not None:
            query = query.where(col(Objective.cycle_id).in_(cycle_ids))
        if ids is not None:
            query = query.where(col(Objective.id).in_(ids))
        if not include_archived:
            query = query.where(col(Objective.archived).is_(False))
        return await self._all(query.order_by(col(Objective.number)))

    async def key_result_in_cycle(
        self, number: int, *, again: bool = False
    ) -> tuple[KeyResult, Objective, Cycle] | None:
        """A key result with its objective and cycle, in one statement (the check-in path);
        ``again``: read anew what this session has read before."""
        params = {"workspace_id": self.workspace_id, "number": number}
        query = _KEY_RESULT_IN_CYCLE.execution_options(populate_existing=True) if again else _KEY_RESULT_IN_CYCLE
        row = (await self.session.exec(query, params=params)).first()
        return (row[0], row[1], row[2]) if row else None

    async def key_results_in_cycle(self, numbers: Sequence[int]) -> dict[int, tuple[KeyResult, Objective, Cycle]]:
        """Several key results with their objectives and cycles in one statement, by number."""
        params = {"workspace_id": self.workspace_id, "numbers": list(numbers)}
        rows = (await self.session.exec(_KEY_RESULTS_IN_CYCLE, params=params)).all()
        return {row[0].number: (row[0], row[1], row[2]) for row in rows}

    async def record_checkin(
        self,
        kr: KeyResult,
        *,
        member_id: int,
        value: float,
        confidence: int,
        note: str,
        at: dt.datetime,
        source: str,
        audited: tuple[str, str] | None = None,
    ) -> bool:
        """Append a check-in to ``kr``'s history and move ``kr``: two plain statements (one on
        PostgreSQL, which locks the workspace and raises the revision in it too). ``audited``: the
        audit log's action and target, written with it (in the same statement on PostgreSQL).

        False when nothing was written because ``kr`` changed since it was read (PostgreSQL, where
        a check-in may read before it locks: :data:`LOCKS_LATE`); lock, read it again, try again.

        The check-in path is the hot write path, so it skips the ORM's unit of work (a flush
        costs more than both statements); ``kr`` is updated in memory as if it had been
        loaded that way, so the session sees no pending change and nothing is written twice.
        """
        assert kr.workspace_id == self.workspace_id and kr.id is not None
        checkin = {
            "workspace_id": self.workspace_id,
            "key_result_id": kr.id,
            "member_id": member_id,
            "value": value,
            "confidence": confidence,
            "note": note,
            "created_at": at,
            "source": source,
            "previous_value": kr.current,
        }
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            # One statement instead of three, which takes the workspace's lock itself: the move,
            # the insert and the revision raised (so touch() has nothing left to do).
            params = {**checkin, "before": kr.confidence}
            if audited is not None:
                params |= {"audit_action": audited[0], "audit_target": audited[1]}
            written = (await connection.execute(_CHECKIN_MOVE_TOUCH[audited is not None], params)).first()
            if written is None:
                return False
            at = written[0]
            self.session.info[_TOUCHED] = True
        else:
            await self.session.exec(_INSERT_CHECKIN, params={**checkin, "previous_confidence": kr.confidence})
            await self.session.exec(
                _MOVE_KEY_RESULT, params={"kr_id": kr.id, "current": value, "new_confidence": confidence, "at": at}
            )
            if audited is not None:
                await self.audit(member_id=member_id, action=audited[0], target=audited[1], surface=source, at=at)
        for name, new in (("current", value), ("confidence", confidence), ("updated_at", at)):
            set_committed_value(kr, name, new)
        return True

    async def last_check_in_times(self, key_result_ids: Sequence[int]) -> dict[int, dt.datetime]:
        """When each of these key results was last checked in (those never checked in are absent)."""
        if not key_result_ids:
            return {}
        query = (
            select(CheckIn.key_result_id, func.max(CheckIn.created_at))
            .where(CheckIn.workspace_id == self.workspace_id, col(CheckIn.key_result_id).in_(key_result_ids))
            .group_by(col(CheckIn.key_result_id))
        )
        return {kr_id: at for kr_id, at in (await self.session.exec(query)).all()}

    async def last_check_in_by(self, member_id: int) -> tuple[CheckIn, KeyResult] | None:
        """The member's latest check-in in this workspace, with its key result."""
        query = (
            select(CheckIn, KeyResult)
            .join(KeyResult, col(KeyResult.id) == CheckIn.key_result_id)
            .where(
                CheckIn.workspace_id == self.workspace_id,
                KeyResult.workspace_id == self.workspace_id,
                CheckIn.member_id == member_id,
            )
            .order_by(col(CheckIn.created_at).desc(), col(CheckIn.id).desc())
            .limit(1)
        )
        row = (await self.session.exec(query)).first()
        return (row[0], row[1]) if row else None

    async def undo_check_in(self, checkin: CheckIn, kr: KeyResult, *, value: float, confidence: int) -> None:
        """Take ``checkin`` out of the history and put ``kr`` back at ``value`` and ``confidence``."""
        assert checkin.workspace_id == kr.workspace_id == self.workspace_id
        kr.current, kr.confidence = value, confidence
        self.session.add(kr)
        await self.session.delete(checkin)
        await self.session.flush()

    async def record_unchanged(
        self, krs: Sequence[KeyResult], *, member_id: int, since: dt.datetime, at: dt.datetime, note: str, source: str
    ) -> set[int]:
        """A check-in at its own value and confidence for each of ``krs`` with none since ``since``
        (the ids of those recorded). On PostgreSQL one statement that locks the workspace only
        while it runs (:data:`_UNCHANGED_MOVE_TOUCH`); on SQLite the write lock is held already."""
        ids = [kr.id for kr in krs if kr.id is not None]
        if not ids:
            return set()
        connection = await self.session.connection()
        params = {"workspace_id": self.workspace_id, "member_id": member_id, "note": note, "source": source}
        if connection.dialect.name == "postgresql":
            stamps = [kr.updated_at for kr in krs if kr.id is not None]
            found = {**params, "ids": ids, "stamps": stamps, "since": since, "at": at}
            row = (await connection.execute(_UNCHANGED_MOVE_TOUCH, found)).first()
            if row is None or not row[0]:
                return set()
            self.session.info[_TOUCHED] = True
            recorded = set(row[0])
        else:
            latest = await self.last_check_in_times(ids)
            recorded = set()
            for kr in krs:
                seen = latest.get(kr.id)  # type: ignore[arg-type]
                if kr.archived or (seen is not None and as_utc(seen) >= since):
                    continue
                checkin = {**params, "key_result_id": kr.id, "value": kr.current, "confidence": kr.confidence,
                           "created_at": at, "previous_value": kr.current, "previous_confidence": kr.confidence}  # fmt: skip
                await self.session.exec(_INSERT_CHECKIN, params=checkin)
                await self.session.exec(
                    _MOVE_KEY_RESULT,
                    params={"kr_id": kr.id, "current": kr.current, "new_confidence": kr.confidence, "at": at},
                )
                recorded.add(kr.id)
        for kr in krs:
            if kr.id in recorded:
                set_committed_value(kr, "updated_at", at)
        return recorded

    async def lock(self) -> None:
        """Lock the workspace row until the transaction ends (see :func:`workspace_by_external`);
        :class:`NeedsTransaction` in a write that has none."""
        if self.session.info.get(AUTOCOMMIT):
            raise NeedsTransaction
        await self.session.exec(_LOCK, params={"workspace_id": self.workspace_id})

    async def carry_links(self, row: Objective | KeyResult) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """Where ``row`` was carried over from, and where to: the number and cycle name of each."""
        linked = or_(col(type(row).id) == row.carried_from_id, col(type(row).carried_from_id) == row.id)
        if isinstance(row, KeyResult):
            query = (
                select(KeyResult.id, KeyResult.number, Cycle.name)
                .join(Objective, col(Objective.id) == KeyResult.objective_id)
                .join(Cycle, col(Cycle.id) == Objective.cycle_id)
                .where(KeyResult.workspace_id == self.workspace_id, linked)
            )
        else:
            query = (
                select(Objective.id, Objective.number, Cycle.name)
                .join(Cycle, col(Cycle.id) == Objective.cycle_id)
                .where(Objective.workspace_id == self.workspace_id, linked)
            )
        rows = (await self.session.exec(query.order_by(col(Cycle.starts_on)))).all()
        came = [(n, name) for i, n, name in rows if i == row.carried_from_id]
        went = [(n, name) for i, n, name in rows if i != row.carried_from_id]
        return came, went

    async def key_result(self, number: int) -> KeyResult | None:
        return await self._one(select(KeyResult).where(KeyResult.number == number))

    async def key_results(
        self,
        *,
        objective_ids: Sequence[int] | None = None,
        owner_id: int | None = None,
        include_archived: bool = False,
    ) -> list[KeyResult]:
        query = select(KeyResult)
        if objective_ids is not None:
            query = query.where(col(KeyResult.objective_id).in_(objective_ids))
        if owner_id is not None:
            query = query.where(KeyResult.owner_id == owner_id)
        if not include_archived:
            query = query.where(col(KeyResult.archived).is_(False))
        return await self._all(query.order_by(col(KeyResult.number)))

    async def check_ins(self, key_result_id: int, *, limit: int | None = None) -> list[CheckIn]:
        query = (
            select(CheckIn)
            .where(CheckIn.key_result_id == key_result_id)
            .order_by(col(CheckIn.created_at).desc(), col(CheckIn.id).desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return await self._all(query)

    async def all_check_ins(self) -> list[CheckIn]:
        return await self._all(select(CheckIn).order_by(col(CheckIn.id)))

    # the audit log -------------------------------------------------------------------------

    async def audit(self, *, member_id: int | None, action: str, target: str, surface: str, at: dt.datetime) -> None:
        """Add an entry: one plain statement (an API check-in pays for it), no unit of work."""
        params = {"workspace_id": self.workspace_id, "member_id": member_id, "action": action, "target": target,
                  "surface": surface, "created_at": at}  # fmt: skip
        await self.session.exec(_INSERT_AUDIT, params=params)

    async def audit_entries(self, *, since: dt.datetime | None = None, limit: int = 50) -> list[AuditEntry]:
        """The latest entries, newest first (``since``: from that moment on)."""
        query = select(AuditEntry).order_by(col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc())
        if since is not None:
            query = query.where(col(AuditEntry.created_at) >= since)
        return await self._all(query.limit(limit))

    # the HTTP API's tokens and the answers kept for its retries -----------------------------

    async def api_tokens(self) -> list[ApiToken]:
        return await self._all(select(ApiToken).order_by(col(ApiToken.name)))

    async def api_token(self, name: str) -> ApiToken | None:
        return await self._one(select(ApiToken).where(ApiToken.name == name))

    async def revoke_api_token(self, token: ApiToken) -> None:
        """The token gone, with the answers kept for it: its next request is refused."""
        await self.session.exec(
            delete(ApiAnswer).where(
                col(ApiAnswer.workspace_id) == self.workspace_id, col(ApiAnswer.token_id) == token.id
            )
        )
        await self.delete(token)

    async def api_answer(self, token_id: int, key: str, *, since: dt.datetime) -> ApiAnswer | None:
        """The answer kept for the token's ``key``, if it was given after ``since``; the token's
        older answers are deleted, so a key may be used again once its answer has expired."""
        await self.session.exec(
            delete(ApiAnswer).where(
                col(ApiAnswer.workspace_id) == self.workspace_id,
                col(ApiAnswer.token_id) == token_id,
                col(ApiAnswer.created_at) < since,
            )
        )
        return await self._one(select(ApiAnswer).where(ApiAnswer.token_id == token_id, ApiAnswer.key == key))

    # helpers -------------------------------------------------------------------------------

    def _scoped(self, query: SelectOfScalar[T]) -> SelectOfScalar[T]:
        entity = query.column_descriptions[0]["entity"]
        return query.where(entity.workspace_id == self.workspace_id)

    async def _one(self, query: SelectOfScalar[T]) -> T | None:
        return (await self.session.exec(self._scoped(query))).first()

    async def _all(self, query: SelectOfScalar[T]) -> list[T]:
        return list((await self.session.exec(self._scoped(query))).all())
