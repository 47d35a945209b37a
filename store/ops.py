"""What an operator watches in the database: the delivery outbox by status, and how long its
oldest due message has waited. Read at scrape time; on PostgreSQL every instance sees the same
shared outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select

from store.db import Database
from store.models import Delivery, as_utc

_COUNTS = select(Delivery.status, func.count()).group_by(col(Delivery.status))


@dataclass(frozen=True)
class OutboxFigures:
    counts: dict[str, int]  # status → rows; a status with no rows is absent
    oldest_due: dt.datetime | None  # aware (UTC); None when nothing pending is due


async def outbox_figures(db: Database, *, now: dt.datetime) -> OutboxFigures:
    """The outbox's rows by status and the oldest pending delivery due by ``now``, in one read."""
    oldest = select(func.min(Delivery.next_attempt_at)).where(
        col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now
    )
    async with db.read() as session:
        counts = {str(status): int(n) for status, n in (await session.exec(_COUNTS)).all()}
        due = (await session.exec(oldest)).one()
    return OutboxFigures(counts, as_utc(due) if due is not None else None)
