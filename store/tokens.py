"""The HTTP API's way in: a token found by its digest, with its workspace and its maker.

Unlike :class:`store.repo.Repo` this reads across workspaces: a token is what says which
workspace a request is for. Everything after it goes through a Repo bound to that workspace.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import ApiToken, Member, Workspace

_BY_DIGEST = (
    select(ApiToken, Workspace, Member)
    .join(Workspace, col(Workspace.id) == ApiToken.workspace_id)
    .join(Member, col(Member.id) == ApiToken.created_by_id)
    .where(ApiToken.digest == bindparam("digest"))
)


async def token_by_digest(session: AsyncSession, digest: str) -> tuple[ApiToken, Workspace, Member] | None:
    """The token whose SHA-256 is ``digest``, its workspace and the member who made it, in one
    statement; None for a token that was never made or is revoked."""
    row = (await session.exec(_BY_DIGEST, params={"digest": digest})).first()
    return (row[0], row[1], row[2]) if row else None


async def mark_used(session: AsyncSession, token_id: int, at: dt.datetime, *, unless_since: dt.datetime) -> None:
    """Remember when the token was last used, unless that was after ``unless_since`` already (a
    busy token writes its row once a minute, not once a request)."""
    stale = or_(col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) < unless_since)
    await session.exec(update(ApiToken).where(col(ApiToken.id) == token_id, stale).values(last_used_at=at))
