"""The weekly rhythm: when check-in prompts and digests go, nudges, and being away.

The ``schedule`` rows written here are the source of truth: the scheduler reads them (and
reloads when they change) to know when to prompt, remind and post digests.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

from bot.commands.checkin import reminder_message
from bot.context import Ctx, zone
from bot.errors import Forbidden, UserError
from bot.grammar import KEY, Arg, Date, Flag, Integer, Kind, Ref, Token, Word, command
from bot.messages import Block, Context, Fields, Header, Message, Span, Text, spans
from bot.outbox import Fanout, send_once
from bot.permissions import may_change_objective
from bot.scales import period_key, week_start
from bot.views import mention
from store.models import Member, Schedule, Team, row_id
from store.rhythm import Owner, checked_in_since, owners

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHECKIN_DEFAULT = (4, "10:00")  # Friday 10:00
DIGEST_DEFAULT = (0, "09:00")  # Monday 09:00
REMIND_DEFAULT = 24


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_zone(name: str) -> bool:
    return name in _zones()


def weekday_number(text: str) -> int | None:
    text = text.lower()
    for number, name in enumerate(WEEKDAYS):
        if text == name or (len(text) >= 3 and name.startswith(text)):
            return number
    return None


class Weekday(Kind):
    placeholder = "<weekday>"

    def looks_like(self, token: Token) -> bool:
        return not token.quoted and token.text.isalpha() and not is_zone(token.text)

    def convert(self, token: Token) -> int:
        number = weekday_number(token.text)
        if number is None:
            raise ValueError(f'The weekday must be a day like friday or fri, not "{token.shown}".')
        return number


class ClockTime(Kind):
    placeholder = "<HH:MM>"

    def looks_like(self, token: Token) -> bool:
        return token.text[:1].isdigit()

    def convert(self, token: Token) -> str:
        match = re.fullmatch(r"([01]?\d|2[0-3])[:.h]([0-5]\d)", token.text)
        if not match:
            raise ValueError(f'The time must be a 24-hour time like 09:30, not "{token.shown}".')
        return f"{int(match.group(1)):02d}:{match.group(2)}"


class TimeZone(Kind):
    placeholder = "<IANA tz>"

    def convert(self, token: Token) -> str:
        if not is_zone(token.text):
            raise ValueError(
                f'The timezone must be an IANA name like Europe/Paris or America/New_York, not "{token.shown}".'
            )
        return token.text


class All(Word):
    def looks_like(self, token: Token) -> bool:
        return token.text.lower() == "all"


ALL = All("all", r"all", 'Expected "all" or "team <key>", not "{}".')
WHEN = (
    Arg("weekday", Weekday(), required=False),
    Arg("time", ClockTime(), required=False),
    Arg("timezone", TimeZone(), required=False),
)


def when_text(schedule: Schedule) -> str:
    return f"{WEEKDAYS[schedule.weekday].title()} {schedule.time} {schedule.timezone}"


async def default_timezone(ctx: Ctx, team: Team | None) -> str:
    """The team lead's timezone, else the workspace's."""
    lead = await ctx.repo.member(team.lead_id) if team is not None and team.lead_id else None
    name = (lead.timezone if lead else None) or ctx.workspace.timezone or "UTC"
    return name if is_zone(name) else "UTC"


def _is_lead_or_admin(ctx: Ctx, team: Team | None) -> bool:
    return ctx.actor.is_admin or (team is not None and team.lead_id == ctx.actor.id)


def require_schedule_rights(ctx: Ctx, team: Team | None, action: str) -> None:
    if not _is_lead_or_admin(ctx, team):
        who = f"the lead of team {team.key} or a workspace admin" if team else "a workspace admin"
        raise Forbidden(f"Only {who} may {action}.")


@command(
    "schedule checkin team",
    "<key> [<weekday> <HH:MM> [<IANA tz>]] [--remind-after <hours>]",
    "When a team's weekly check-in prompt goes (Friday 10:00 unless told; a reminder 24 h later).",
    Arg("key", KEY),
    *WHEN,
    writes=True,
    remind_after=Flag(Integer("<hours>", "reminder delay in hours", 0, 168)),
)
async def schedule_checkin(
    ctx: Ctx,
    key: str,
    weekday: int | None = None,
    time: str | None = None,
    timezone: str | None = None,
    remind_after: int | None = None,
) -> Message:
    team = await ctx.team(key)
    require_schedule_rights(ctx, team, f"change the check-in schedule of team {key}")
    row = next((s for s in await ctx.repo.schedules() if s.what == "checkin" and s.team_id == team.id), None)
    if row is None:
        row = Schedule(workspace_id=ctx.repo.workspace_id, team_id=team.id, what="checkin", weekday=CHECKIN_DEFAULT[0],
                       time=CHECKIN_DEFAULT[1], timezone=await default_timezone(ctx, team),
                       remind_after_hours=REMIND_DEFAULT)  # fmt: skip
    row.weekday = row.weekday if weekday is None else weekday
    row.time = time or row.time
    row.timezone = timezone or row.timezone
    if remind_after is not None:
        row.remind_after_hours = remind_after or None
    await ctx.repo.save(row)
    reminder = f"a reminder {row.remind_after_hours} h later" if row.remind_after_hours else "no reminder"
    return Message.of(
        Text((f"Team {key}'s check-in prompt goes every {when_text(row)}, {reminder}.",)),
        Context(("Each owner is prompted at that time in their own timezone when okrbot knows it.",)),
    )


@command("schedule list", "", "The check-in and digest schedules of this workspace.")
async def schedule_list(ctx: Ctx) -> Message:
    rows = await ctx.repo.schedules()
    if not rows:
        return Message.of(
            Text(("No schedules yet: schedule checkin team <key> sets one; subscribe digest in a channel adds one.",))
        )
    teams = {t.id: t for t in await ctx.repo.teams()}
    items: list[tuple[str, tuple[Span, ...]]] = []
    for row in rows:
        scope = f"team {teams[row.team_id].key}" if row.team_id in teams else "all teams"
        if row.what == "checkin":
            reminder = f", reminder after {row.remind_after_hours} h" if row.remind_after_hours else ", no reminder"
            items.append((f"Check-in · {scope}", (f"{when_text(row)}{reminder}",)))
        else:
            items.append((f"Digest · {scope}", (f"{when_text(row)} in channel {row.channel}",)))
    return Message.of(Header(("Schedules",)), Fields(tuple(items)))


async def _digest_scope(ctx: Ctx, everything: bool, key: str | None) -> Team | None:
    if key is not None:
        return await ctx.team(key)
    if everything:
        return None
    mine = [t for t in await ctx.repo.teams() if ctx.actor.id in await ctx.repo.team_member_ids(row_id(t))]
    if len(mine) > 1:
        keys = ", ".join(t.key for t in mine)
        raise UserError(f"You are in teams {keys}; say which with team <key>, or all for the organisation.")
    return mine[0] if mine else None


def _channel(ctx: Ctx, verb: str) -> str:
    if not ctx.command.channel:
        raise UserError(f"Type {verb} digest in the channel the digest should go to.")
    return ctx.command.channel


async def _subscribe(
    ctx: Ctx, team: Team | None, weekday: int | None, time: str | None, timezone: str | None
) -> Message:
    channel = _channel(ctx, "subscribe")
    scope = f"team {team.key}" if team else "the organisation"
    require_schedule_rights(ctx, team, f"subscribe a channel to the digest of {scope}")
    team_id = team.id if team else None
    row = next(
        (s for s in await ctx.repo.schedules() if s.what == "digest" and s.team_id == team_id and s.channel == channel),
        None,
    )
    if row is None:
        row = Schedule(workspace_id=ctx.repo.workspace_id, team_id=team_id, what="digest", weekday=DIGEST_DEFAULT[0],
                       time=DIGEST_DEFAULT[1], timezone=await default_timezone(ctx, team), channel=channel)  # fmt: skip
    row.weekday = row.weekday if weekday is None else weekday
    row.time = time or row.time
    row.timezone = timezone or row.timezone
    await ctx.repo.save(row)
    if team is not None and not team.digest_channel:
        team.digest_channel = channel
        await ctx.repo.save(team)
    return Message.of(Text((f"This channel gets the digest of {scope} every {when_text(row)}.",)))


@command(
    "subscribe digest",
    "[team <key> | all] [<weekday> <HH:MM> [<IANA tz>]]",
    "Post a digest to this channel every week (Monday 09:00 unless told).",
    Arg("all", ALL, required=False),
    *WHEN,
    writes=True,
)
async def subscribe_digest(
    ctx: Ctx, all: str | None = None, weekday: int | None = None, time: str | None = None, timezone: str | None = None
) -> Message:
    return await _subscribe(ctx, await _digest_scope(ctx, all is not None, None), weekday, time, timezone)


@command(
    "subscribe digest team",
    "<key> [<weekday> <HH:MM> [<IANA tz>]]",
    "Post a team's digest to this channel every week.",
    Arg("key", KEY),
    *WHEN,
    writes=True,
)
async def subscribe_digest_team(
    ctx: Ctx, key: str, weekday: int | None = None, time: str | None = None, timezone: str | None = None
) -> Message:
    return await _subscribe(ctx, await ctx.team(key), weekday, time, timezone)


async def _unsubscribe(ctx: Ctx, team: Team | None) -> Message:
    channel = _channel(ctx, "unsubscribe")
    scope = f"team {team.key}" if team else "the organisation"
    require_schedule_rights(ctx, team, f"unsubscribe a channel from the digest of {scope}")
    team_id = team.id if team else None
    rows = [
        s for s in await ctx.repo.schedules() if s.what == "digest" and s.team_id == team_id and s.channel == channel
    ]
    if not rows:
        raise UserError(f"This channel gets no weekly digest of {scope}; `schedule list` shows the schedules.")
    for row in rows:
        await ctx.repo.delete(row)
    if team is not None and team.digest_channel == channel:
        team.digest_channel = None
        await ctx.repo.save(team)
    return Message.of(Text((f"This channel no longer gets the weekly digest of {scope}.",)))


@command(
    "unsubscribe digest", "[team <key> | all]", "Stop this channel's weekly digest.", Arg("all", ALL, required=False),
    writes=True,
)  # fmt: skip
async def unsubscribe_digest(ctx: Ctx, all: str | None = None) -> Message:
    return await _unsubscribe(ctx, await _digest_scope(ctx, all is not None, None))


@command(
    "unsubscribe digest team", "<key>", "Stop this channel's weekly digest of a team.", Arg("key", KEY), writes=True
)
async def unsubscribe_digest_team(ctx: Ctx, key: str) -> Message:
    return await _unsubscribe(ctx, await ctx.team(key))


# -- nudge -------------------------------------------------------------------------------------


async def period_timezone(ctx: Ctx, team_id: int | None) -> str:
    """The timezone a team's weeks are counted in: its check-in schedule's, else the default."""
    for row in await ctx.repo.schedules():
        if row.what == "checkin" and row.team_id == team_id:
            return row.timezone
    team = await ctx.repo.team_by_id(team_id) if team_id is not None else None
    return await default_timezone(ctx, team)


async def _nudge(ctx: Ctx, team_id: int | None, kr_ids: list[int], what: str) -> Message:
    session, workspace_id = ctx.repo.session, ctx.repo.workspace_id
    tz = await period_timezone(ctx, team_id)
    found = await owners(session, workspace_id, ctx.today, team_id=team_id, kr_ids=kr_ids)
    if not found:
        raise UserError(f"{what} has no owners of active key results in the open cycle to nudge.")
    done = await checked_in_since(session, workspace_id, [row_id(o.member) for o in found], week_start(ctx.now, tz))
    due = [o for o in found if o.member.id not in done]
    away = [o for o in due if o.member.is_away(ctx.now.astimezone(zone(o.member.timezone or tz)).date())]
    waiting = [o for o in due if o not in away]
    fanout = await send_once(session, workspace_id, "nudge", period_key(ctx.now, tz), waiting,
                             lambda o: reminder_message(o.member, o.krs, by=ctx.actor), ctx.now)  # fmt: skip
    return Message.of(*_nudge_report(fanout, len(done), [o.member for o in away]))


def _people(members: list[Member]) -> tuple[Span, ...]:
    return spans(*[spans(", " if i else "", mention(m)) for i, m in enumerate(members)])


def _nudge_report(fanout: Fanout[Owner], done: int, away: list[Member]) -> list[Block]:
    sent = [o.member for o in fanout.queued]
    head = (
        Text(spans(f"Nudged {len(sent)} {'owner who has' if len(sent) == 1 else 'owners who have'} not checked in this week: ",
                   _people(sent), "."))
        if sent else Text(("Nobody new to nudge this week.",))
    )  # fmt: skip
    blocks: list[Block] = [head]
    if fanout.repeated:
        repeated = [o.member for o in fanout.repeated]
        blocks.append(Context(spans("Already nudged this week (once per week is enough): ", _people(repeated), ".")))
    if away:
        blocks.append(Context(spans("Away: ", _people(away), ".")))
    blocks.append(Context((f"{done} checked in.",)))
    return blocks


@command("nudge", "KR-n | nudge team <key>", "Remind the owners who have not checked in this week, now.",
         Arg("kr", Ref("KR")), writes=True)  # fmt: skip
async def nudge_kr(ctx: Ctx, kr: tuple[str, int]) -> Message:
    row = await ctx.key_result(kr[1])
    objective = await ctx.objective_by_id(row.objective_id)
    if not await may_change_objective(ctx, objective):
        raise Forbidden(
            f"Only the owner of O-{objective.number}, the team lead or a workspace admin may nudge KR-{kr[1]}."
        )
    return await _nudge(ctx, objective.team_id, [row_id(row)], f"KR-{kr[1]}")


@command(
    "nudge team",
    "<key>",
    "Remind a team's owners who have not checked in this week, now.",
    Arg("key", KEY),
    writes=True,
)
async def nudge_team(ctx: Ctx, key: str) -> Message:
    team = await ctx.team(key)
    require_schedule_rights(ctx, team, f"nudge team {key}")
    return await _nudge(ctx, team.id, [], f"Team {key}")


# -- away --------------------------------------------------------------------------------------


@command("away until", "<YYYY-MM-DD>", "Pause your prompts and reminders until that day (holidays).",
         Arg("day", Date()), writes=True)  # fmt: skip
async def away_until(ctx: Ctx, day: dt.date) -> Message:
    if day < ctx.today:
        raise UserError(
            f"{day} is in the past; give the last day you are away, like away until {ctx.today + dt.timedelta(days=7)}."
        )
    ctx.actor.away_until = day
    await ctx.repo.save(ctx.actor)
    return Message.of(
        Text((f"You are away until {day}: no check-in prompts or reminders until then.",)),
        Context(("Digests show your key results as away rather than missing. away off ends it early.",)),
    )


@command("away off", "", "You are back: prompts and reminders again.", writes=True)
async def away_off(ctx: Ctx) -> Message:
    was = ctx.actor.away_until
    ctx.actor.away_until = None
    await ctx.repo.save(ctx.actor)
    if was is None or was < ctx.today:
        return Message.of(Text(("You were not away; prompts and reminders go to you as usual.",)))
    return Message.of(Text(("Welcome back: your check-in prompts and reminders start again.",)))
