"""``forget @person``: erase what identifies someone who left, keep what the team did.

Their name, platform id and timezone go, and with them their team memberships, the text of their
notes, the ways to message them (conversation references), the messages queued for them and the
API tokens they made. Their check-ins' numbers stay (values, confidence, dates) under a stable
pseudonym, "former member 3", which is also what the audit log shows; what they owned passes to
the team's lead, or to the admin who forgot them where they led the team themselves. No
prompt goes to them again: they own nothing, and okrbot no longer knows how to reach them.
"""

from __future__ import annotations

from bot.audit import record
from bot.context import Ctx
from bot.errors import NotFound, UserError
from bot.grammar import Arg, MemberRef, Person, command
from bot.messages import Context, Message, Text
from bot.permissions import require_admin
from store.models import row_id

FORGOTTEN = "forgotten-"


@command(
    "forget",
    "@person",
    "Erase a person who left: name, id, memberships, notes' text; their numbers stay, under a pseudonym. Admins.",
    Arg("who", MemberRef()),
    writes=True,
)
async def forget(ctx: Ctx, who: Person) -> Message:
    require_admin(ctx, "forget a person")
    member = await ctx.repo.member_by_external(who.external_id)
    if member is None or member.external_id.startswith(FORGOTTEN):
        raise NotFound(f"There is nobody {who.name or who.external_id} in this workspace to forget.")
    heir = ctx.actor
    if row_id(member) == row_id(ctx.actor):
        others = [m for m in await ctx.repo.members() if m.is_admin and m.id != member.id]
        if not others:
            raise UserError(
                "You are this workspace's last admin: make someone else an admin before you forget yourself."
            )
        heir = others[0]
    pseudonym = f"former member {row_id(member)}"
    await ctx.repo.forget(member, pseudonym=pseudonym, heir_id=row_id(heir))
    await record(ctx, "forget", pseudonym)
    return Message.of(
        Text((f"Forgotten: they are {pseudonym} now, their check-ins' numbers kept and their notes erased.",)),
        Context(
            ("What they owned passed to each team's lead (or to you where they led it); nothing goes to them again.",)
        ),
    )
