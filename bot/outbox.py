"""The delivery outbox as the core writes it: messages to send later, once per period.

A scheduled or asked-for message (a prompt, reminder, digest or nudge) becomes a row of the
outbox (:mod:`store.outbox`), unique per workspace, kind, recipient and period: whoever writes
a period's row first wins, and every later attempt (another instance firing the same
schedule, a second ``nudge``) inserts nothing. The message is stored rendered (neutral blocks
as JSON), so a dispatcher sends exactly what the period's run decided, however much later.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from bot.messages import Message, decode, encode
from store import outbox
from store.db import Session
from store.models import Member

DeliveryKind = Literal["prompt", "reminder", "digest", "nudge", "grading"]


class Recipient(Protocol):
    """Whom a direct message of a period is for (store.rhythm's Owner, Grader)."""

    @property
    def member(self) -> Member: ...


R = TypeVar("R", bound=Recipient)


@dataclass(frozen=True)
class Envelope:
    """What a delivery row carries: where it goes and the message, rendered."""

    to: Literal["direct", "channel"]
    target: str  # the member's or the channel's external id
    message: Message

    def dumps(self) -> str:
        return json.dumps({"to": self.to, "target": self.target, "message": encode(self.message)})

    @classmethod
    def loads(cls, text: str) -> Envelope:
        data = json.loads(text)
        return cls(data["to"], data["target"], decode(data["message"]))


@dataclass(frozen=True)
class Outgoing:
    kind: DeliveryKind
    recipient: str
    period_key: str
    envelope: Envelope


async def enqueue(session: Session, workspace_id: int, rows: Sequence[Outgoing], now: dt.datetime) -> int:
    """Write the rows that do not exist yet; how many were new."""
    queued = [outbox.Queued(r.kind, r.recipient, r.period_key, r.envelope.dumps()) for r in rows]
    return await outbox.enqueue(session, workspace_id, queued, now)


@dataclass(frozen=True)
class Fanout(Generic[R]):
    """What :func:`send_once` did: whom it queued a message for, who had one this period."""

    queued: list[R]
    repeated: list[R]
    new: int  # rows written: fewer than ``queued`` when another instance wrote some meanwhile


async def send_once(
    session: Session,
    workspace_id: int,
    kind: DeliveryKind,
    period: str,
    owners: Sequence[R],
    message: Callable[[R], Message],
    now: dt.datetime,
) -> Fanout[R]:
    """Queue a direct message for each owner who has none of this kind this period yet: the one
    way prompts, reminders and nudges reach the outbox."""
    ids = [o.member.external_id for o in owners]
    already = await outbox.existing(session, workspace_id, kind, period, ids)
    fresh = [o for o in owners if o.member.external_id not in already]
    rows = [
        Outgoing(kind, o.member.external_id, period, Envelope("direct", o.member.external_id, message(o)))
        for o in fresh
    ]
    new = await enqueue(session, workspace_id, rows, now)
    return Fanout(fresh, [o for o in owners if o.member.external_id in already], new)
