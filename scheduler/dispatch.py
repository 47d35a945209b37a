"""Dispatchers: claim outbox rows, send them through the Outbound of their platform, record it.

**Delivery guarantee.** Every queued message is sent at least once and, barring a crash, exactly
once: a row is claimed in its own short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several dispatchers on several instances never claim the same row; SQLite's single writer gives
the same on one machine), and is marked sent in another transaction right after the platform
accepts the message. If the process dies between the platform accepting a message and that
commit, the row's claim lapses after the lease (10 minutes by default) and the message is sent a
second time. A dispatcher sends one message at a time, so such a crash duplicates at most one
message per dispatcher, and loses none. Failures are retried with exponential backoff and jitter
(or after the platform's ``Retry-After``) and, after ``max_attempts``, the row is marked failed
with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.command import WorkspaceRef
from bot.outbound import DeliveryError, Outbound
from bot.outbox import Envelope
from scheduler.pacing import Pacer
from store import outbox
from store.db import Database, Session
from store.models import utcnow

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int  # including this one
    kind: str
    payload: str
    workspace: WorkspaceRef


@dataclass
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    def add(self, other: Stats) -> None:
        for name in ("claimed", "sent", "retried", "failed", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Dispatcher:
    db: Database
    outbounds: Mapping[str, Outbound]
    clock: Clock = utcnow
    pacer: Pacer = field(default_factory=Pacer)
    max_attempts: int = 5
    base_delay: float = 30.0  # seconds before the first retry; doubles each time
    max_delay: float = 6 * 3600.0
    lease: float = 600.0  # a claim older than this is presumed dead and taken again
    batch: int = 10
    max_inline_wait: float = 2.0  # a longer pacing wait puts the row back for later
    sleep: Sleep = asyncio.sleep
    rng: Callable[[], float] = random.random
    #: The workspaces with due rows, and when they were looked up: a second's worth of batches
    #: share one DISTINCT scan.
    _spaces: tuple[float, list[int]] | None = field(default=None, init=False, repr=False)
    _turn: int = field(default=0, init=False, repr=False)  # whose turn it is to go first

    # -- claiming ------------------------------------------------------------------------------

    async def claim(self) -> list[Claimed]:
        claimed = await self._claim()
        if not claimed and self._spaces is not None:
            self._spaces = None  # the cached workspaces may be stale: look again before saying "none"
            claimed = await self._claim()
        return claimed

    async def _claim(self) -> list[Claimed]:
        """Take up to ``batch`` due rows of the platforms this dispatcher can send to.

        Fair across workspaces: the batch is shared among the workspaces with due rows (in a
        rotating order), so one workspace's 10,000-person fan-out does not queue another's
        handful of messages behind it.
        """
        if not self.outbounds:
            return []
        now, platforms = self.clock(), list(self.outbounds)
        async with self.db.read() as session:  # an idle poll takes no write lock
            if not await self._due_workspaces(session, platforms, now):
                return []
        async with self.db.write() as session:
            spaces = await self._due_workspaces(session, platforms, now)
            if not spaces:
                return []
            self._turn = (self._turn + 1) % len(spaces)
            spaces = sorted(spaces)
            spaces = spaces[self._turn :] + spaces[: self._turn]
            rows = await outbox.claim(
                session, spaces, platforms, now, batch=self.batch, lease=dt.timedelta(seconds=self.lease)
            )
        return [
            Claimed(r.id, r.attempts, r.kind, r.payload, WorkspaceRef(r.platform, r.external_id, r.workspace_name))  # type: ignore[arg-type]
            for r in rows
        ]

    async def _due_workspaces(self, session: Session, platforms: list[str], now: dt.datetime) -> list[int]:
        """The workspaces with due rows; the DISTINCT scan is cached for a second, not run per batch."""
        monotonic = time.monotonic()
        cached = self._spaces
        if cached is not None and monotonic - cached[0] < 1.0 and cached[1]:
            return cached[1]
        spaces = await outbox.due_workspaces(session, platforms, now)
        self._spaces = (monotonic, spaces)
        return spaces

    async def _finish(self, claimed: Claimed, **values: object) -> None:
        async with self.db.write() as session:
            await outbox.finish(session, claimed.id, claimed.attempts, values)

    # -- sending -------------------------------------------------------------------------------

    async def _paced(self, claimed: Claimed, target: str) -> float:
        """Wait for the pacer (0 once sending may go), or the seconds to put the row back for."""
        ws = claimed.workspace
        wait = self.pacer.reserve(ws.platform, ws.external_id, target, max_wait=self.max_inline_wait)
        if wait > self.max_inline_wait:
            return wait
        if wait > 0:
            await self.sleep(wait)
        return 0.0

    async def send_one(self, claimed: Claimed) -> str:
        """Send one claimed row; its outcome: sent, retried, failed or deferred."""
        try:
            envelope = Envelope.loads(claimed.payload)
        except (ValueError, KeyError, TypeError) as exc:
            await self._finish(claimed, status="failed", last_error=f"unreadable payload: {exc}"[:500])
            return "failed"
        defer = await self._paced(claimed, envelope.target)
        if defer:
            await self._finish(claimed, status="pending", attempts=claimed.attempts - 1,
                               next_attempt_at=self.clock() + dt.timedelta(seconds=defer))  # fmt: skip
            return "deferred"
        outbound = self.outbounds[claimed.workspace.platform]
        try:
            if envelope.to == "direct":
                await outbound.send_direct(claimed.workspace, envelope.target, envelope.message)
            else:
                await outbound.post_channel(claimed.workspace, envelope.target, envelope.message)
        except DeliveryError as exc:
            return await self._failed(claimed, str(exc), exc.retry_after, exc.permanent)
        except Exception as exc:
            log.exception("sending delivery %s failed", claimed.id)
            return await self._failed(claimed, f"{exc.__class__.__name__}: {exc}", None, False)
        await self._finish(claimed, status="sent", sent_at=self.clock(), last_error=None)
        return "sent"

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: the platform's Retry-After, else exponential with jitter."""
        if retry_after is not None:
            return retry_after * (1 + 0.1 * self.rng())
        return min(self.max_delay, self.base_delay * 2 ** (attempts - 1)) * (0.5 + self.rng())

    async def _failed(self, claimed: Claimed, reason: str, retry_after: float | None, permanent: bool) -> str:
        ws = claimed.workspace
        if retry_after is not None:
            self.pacer.block(ws.platform, ws.external_id, retry_after)
        if permanent or (claimed.attempts >= self.max_attempts and retry_after is None):
            why = reason if permanent else f"{reason} (gave up after {claimed.attempts} attempts)"
            log.warning("delivery %s failed for good: %s", claimed.id, why)
            await self._finish(claimed, status="failed", last_error=why[:500])
            return "failed"
        delay = self.backoff(claimed.attempts, retry_after)
        # Being throttled is not the message's fault: a Retry-After does not use up an attempt,
        # so a 429 storm delays a fan-out but never turns it into failures.
        attempts = claimed.attempts - 1 if retry_after is not None else claimed.attempts
        await self._finish(
            claimed,
            status="pending",
            attempts=attempts,
            last_error=reason[:500],
            next_attempt_at=self.clock() + dt.timedelta(seconds=delay),
        )
        return "retried"

    # -- loops ---------------------------------------------------------------------------------

    async def run_once(self) -> Stats:
        """Claim one batch and send it, one message at a time."""
        stats = Stats()
        for claimed in await self.claim():
            stats.claimed += 1
            outcome = await self.send_one(claimed)
            setattr(stats, outcome, getattr(stats, outcome) + 1)
        return stats

    async def drain(self, *, workers: int = 1, rounds: int = 10_000, seconds: float = 300.0) -> Stats:
        """Send until nothing is due now (bounded by ``rounds`` batches per worker and ``seconds``)."""
        total = Stats()

        async def worker() -> None:
            for _ in range(rounds):
                stats = await self.run_once()
                total.add(stats)
                if stats.claimed == 0:
                    return

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), seconds)
        return total

    async def run(self, stop: asyncio.Event, *, workers: int = 4, idle: float = 1.0) -> None:
        """The long-running dispatchers of ``okrbot serve``: ``workers`` sending tasks."""

        async def worker(number: int) -> None:
            pause = idle
            while not stop.is_set():
                try:
                    stats = await self.run_once()
                    pause = idle
                except Exception:
                    log.exception("dispatcher %d: a round failed; trying again in %.0f s", number, pause)
                    stats, pause = Stats(), min(pause * 2, 60.0)
                if stats.claimed == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)

        await asyncio.gather(*(worker(n) for n in range(workers)))
