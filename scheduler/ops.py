"""What ``okrbot send`` and ``okrbot deliveries`` do, for the command line to print."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from bot.outbound import Outbound
from scheduler.dispatch import Dispatcher, Stats
from scheduler.runs import What, matching_schedules, send_now
from store import outbox
from store.db import Database
from store.models import utcnow


async def send(
    db: Database,
    outbounds: Mapping[str, Outbound],
    what: What,
    *,
    team: str | None = None,
    workspace: str | None = None,
    now: dt.datetime | None = None,
    seconds: float = 120.0,
) -> tuple[int, Stats, int]:
    """Queue the current period's ``what`` now and send what can be sent: (queued, stats, still pending)."""
    clock = utcnow if now is None else (lambda: now)  # a given ``now`` is the sending's time too
    schedules = await matching_schedules(db, what, team=team, workspace=workspace)
    queued = await send_now(db, what, schedules, clock())
    stats = await Dispatcher(db, outbounds, clock=clock).drain(seconds=seconds)
    async with db.read() as session:
        pending = await outbox.pending_count(session)
    return queued, stats, pending


async def deliveries(db: Database, *, status: str | None = None, limit: int = 200) -> list[str]:
    """The latest deliveries, one line each."""
    async with db.read() as session:
        rows = await outbox.latest(session, status=status, limit=limit)
    lines = []
    for delivery, platform, external_id in rows:
        when = (delivery.sent_at or delivery.next_attempt_at).strftime("%Y-%m-%d %H:%M")
        error = f"  {delivery.last_error}" if delivery.last_error else ""
        lines.append(
            f"{delivery.id:>6} {delivery.status:<8} {delivery.kind:<8} {platform}:{external_id} {delivery.recipient} "
            f"{delivery.period_key} attempts={delivery.attempts} {when}{error}"
        )
    return lines
