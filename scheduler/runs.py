"""The due runs: what a firing of a schedule writes to the outbox.

Each run is idempotent: it writes one delivery row per recipient and period, and the outbox
inserts only the rows that do not exist yet (:func:`bot.outbox.send_once`), so the same run
fired by three instances, or fired again after a restart, creates every message once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from bot.alignment import scheduled_digest
from bot.commands.checkin import prompt_message, reminder_message
from bot.commands.schedule import CHECKIN_DEFAULT, REMIND_DEFAULT, is_zone
from bot.grading import GRADING_DAYS, grading_days, grading_message
from bot.outbox import Envelope, Outgoing, enqueue, send_once
from bot.scales import period_key
from scheduler.times import Rhythm, last_fire, shifted
from store import outbox, rhythm
from store.db import Database, Session
from store.models import Member, Schedule, row_id
from store.rhythm import Grader, Owner

log = logging.getLogger(__name__)
JobKind = Literal["prompt", "reminder", "digest", "grading"]


@dataclass(frozen=True, slots=True)
class Job:
    """One cron job: a kind of run of one schedule, for the recipients in one timezone."""

    kind: JobKind
    schedule_id: int
    rhythm: Rhythm
    timezone: str

    @property
    def id(self) -> str:
        return f"okrbot:{self.kind}:{self.schedule_id}:{self.timezone}"


DAILY = None  # a Rhythm's weekday for every day


def effective_zone(member: Member, schedule: Schedule) -> str:
    """The recipient's own timezone when okrbot knows a valid one, else the schedule's."""
    return member.timezone if member.timezone and is_zone(member.timezone) else schedule.timezone


def _today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


async def plan(db: Database, now: dt.datetime) -> list[Job]:
    """Every cron job the schedules ask for: check-ins fire once per timezone their owners live in."""
    async with db.read() as session:
        rows = await rhythm.all_schedules(session)
        zones = await rhythm.owner_zones(session, _today(now, "UTC"))
    jobs: list[Job] = []
    for row in rows:
        when = Rhythm(row.weekday, row.time)
        if row.what == "digest":
            jobs.append(Job("digest", row.id, when, row.timezone))  # type: ignore[arg-type]
            continue
        names = {z if z and is_zone(z) else row.timezone for z in zones.get((row.workspace_id, row.team_id), set())}
        for name in sorted(names | {row.timezone}):
            jobs.append(Job("prompt", row.id, when, name))  # type: ignore[arg-type]
            if row.remind_after_hours:
                jobs.append(Job("reminder", row.id, shifted(when, row.remind_after_hours), name))  # type: ignore[arg-type]
            jobs.append(Job("grading", row.id, Rhythm(DAILY, row.time), name))  # type: ignore[arg-type]
    return jobs


# -- prompts and reminders ---------------------------------------------------------------------


async def _recipients(session: Session, schedule: Schedule, at: dt.datetime, timezone: str | None) -> list[Owner]:
    """The owners this run is for: in ``timezone`` (all when None), and not away there today."""
    found = await rhythm.owners(session, schedule.workspace_id, _today(at, schedule.timezone), team_id=schedule.team_id)
    chosen = []
    for owner in found:
        zone = effective_zone(owner.member, schedule)
        if timezone is not None and zone != timezone:
            continue
        if owner.member.is_away(_today(at, zone)):
            continue
        chosen.append(owner)
    return chosen


async def run_prompts(
    db: Database, schedule: Schedule, fire: dt.datetime, *, timezone: str | None, now: dt.datetime
) -> int:
    """Queue the week's prompt for each owner of the team's key results; how many were new."""
    period = period_key(fire, schedule.timezone)
    async with db.write() as session:
        chosen = await _recipients(session, schedule, fire, timezone)
        fanout = await send_once(session, schedule.workspace_id, "prompt", period, chosen,
                                 lambda o: prompt_message(o.member, o.krs), now)  # fmt: skip
        return fanout.new


async def run_reminders(
    db: Database, schedule: Schedule, fire: dt.datetime, *, timezone: str | None, now: dt.datetime
) -> int:
    """Queue a reminder for each owner prompted this period who has not checked in since."""
    # The prompt this reminder follows: the latest firing of the prompt at or before this one.
    prompt_fire = last_fire(Rhythm(schedule.weekday, schedule.time), ZoneInfo(timezone), fire) if timezone else fire
    period = period_key(prompt_fire, schedule.timezone)
    async with db.write() as session:
        chosen = await _recipients(session, schedule, fire, timezone)
        ids = [o.member.external_id for o in chosen]
        prompts = await outbox.existing(session, schedule.workspace_id, "prompt", period, ids)
        reminded = await outbox.existing(session, schedule.workspace_id, "reminder", period, ids)
        chosen = [o for o in chosen if o.member.external_id in prompts and o.member.external_id not in reminded]
        if not chosen:
            return 0
        since = min(prompts[o.member.external_id].created_at for o in chosen)
        done = await rhythm.checked_in_since(session, schedule.workspace_id, [o.member.id for o in chosen], since)  # type: ignore[misc]
        fanout = await send_once(session, schedule.workspace_id, "reminder", period,
                                 [o for o in chosen if o.member.id not in done],
                                 lambda o: reminder_message(o.member, o.krs), now)  # fmt: skip
        return fanout.new


# -- grading, in a cycle's last days -----------------------------------------------------------


async def run_grading(
    db: Database, schedule: Schedule, fire: dt.datetime, *, timezone: str | None, now: dt.datetime
) -> int:
    """Queue one message per owner and cycle ending within :data:`GRADING_DAYS` of the owner's
    today, for those with key results of it left to grade and not away; how many were new."""
    today = _today(fire, schedule.timezone)
    first, last = today - dt.timedelta(days=1), today + dt.timedelta(days=GRADING_DAYS)  # a day's slack each way:
    async with db.write() as session:  # the owners' own todays are checked below
        found = await rhythm.graders(session, schedule.workspace_id, first, last, team_id=schedule.team_id)
        chosen: dict[int, list[Grader]] = {}
        for grader in found:
            zone = effective_zone(grader.member, schedule)
            local = _today(fire, zone)
            if timezone is not None and zone != timezone:
                continue
            if grader.member.is_away(local) or not grading_days(grader.cycle, local):
                continue
            chosen.setdefault(row_id(grader.cycle), []).append(grader)
        new = 0
        for cycle_id, graders in chosen.items():
            fanout = await send_once(session, schedule.workspace_id, "grading", f"c{cycle_id}", graders,
                                     lambda g: grading_message(g.member, g.cycle, g.krs), now)  # fmt: skip
            new += fanout.new
        return new


# -- digests -----------------------------------------------------------------------------------


def digest_period(schedule: Schedule, fire: dt.datetime) -> str:
    scope = f"t{schedule.team_id}" if schedule.team_id is not None else "all"
    return f"{period_key(fire, schedule.timezone)}:{scope}"


async def run_digest(db: Database, schedule: Schedule, fire: dt.datetime, *, now: dt.datetime) -> int:
    """Render the digest once for the period and queue it for the subscribed channel."""
    if not schedule.channel:
        return 0
    period = digest_period(schedule, fire)
    async with db.read(long=True) as session:
        if await outbox.existing(session, schedule.workspace_id, "digest", period, [schedule.channel]):
            return 0
        message = await scheduled_digest(session, schedule, now)
    if message is None:
        return 0
    async with db.write() as session:
        row = Outgoing("digest", schedule.channel, period, Envelope("channel", schedule.channel, message))
        return await enqueue(session, schedule.workspace_id, [row], now)


# -- running by hand (okrbot send) -------------------------------------------------------------

What = Literal["prompts", "reminders", "digests", "grading"]


async def matching_schedules(
    db: Database, what: What, *, team: str | None = None, workspace: str | None = None
) -> list[Schedule]:
    """The schedules ``okrbot send`` runs; a team with no check-in schedule gets the default one."""
    kind = "digest" if what == "digests" else "checkin"
    async with db.read() as session:
        spaces = await rhythm.workspaces(session, workspace)
        ids = {w.id for w in spaces}
        rows = [s for s in await rhythm.all_schedules(session) if s.what == kind and s.workspace_id in ids]
        if team is None:
            return rows
        teams = await rhythm.teams_keyed(session, team, ids)  # type: ignore[arg-type]
        chosen = [s for s in rows if s.team_id in {t.id for t in teams}]
        if kind == "checkin":
            have = {s.team_id for s in chosen}
            zone = {w.id: w.timezone for w in spaces}
            chosen += [
                Schedule(id=0, workspace_id=t.workspace_id, team_id=t.id, what="checkin", weekday=CHECKIN_DEFAULT[0],
                         time=CHECKIN_DEFAULT[1], timezone=zone[t.workspace_id], remind_after_hours=REMIND_DEFAULT)
                for t in teams if t.id not in have
            ]  # fmt: skip
        return chosen


async def send_now(db: Database, what: What, schedules: Iterable[Schedule], now: dt.datetime) -> int:
    """Run the current period now for every owner (any timezone); what was queued."""
    queued = 0
    for schedule in schedules:
        if what == "prompts":
            queued += await run_prompts(db, schedule, now, timezone=None, now=now)
        elif what == "reminders":
            queued += await run_reminders(db, schedule, now, timezone=None, now=now)
        elif what == "grading":
            queued += await run_grading(db, schedule, now, timezone=None, now=now)
        else:
            queued += await run_digest(db, schedule, now, now=now)
    return queued
