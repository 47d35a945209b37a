"""``audit [--since YYYY-MM-DD]``: the latest entries of the audit log (bot/audit.py), for admins."""

from __future__ import annotations

import datetime as dt

from bot.context import Ctx, zone
from bot.grammar import Date, Flag, command
from bot.messages import Context, Fields, Header, Message, Text, spans
from bot.permissions import require_admin
from bot.views import mention
from store.models import as_utc

SHOWN = 50


@command(
    "audit",
    "[--since <YYYY-MM-DD>]",
    f"The latest {SHOWN} admin actions and CLI or API writes: who, what, on what, when, from where. Admins.",
    since=Flag(Date("<YYYY-MM-DD>", "date")),
)
async def audit(ctx: Ctx, since: dt.date | None = None) -> Message:
    require_admin(ctx, "read the audit log")
    tz = zone(ctx.actor.timezone or ctx.workspace.timezone)
    start = dt.datetime.combine(since, dt.time(), tz) if since else None
    entries = await ctx.repo.audit_entries(since=start, limit=SHOWN)
    if not entries:
        return Message.of(Text(("Nothing in the audit log" + (f" since {since}." if since else " yet."),)))
    people = {m.id: m for m in await ctx.repo.members(list({e.member_id for e in entries if e.member_id}))}
    rows = []
    for entry in entries:
        who = people.get(entry.member_id)
        when = f"{as_utc(entry.created_at).astimezone(tz):%Y-%m-%d %H:%M}"
        what = " ".join(w for w in (entry.action, entry.target) if w)
        rows.append((when, spans(mention(who) if who else "?", f" · {what} · {entry.surface}")))
    return Message.of(
        Header(("Audit log",)),
        Fields(tuple(rows)),
        Context((f"The latest {len(entries)}, newest first; `audit --since YYYY-MM-DD` goes back further.",)),
    )
