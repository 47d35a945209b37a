"""The due runs: what a firing of a schedule writes to the outbox.

Each run is idempotent: it writes one delivery row per recipient and period with
INSERT … ON CONFLICT DO NOTHING (:func:`bot.outbox.enqueue`), so the same run fired by three
instances, or fired again after a restart, creates every message once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alignment import organisation
from bot.command import Actor, Command, WorkspaceRef
from bot.commands.schedule import CHECKIN_DEFAULT, REMIND_DEFAULT, is_zone
from bot.context import Ctx
from bot.digest import team_digest
from bot.messages import Message
from bot.outbox import (
    Envelope,
    Outgoing,
    checked_in_since,
    enqueue,
    existing,
    is_away,
    owners,
    period_key,
    prompt_message,
    reminder_message,
)
from scheduler.times import Rhythm, last_fire, shifted
from store.db import Database
from store.models import Cycle, KeyResult, Member, Objective, Schedule, Team, Workspace
from store.repo import Repo

log = logging.getLogger(__name__)
JobKind = Literal["prompt", "reminder", "digest"]


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


def effective_zone(member: Member, schedule: Schedule) -> str:
    """The recipient's own timezone when okrbot knows a valid one, else the schedule's."""
    return member.timezone if member.timezone and is_zone(member.timezone) else schedule.timezone


def _today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


async def all_schedules(session: AsyncSession) -> list[Schedule]:
    return list((await session.exec(select(Schedule).order_by(Schedule.id))).all())


async def plan(db: Database, now: dt.datetime) -> list[Job]:
    """Every cron job the schedules ask for: check-ins fire once per timezone their owners live in."""
    async with db.read() as session:
        rows = await all_schedules(session)
        zones = await _owner_zones(session, _today(now, "UTC"))
    jobs: list[Job] = []
    for row in rows:
        rhythm = Rhythm(row.weekday, row.time)
        if row.what == "digest":
            jobs.append(Job("digest", row.id, rhythm, row.timezone))  # type: ignore[arg-type]
            continue
        names = {z if z and is_zone(z) else row.timezone for z in zones.get((row.workspace_id, row.team_id), set())}
        for name in sorted(names | {row.timezone}):
            jobs.append(Job("prompt", row.id, rhythm, name))  # type: ignore[arg-type]
            if row.remind_after_hours:
                jobs.append(Job("reminder", row.id, shifted(rhythm, row.remind_after_hours), name))  # type: ignore[arg-type]
    return jobs


async def _owner_zones(session: AsyncSession, today: dt.date) -> dict[tuple[int, int], set[str | None]]:
    query = (
        select(Objective.workspace_id, Objective.team_id, Member.timezone)
        .join(KeyResult, col(KeyResult.objective_id) == Objective.id)
        .join(Cycle, col(Cycle.id) == Objective.cycle_id)
        .join(Member, col(Member.id) == KeyResult.owner_id)
        .where(col(KeyResult.archived).is_(False), col(Cycle.closed).is_(False), Cycle.ends_on >= today)
        .distinct()
    )
    zones: dict[tuple[int, int], set[str | None]] = {}
    for workspace_id, team_id, timezone in (await session.exec(query)).all():
        zones.setdefault((workspace_id, team_id), set()).add(timezone)
    return zones


# -- prompts and reminders ---------------------------------------------------------------------


async def _recipients(session: AsyncSession, schedule: Schedule, at: dt.datetime, timezone: str | None):  # type: ignore[no-untyped-def]
    """The owners this run is for: in ``timezone`` (all when None), and not away there today."""
    found = await owners(session, schedule.workspace_id, _today(at, schedule.timezone), team_id=schedule.team_id)
    chosen = []
    for owner in found:
        zone = effective_zone(owner.member, schedule)
        if timezone is not None and zone != timezone:
            continue
        if is_away(owner.member, _today(at, zone)):
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
        done = await existing(session, schedule.workspace_id, "prompt", period, [o.member.external_id for o in chosen])
        rows = [
            Outgoing("prompt", o.member.external_id, period,
                     Envelope("direct", o.member.external_id, prompt_message(o.member, o.krs)))
            for o in chosen if o.member.external_id not in done
        ]  # fmt: skip
        return await enqueue(session, schedule.workspace_id, rows, now)


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
        prompts = await existing(session, schedule.workspace_id, "prompt", period, ids)
        reminded = await existing(session, schedule.workspace_id, "reminder", period, ids)
        chosen = [o for o in chosen if o.member.external_id in prompts and o.member.external_id not in reminded]
        if not chosen:
            return 0
        since = min(prompts[o.member.external_id].created_at for o in chosen)
        done = await checked_in_since(session, schedule.workspace_id, [o.member.id for o in chosen], since)  # type: ignore[misc]
        rows = [
            Outgoing("reminder", o.member.external_id, period,
                     Envelope("direct", o.member.external_id, reminder_message(o.member, o.krs)))
            for o in chosen if o.member.id not in done
        ]  # fmt: skip
        return await enqueue(session, schedule.workspace_id, rows, now)


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
        if await existing(session, schedule.workspace_id, "digest", period, [schedule.channel]):
            return 0
        message = await _render_digest(session, schedule, now)
    if message is None:
        return 0
    async with db.write() as session:
        row = Outgoing("digest", schedule.channel, period, Envelope("channel", schedule.channel, message))
        return await enqueue(session, schedule.workspace_id, [row], now)


async def _render_digest(session: AsyncSession, schedule: Schedule, now: dt.datetime) -> Message | None:
    workspace = await session.get(Workspace, schedule.workspace_id)
    if workspace is None:
        return None
    repo = Repo(session, schedule.workspace_id)
    me = Member(
        workspace_id=schedule.workspace_id, external_id="okrbot", display_name="okrbot", timezone=schedule.timezone
    )
    command = Command(WorkspaceRef(workspace.platform, workspace.external_id, workspace.name),  # type: ignore[arg-type]
                      Actor("okrbot", "okrbot"), "digest", channel=schedule.channel or "", source="scheduler")  # fmt: skip
    ctx = Ctx(repo=repo, workspace=workspace, actor=me, command=command, now=now)
    team = await repo.team_by_id(schedule.team_id) if schedule.team_id is not None else None
    if schedule.team_id is not None and team is None:
        return None
    message = await (team_digest(ctx, team) if team is not None else organisation(ctx))
    if message.is_error:
        log.info("no digest for schedule %s: %s", schedule.id, message.text[:200])
        return None
    return Message(message.blocks, visibility="channel")


# -- running by hand (okrbot send) -------------------------------------------------------------

What = Literal["prompts", "reminders", "digests"]


async def matching_schedules(
    db: Database, what: What, *, team: str | None = None, workspace: str | None = None
) -> list[Schedule]:
    """The schedules ``okrbot send`` runs; a team with no check-in schedule gets the default one."""
    kind = "digest" if what == "digests" else "checkin"
    async with db.read() as session:
        spaces = list((await session.exec(select(Workspace))).all())
        if workspace is not None:
            spaces = [w for w in spaces if workspace in (w.external_id, str(w.id))]
        ids = {w.id for w in spaces}
        rows = [s for s in await all_schedules(session) if s.what == kind and s.workspace_id in ids]
        if team is None:
            return rows
        teams = list((await session.exec(select(Team).where(Team.key == team, col(Team.workspace_id).in_(ids)))).all())
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
        else:
            queued += await run_digest(db, schedule, now, now=now)
    return queued
