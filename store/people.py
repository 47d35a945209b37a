"""Who is in a workspace, found by the platform's own ids: for surfaces that show a person the
workspace's members or their own teams before any command has run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import rowcount
from store.models import Member, Team, TeamMembership, Workspace
from store.repo import workspace_by_external


async def workspace_members(
    session: AsyncSession, platform: str, external_id: str
) -> tuple[Workspace, list[Member]] | None:
    """The workspace and every member okrbot knows in it; None when it has never been seen."""
    workspace = await workspace_by_external(session, platform, external_id)
    if workspace is None:
        return None
    rows = await session.exec(select(Member).where(col(Member.workspace_id) == workspace.id))
    return workspace, list(rows.all())


async def member_team_keys(
    session: AsyncSession, platform: str, external_id: str, member_external_id: str, *, limit: int
) -> list[str]:
    """The keys of the teams a member belongs to, by key, at most ``limit`` of them."""
    query = (
        select(Team.key)
        .join(TeamMembership, col(TeamMembership.team_id) == col(Team.id))
        .join(Member, col(Member.id) == col(TeamMembership.member_id))
        .join(Workspace, col(Workspace.id) == col(Team.workspace_id))
        .where(col(Workspace.platform) == platform, col(Workspace.external_id) == external_id)
        .where(col(Member.external_id) == member_external_id, col(Member.workspace_id) == col(Workspace.id))
        .order_by(col(Team.key))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def mark_left(
    session: AsyncSession, platform: str, external_id: str, member_external_id: str, at: dt.datetime | None
) -> bool:
    """Note that a member left (``at``) or is back (None); the workspace's revision goes up, so
    nothing kept from before is shown again. False when okrbot never saw them there."""
    workspace = await workspace_by_external(session, platform, external_id)
    if workspace is None:
        return False
    member = col(Member.workspace_id) == workspace.id, col(Member.external_id) == member_external_id
    if not await rowcount(session, update(Member).where(*member).values(left_at=at)):
        return False
    await rowcount(
        session, update(Workspace).where(col(Workspace.id) == workspace.id).values(revision=Workspace.revision + 1)
    )
    return True
