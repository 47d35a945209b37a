"""The audit log: what admins did, and every write that came through the CLI or the HTTP API.

An entry is written in the same transaction as what it records, so a refused command leaves no
entry and a recorded one always happened. It names the person by member id (a forgotten person's
pseudonym is what it shows), the command, what it was on (refs, keys, names: never a note or a
title) and the surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.command import Command
from bot.context import Ctx
from bot.grammar import Date, Ref, Spec, Word
from store.models import row_id

#: Commands recorded from every surface; any other write is recorded when it came from the CLI or the API.
ADMIN_ACTIONS = frozenset(
    {
        ("cycle", "close"), ("token", "add"), ("token", "revoke"), ("archive",),
        ("schedule", "checkin"), ("schedule", "checkin", "team"),
        ("subscribe", "digest"), ("subscribe", "digest", "team"),
        ("unsubscribe", "digest"), ("unsubscribe", "digest", "team"),
    }
)  # fmt: skip
_TARGET = 200


def from_outside(command: Command) -> bool:
    """The command came from the CLI or the HTTP API, not from a person in a chat."""
    return command.source == "console" or command.source.startswith("api:")


#: Commands that write their own entry (forget names the pseudonym, never the person).
_OWN_ENTRY = frozenset({("forget",)})


def audited(spec: Spec, command: Command) -> bool:
    return spec.words not in _OWN_ENTRY and (spec.words in ADMIN_ACTIONS or from_outside(command))


def target_of(spec: Spec, values: Mapping[str, Any]) -> str:
    """What a command was on, from its arguments that name things (refs, keys, dates)."""
    kinds = {arg.name: arg.kind for arg in spec.args} | {name: flag.kind for name, flag in spec.flags.items()}
    found = []
    for name, kind in kinds.items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(kind, Ref):
            found.append(f"{value[0]}-{value[1]}")
        elif isinstance(kind, Word | Date):
            found.append(str(value))
    return " ".join(found)[:_TARGET]


async def record(ctx: Ctx, action: str, target: str = "") -> None:
    """Add an entry to the audit log, in the transaction of what it records."""
    await ctx.repo.audit(
        member_id=row_id(ctx.actor), action=action[:40], target=target[:_TARGET], surface=ctx.command.source[:40],
        at=ctx.now,
    )  # fmt: skip
