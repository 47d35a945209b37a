"""The scheduler service of ``okrbot serve``: APScheduler cron jobs from the schedule table, the
catch-up of runs missed while down, and the dispatchers.

APScheduler (3.x, in memory, one scheduler per process) only says *when*; what a firing does is
decided by :mod:`scheduler.runs` from the database, idempotently, so every instance may fire
every job: the unique outbox rows make each period's messages once. A firing computes its own
period from the clock (:func:`scheduler.times.last_fire`), so a late or repeated firing — a
coalesced misfire, the fall-back hour, a restart — lands on the same rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.dispatch import Dispatcher
from scheduler.runs import Job, plan, run_digest, run_grading, run_prompts, run_reminders
from scheduler.times import last_fire
from store import rhythm
from store.db import Database
from store.models import utcnow

log = logging.getLogger(__name__)
RECONCILE_ID = "okrbot:reconcile"


class SchedulerService:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        grace: dt.timedelta = dt.timedelta(hours=6),
        reconcile_seconds: float = 60.0,
        workers: int = 4,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.clock = clock
        self.grace = grace
        self.reconcile_seconds = reconcile_seconds
        self.workers = workers
        self.jobs: dict[str, Job] = {}
        self.scheduler: AsyncIOScheduler | None = None
        self._checked_until: dt.datetime | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the plan ------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Bring the cron jobs in line with the schedule table; whether anything changed."""
        wanted = {job.id: job for job in await plan(self.db, self.clock())}
        changed = wanted != self.jobs
        if self.scheduler is not None:
            for job_id in self.jobs.keys() - wanted.keys():
                self.scheduler.remove_job(job_id)
            for job_id, job in wanted.items():
                if self.jobs.get(job_id) != job:
                    trigger = CronTrigger(day_of_week=job.rhythm.weekday, hour=job.rhythm.hour,
                                          minute=job.rhythm.minute, timezone=ZoneInfo(job.timezone))  # fmt: skip
                    self.scheduler.add_job(self.fire, trigger, args=[job_id], id=job_id, replace_existing=True)
        if changed:
            log.info("scheduler: %d jobs", len(wanted))
        self.jobs = wanted
        return changed

    # -- firing --------------------------------------------------------------------------------

    async def fire(self, job_id: str) -> int:
        """An APScheduler firing: run the job's latest period, if it is not older than the grace."""
        job = self.jobs.get(job_id)
        return 0 if job is None else await self.run_job(job)

    async def run_job(self, job: Job, *, catch_up: bool = False) -> int:
        now = self.clock()
        fire = last_fire(job.rhythm, ZoneInfo(job.timezone), now)
        late = now - fire
        if late > self.grace:
            if catch_up and late < self.grace + dt.timedelta(days=1):  # a recent miss, not last week's run
                log.info("scheduler: skipped %s of %s: %s late, more than the %s grace", job.id, fire.isoformat(), late, self.grace)  # fmt: skip
            return 0
        async with self.db.read() as session:
            schedule = await rhythm.schedule(session, job.schedule_id)
        if schedule is None:
            return 0
        if job.kind == "prompt":
            queued = await run_prompts(self.db, schedule, fire, timezone=job.timezone, now=now)
        elif job.kind == "reminder":
            queued = await run_reminders(self.db, schedule, fire, timezone=job.timezone, now=now)
        elif job.kind == "grading":
            queued = await run_grading(self.db, schedule, fire, timezone=job.timezone, now=now)
        else:
            queued = await run_digest(self.db, schedule, fire, now=now)
        if queued:
            log.info("scheduler: %s of %s queued %d", job.id, fire.isoformat(), queued)
        return queued

    async def run_due(self, *, catch_up: bool = False) -> int:
        """Run every job whose latest firing falls since the last check (all, within the grace, on
        ``catch_up``): the start-up catch-up, and the safety net behind APScheduler's triggers."""
        now = self.clock()
        since = None if catch_up else self._checked_until
        queued = 0
        for job in list(self.jobs.values()):
            fire = last_fire(job.rhythm, ZoneInfo(job.timezone), now)
            if since is None or fire > since:
                queued += await self.run_job(job, catch_up=catch_up)
        self._checked_until = now
        return queued

    async def reconcile(self) -> None:
        try:
            await self.reload()
            await self.run_due()
        except Exception:
            log.exception("scheduler: reconcile failed")

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        grace = int(self.grace.total_seconds())
        self.scheduler = AsyncIOScheduler(
            timezone=dt.UTC, job_defaults={"misfire_grace_time": grace, "coalesce": True, "max_instances": 1}
        )
        try:
            await self.reload()
            await self.run_due(catch_up=True)
        except Exception:
            log.exception("scheduler: the start-up catch-up failed")
        self.scheduler.add_job(self.reconcile, "interval", seconds=self.reconcile_seconds, id=RECONCILE_ID,
                               replace_existing=True)  # fmt: skip
        self.scheduler.start()
        if self.dispatcher is not None:
            self._tasks.append(asyncio.create_task(self.dispatcher.run(self._stop, workers=self.workers)))

    async def stop(self) -> None:
        self._stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._tasks.clear()
