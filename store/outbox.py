"""The delivery outbox's rows: written once per period, claimed by dispatchers, finished.

A message to send later is a :class:`~store.models.Delivery` row, unique per (workspace, kind,
recipient, period key): whoever writes a period's prompt, reminder, digest or nudge first wins,
and every later attempt (another instance firing the same schedule, a second ``nudge``) inserts
nothing. The payload is text the core wrote; the store never reads it.

Claiming takes rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so dispatchers on several
instances never take the same row; SQLite ignores the clause, its single writer serialises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import dialect_insert
from store.models import Delivery, Workspace

_CHUNK = 500  # rows per INSERT: far below SQLite's 32,766 bound variables
OPEN = ("pending", "sending")  # a row still to send, or claimed and not yet confirmed


@dataclass(frozen=True, slots=True)
class Queued:
    """One row to write: what kind, to whom, for which period, and the message as text."""

    kind: str
    recipient: str
    period_key: str
    payload: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A row a dispatcher has taken, with the workspace it goes to."""

    id: int
    attempts: int  # including this one
    kind: str
    payload: str
    platform: str
    external_id: str
    workspace_name: str


async def enqueue(session: AsyncSession, workspace_id: int, rows: Sequence[Queued], now: dt.datetime) -> int:
    """Insert the rows that do not exist yet (INSERT … ON CONFLICT DO NOTHING); how many were new."""
    if not rows:
        return 0
    insert = await dialect_insert(session)
    connection = await session.connection()
    created = 0
    for start in range(0, len(rows), _CHUNK):
        values = [
            {"workspace_id": workspace_id, "kind": r.kind, "recipient": r.recipient[:128],
             "period_key": r.period_key[:40], "payload": r.payload, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for r in rows[start : start + _CHUNK]
        ]  # fmt: skip
        statement = insert(Delivery).values(values)
        statement = statement.on_conflict_do_nothing(index_elements=["workspace_id", "kind", "recipient", "period_key"])
        result = await connection.execute(statement)
        created += max(result.rowcount or 0, 0)
    return created


async def existing(
    session: AsyncSession, workspace_id: int, kind: str, period: str, recipients: Iterable[str] | None = None
) -> dict[str, Delivery]:
    """The rows of one kind and period, by recipient."""
    query = select(Delivery).where(
        Delivery.workspace_id == workspace_id, Delivery.kind == kind, Delivery.period_key == period
    )
    if recipients is not None:
        query = query.where(col(Delivery.recipient).in_(list(recipients)))
    return {row.recipient: row for row in (await session.exec(query)).all()}


def _due(platforms: Sequence[str], now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(Delivery.status).in_(OPEN),
        col(Delivery.next_attempt_at) <= now,
        col(Workspace.platform).in_(list(platforms)),
    )


async def due_workspaces(
    session: AsyncSession, platforms: Sequence[str], now: dt.datetime, *, limit: int = 64
) -> list[int]:
    """The workspaces with rows due by ``now`` on these platforms (at most ``limit``)."""
    query = (
        select(Delivery.workspace_id)
        .join(Workspace, col(Workspace.id) == Delivery.workspace_id)
        .where(*_due(platforms, now))
        .distinct()
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def claim(
    session: AsyncSession,
    workspace_ids: Sequence[int],
    platforms: Sequence[str],
    now: dt.datetime,
    *,
    batch: int,
    lease: dt.timedelta,
) -> list[Claim]:
    """Take up to ``batch`` due rows, oldest first, shared evenly among ``workspace_ids`` in the
    order given; each is marked ``sending`` until ``now + lease``, when another dispatcher may
    presume this one dead and take it again."""
    share = max(1, -(-batch // max(1, len(workspace_ids))))
    rows: list[Any] = []
    for workspace_id in workspace_ids:
        if len(rows) >= batch:
            break
        query = (
            # sqlmodel's select() is typed for up to four columns (fastapi/sqlmodel#271); it takes any number
            select(Delivery.id, Delivery.attempts, Delivery.kind, Delivery.payload, Workspace.platform,  # type: ignore[call-overload]
                   Workspace.external_id, Workspace.name)
            .join(Workspace, col(Workspace.id) == Delivery.workspace_id)
            .where(Delivery.workspace_id == workspace_id, *_due(platforms, now))
            .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
            .limit(min(share, batch - len(rows)))
            .with_for_update(of=Delivery, skip_locked=True)
        )  # fmt: skip
        rows.extend((await session.exec(query)).all())
    if not rows:
        return []
    await session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_([r[0] for r in rows]))
        .values(status="sending", attempts=col(Delivery.attempts) + 1, next_attempt_at=now + lease)
    )
    return [Claim(r[0], r[1] + 1, r[2], r[3], r[4], r[5], r[6]) for r in rows]


async def finish(session: AsyncSession, delivery_id: int, claimed_attempts: int, values: Mapping[str, object]) -> None:
    """Record how a claimed row ended (sent, failed, put back), if it is still that claim's (the
    row's attempts as claimed): a row whose lease lapsed and was claimed again is the other
    claim's to finish."""
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == "sending",
            col(Delivery.attempts) == claimed_attempts,
        )
        .values(**values)
    )


async def pending_count(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).where(col(Delivery.status) == "pending"))).one())


async def latest(
    session: AsyncSession, *, status: str | None = None, limit: int = 200
) -> list[tuple[Delivery, str, str]]:
    """The newest rows, each with its workspace's platform and external id."""
    query = (
        select(Delivery, Workspace.platform, Workspace.external_id)
        .join(Workspace, col(Workspace.id) == Delivery.workspace_id)
        .order_by(col(Delivery.id).desc())
        .limit(limit)
    )
    if status:
        query = query.where(Delivery.status == status)
    return [(row[0], row[1], row[2]) for row in (await session.exec(query)).all()]
