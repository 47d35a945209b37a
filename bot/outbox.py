"""The delivery outbox as the core writes it: scheduled and asked-for messages become rows.

A message to send later is a :class:`~store.models.Delivery` row, unique per (workspace, kind,
recipient, period key): whoever writes a period's prompt, reminder, digest or nudge first wins,
and every later attempt — another instance firing the same schedule, a second ``nudge`` —
inserts nothing. The message itself is stored rendered (neutral blocks as JSON), so a
dispatcher sends exactly what the period's run decided, however much later it gets to it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import messages as m
from bot.messages import TRANSIENT, Context, Header, Message, Text, spans
from bot.views import kr_line, mention
from store.models import CheckIn, Cycle, Delivery, KeyResult, Member, Objective

Kind = Literal["prompt", "reminder", "digest", "nudge"]
_TYPES = {
    cls.__name__: cls
    for cls in (m.UserText, m.Mention, m.Header, m.Text, m.Fields, m.Progress, m.Context, m.Divider, m.Button,
                m.Actions, m.FormField, m.FormGroup, m.Form, m.Image, m.File, m.Message)
}  # fmt: skip
_CHUNK = 500  # rows per INSERT: far below SQLite's 32,766 bound variables


# -- periods -------------------------------------------------------------------------------------


def period_key(instant: dt.datetime, timezone: str) -> str:
    """The ISO week holding ``instant`` where ``timezone`` is, e.g. ``2026-W47``."""
    year, week, _ = instant.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(instant: dt.datetime, timezone: str) -> dt.datetime:
    """Monday 00:00 of the ISO week holding ``instant`` in ``timezone``, as a UTC instant."""
    local = instant.astimezone(ZoneInfo(timezone))
    monday = local.date() - dt.timedelta(days=local.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)


def is_away(member: Member, today: dt.date) -> bool:
    return member.away_until is not None and member.away_until >= today


# -- messages as stored text -------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.metadata.get(TRANSIENT)
        }
        return {"_": type(value).__name__, **fields}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, bytes):
        return {"_b": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(item) for item in value)
    if isinstance(value, dict):
        if "_b" in value:
            return base64.b64decode(value["_b"])
        cls = _TYPES[value["_"]]
        return cls(**{k: _decode(v) for k, v in value.items() if k != "_"})
    return value


@dataclass(frozen=True)
class Envelope:
    """What a delivery row carries: where it goes and the message, rendered."""

    to: Literal["direct", "channel"]
    target: str  # the member's or the channel's external id
    message: Message

    def dumps(self) -> str:
        return json.dumps({"to": self.to, "target": self.target, "message": _encode(self.message)})

    @classmethod
    def loads(cls, text: str) -> Envelope:
        data = json.loads(text)
        return cls(data["to"], data["target"], _decode(data["message"]))


@dataclass(frozen=True)
class Outgoing:
    kind: Kind
    recipient: str
    period_key: str
    envelope: Envelope


async def enqueue(session: AsyncSession, workspace_id: int, rows: Sequence[Outgoing], now: dt.datetime) -> int:
    """Insert the rows that do not exist yet (INSERT … ON CONFLICT DO NOTHING); how many were new."""
    if not rows:
        return 0
    connection = await session.connection()
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    created = 0
    for start in range(0, len(rows), _CHUNK):
        values = [
            {"workspace_id": workspace_id, "kind": r.kind, "recipient": r.recipient[:128],
             "period_key": r.period_key[:40], "payload": r.envelope.dumps(), "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for r in rows[start : start + _CHUNK]
        ]  # fmt: skip
        statement = dialect_insert(Delivery).values(values)
        statement = statement.on_conflict_do_nothing(index_elements=["workspace_id", "kind", "recipient", "period_key"])
        result = await connection.execute(statement)
        created += max(result.rowcount or 0, 0)
    return created


async def existing(
    session: AsyncSession, workspace_id: int, kind: Kind, period: str, recipients: Iterable[str] | None = None
) -> dict[str, Delivery]:
    """The rows of one kind and period, by recipient."""
    query = select(Delivery).where(
        Delivery.workspace_id == workspace_id, Delivery.kind == kind, Delivery.period_key == period
    )
    if recipients is not None:
        query = query.where(col(Delivery.recipient).in_(list(recipients)))
    return {row.recipient: row for row in (await session.exec(query)).all()}


async def checked_in_since(
    session: AsyncSession, workspace_id: int, owner_ids: Iterable[int], since: dt.datetime
) -> set[int]:
    """Owners with a check-in on one of their key results at or after ``since``."""
    ids = list(owner_ids)
    if not ids:
        return set()
    query = (
        select(KeyResult.owner_id)
        .join(CheckIn, col(CheckIn.key_result_id) == KeyResult.id)
        .where(
            KeyResult.workspace_id == workspace_id,
            CheckIn.workspace_id == workspace_id,
            col(KeyResult.owner_id).in_(ids),
            CheckIn.created_at >= since,
        )
        .distinct()
    )
    return set((await session.exec(query)).all())


@dataclass
class Owner:
    member: Member
    krs: list[KeyResult]  # every active key result they own in the open cycles
    in_scope: bool = False  # owns a key result of the team asked about


async def owners(
    session: AsyncSession, workspace_id: int, today: dt.date, *, team_id: int | None = None, kr_ids: Iterable[int] = ()
) -> list[Owner]:
    """The owners of the team's (or the given key results', or every) active key results in the open
    cycles holding ``today``, each with all their active key results: one prompt covers them all."""
    query = (
        select(KeyResult, Objective.team_id, Member)
        .join(Objective, col(Objective.id) == KeyResult.objective_id)
        .join(Cycle, col(Cycle.id) == Objective.cycle_id)
        .join(Member, col(Member.id) == KeyResult.owner_id)
        .where(
            KeyResult.workspace_id == workspace_id,
            col(KeyResult.archived).is_(False),
            col(Objective.archived).is_(False),
            col(Cycle.closed).is_(False),
            Cycle.starts_on <= today,
            Cycle.ends_on >= today,
        )
        .order_by(KeyResult.number)
    )
    wanted = set(kr_ids)
    found: dict[int, Owner] = {}
    for kr, kr_team, member in (await session.exec(query)).all():
        owner = found.setdefault(member.id, Owner(member, []))
        owner.krs.append(kr)
        if (wanted and kr.id in wanted) or (not wanted and (team_id is None or kr_team == team_id)):
            owner.in_scope = True
    return [o for o in found.values() if o.in_scope]


# -- the messages ------------------------------------------------------------------------------

HOW = "Answer with the button, or type checkin KR-n <value> [<confidence 0-10>] [note]."


def prompt_message(member: Member, krs: list[KeyResult]) -> Message:
    """The weekly prompt: the person's key results as they stand, and the form for all of them."""
    from bot.commands.checkin import checkin_form  # the commands package imports this module

    return Message.of(
        Header(("Weekly check-in",)),
        Text(spans("Hi ", mention(member), ", how did your key results move this week?")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        Context((HOW,)),
    )


def reminder_message(member: Member, krs: list[KeyResult], *, by: Member | None = None) -> Message:
    """A reminder (or a nudge ``by`` someone) to those who have not checked in this week."""
    from bot.commands.checkin import checkin_form

    who = spans(mention(by), " asks: ") if by is not None else ()
    return Message.of(
        Text(spans(who, "Reminder, ", mention(member), ": you have not checked in this week yet.")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        Context((HOW,)),
    )
