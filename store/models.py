"""The tables of okrbot: workspaces, their people, teams, value chain, cycles, OKRs, check-ins and deliveries.

Every row that holds customer data carries ``workspace_id``; the queries in
:mod:`store.repo` never read a row without filtering on it.  Timestamps are aware, in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import MetaData, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(instant: dt.datetime) -> dt.datetime:
    """A stored time as an aware one: SQLite hands datetimes back without their zone, and okrbot
    stores them in UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def row_id(row: _Stored) -> int:
    """The id of a row read from the database or flushed to it: ``id`` is None only before that."""
    assert row.id is not None, f"{type(row).__name__} has no id: it was never flushed"
    return row.id


class Workspace(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)  # slack | teams | local
    external_id: str = Field(max_length=128)  # Slack team id, Teams tenant id, local name
    name: str = Field(default="", max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    # Numbers O-n and KR-n are per workspace and never reused: these are the next ones.
    next_objective_number: int = 1
    next_kr_number: int = 1
    # Goes up with every write of okrbot's core here: a read built at one revision is good until
    # the next (bot/cache.py keeps such reads).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: dt.datetime = Field(default_factory=utcnow)


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    external_id: str = Field(max_length=128)
    display_name: str = Field(default="", max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    is_admin: bool = False
    away_until: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    #: When the platform said they left (a deactivated Slack account): away from then on, until
    #: the platform says they are back. Not forgotten: an admin decides that (``forget``).
    left_at: dt.datetime | None = None

    def is_away(self, today: dt.date) -> bool:
        """Away on ``today`` (their own today): no prompts, reminders or nudges, not counted missing."""
        return self.left_at is not None or (self.away_until is not None and self.away_until >= today)


class Team(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    key: str = Field(max_length=40)
    name: str = Field(max_length=200)
    lead_id: int | None = Field(default=None, foreign_key="member.id")
    digest_channel: str | None = Field(default=None, max_length=128)


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)


class Capability(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    key: str = Field(max_length=40)
    name: str = Field(max_length=200)
    position: int = 0  # order in the value chain, among its siblings
    parent_id: int | None = Field(default=None, foreign_key="capability.id")


class Cycle(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str = Field(max_length=40)
    starts_on: dt.date
    ends_on: dt.date
    closed: bool = False


class Objective(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    number: int
    title: str = Field(max_length=200)
    team_id: int = Field(foreign_key="team.id", index=True)
    owner_id: int = Field(foreign_key="member.id")
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    capability_id: int | None = Field(default=None, foreign_key="capability.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="objective.id")
    kind: str = Field(default="committed", max_length=16)  # committed | aspirational
    archived: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)
    #: The objective of an earlier cycle this one was carried over from (``cycle close --carry-to``).
    carried_from_id: int | None = Field(default=None, foreign_key="objective.id", index=True)


class KeyResult(SQLModel, table=True):
    __tablename__ = "key_result"
    __table_args__ = (UniqueConstraint("workspace_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    number: int
    objective_id: int = Field(foreign_key="objective.id", index=True)
    title: str = Field(max_length=200)
    owner_id: int = Field(foreign_key="member.id", index=True)
    start: float = 0.0
    target: float
    current: float = 0.0
    unit: str = Field(default="", max_length=40)
    confidence: int = 5
    score: float | None = None
    archived: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    #: The unfinished key result of an earlier cycle this one continues.
    carried_from_id: int | None = Field(default=None, foreign_key="key_result.id", index=True)


class CheckIn(SQLModel, table=True):
    """Append-only history of a key result's value and confidence."""

    __tablename__ = "check_in"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    key_result_id: int = Field(foreign_key="key_result.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    value: float
    confidence: int
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    #: Where it came from: a surface (slack, teams, webchat, console…), ``slack:prompt`` for a
    #: prompt's button, ``api:<token name>`` for the HTTP API.
    source: str = Field(default="chat", max_length=40)
    #: The key result's value and confidence just before this check-in: what ``undo`` restores
    #: (None on check-ins recorded before okrbot kept them).
    previous_value: float | None = None
    previous_confidence: int | None = None


class Schedule(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")  # None: the whole org
    what: str = Field(max_length=16)  # checkin | digest
    weekday: int  # 0 = Monday
    time: str = Field(max_length=5)  # HH:MM
    timezone: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=128)
    remind_after_hours: int | None = None


class Delivery(SQLModel, table=True):
    """One message to send, claimed through the database so it goes out once."""

    __table_args__ = (UniqueConstraint("workspace_id", "kind", "recipient", "period_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    kind: str = Field(max_length=16)  # prompt | reminder | digest | nudge | grading
    recipient: str = Field(max_length=128)
    period_key: str = Field(max_length=40)
    payload: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, index=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None


class ConversationRef(SQLModel, table=True):
    """What a platform needs to message a user or a channel later."""

    __tablename__ = "conversation_ref"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    kind: str = Field(max_length=16)  # user | channel
    key: str = Field(max_length=128)
    data: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow)


class SlackInstallation(SQLModel, table=True):
    """okrbot installed in one Slack workspace (or org) through OAuth: its bot token and who installed it.

    One row per workspace: a reinstall replaces it.  ``enterprise_id`` / ``team_id`` are "" when
    absent (an org-wide install has no team), so the unique key works the same on both databases.
    """

    __tablename__ = "slack_installation"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id"),)

    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(default="", max_length=32)
    team_id: str = Field(default="", max_length=32)
    is_enterprise_install: bool = False
    app_id: str | None = Field(default=None, max_length=32)
    enterprise_name: str | None = Field(default=None, max_length=200)
    enterprise_url: str | None = Field(default=None, max_length=200)
    team_name: str | None = Field(default=None, max_length=200)
    bot_token: str | None = Field(default=None, sa_column=Column(Text))  # sealed: store/secrets.py
    bot_id: str | None = Field(default=None, max_length=32)
    bot_user_id: str | None = Field(default=None, max_length=32)
    bot_scopes: str = Field(default="", max_length=1000)
    bot_refresh_token: str | None = Field(default=None, sa_column=Column(Text))  # sealed: store/secrets.py
    bot_token_expires_at: dt.datetime | None = None
    user_id: str = Field(default="", max_length=32)  # the installer
    user_token: str | None = Field(default=None, sa_column=Column(Text))  # sealed: store/secrets.py
    user_scopes: str = Field(default="", max_length=1000)
    user_refresh_token: str | None = Field(default=None, sa_column=Column(Text))  # sealed: store/secrets.py
    user_token_expires_at: dt.datetime | None = None
    token_type: str | None = Field(default=None, max_length=16)
    installed_at: dt.datetime = Field(default_factory=utcnow)


class SlackOAuthState(SQLModel, table=True):
    """An OAuth ``state`` handed out by /slack/install: used once, before it expires, on any instance."""

    __tablename__ = "slack_oauth_state"

    state: str = Field(primary_key=True, max_length=128)
    expires_at: dt.datetime = Field(index=True)


class SlackEvent(SQLModel, table=True):
    """Slack deliveries already run (event ids), so a retry is not run twice on any instance."""

    __tablename__ = "slack_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: dt.datetime = Field(default_factory=utcnow, index=True)


class ApiToken(SQLModel, table=True):
    """A workspace's key to the HTTP API (``/api/v1``). Only the token's SHA-256 is stored: the
    token itself is shown once, to the admin who made it. Revoking deletes the row."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    name: str = Field(max_length=32)
    digest: str = Field(max_length=64, unique=True)  # hex SHA-256 of the whole token
    created_by_id: int = Field(foreign_key="member.id")  # the API acts with this member's rights
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_used_at: dt.datetime | None = None


class ApiAnswer(SQLModel, table=True):
    """The answer to a POST made with an ``Idempotency-Key``: its retries get it again, for 24 h,
    and nothing more is written."""

    __tablename__ = "api_answer"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    token_id: int = Field(foreign_key="api_token.id")
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the method, path and body it answered
    status: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


class AuditEntry(SQLModel, table=True):
    """Who did what, on what, when and from where: admin actions, and every write through the CLI
    or the HTTP API. The person is a member id, so forgetting them leaves no name here."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    action: str = Field(max_length=40)  # the command: "cycle close", "token add", "checkin"
    target: str = Field(default="", max_length=200)  # what it was on: "2026-Q4", "KR-3", "ci-deploys"
    surface: str = Field(max_length=40)  # slack | teams | console | webchat | api:<token name>
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
