"""The HTTP API's way in: a token found by its digest, with its workspace and its maker.

Unlike :class:`store.repo.Repo` this reads across workspaces: a token is what says which
workspace a request is for. Everything after it goes through a Repo bound to that workspace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, text, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import Database
from store.models import ApiToken, as_utc

#: One short statement, read with Database.peek (no ORM, no transaction): every API request asks it.
_BY_DIGEST = """
SELECT t.id, t.name, t.last_used_at, w.platform, w.external_id, w.name, m.external_id
FROM api_token t JOIN workspace w ON w.id = t.workspace_id JOIN member m ON m.id = t.created_by_id
WHERE t.digest = :digest"""


@dataclass(frozen=True)
class Holder:
    """What a request's token says: the token, its workspace and the member who made it."""

    token_id: int
    name: str
    last_used_at: dt.datetime | None
    platform: str
    workspace_external_id: str
    workspace_name: str
    maker_external_id: str


async def token_by_digest(db: Database, digest: str) -> Holder | None:
    """The token whose SHA-256 is ``digest``; None for a token that was never made or is revoked.
    A peek that fails (PostgreSQL's peek pool not connected yet) is asked again in a session."""
    try:
        row = await db.peek(_BY_DIGEST, {"digest": digest})
    except Exception:  # noqa: BLE001 - the long way says what is wrong, if anything is
        async with db.read() as session:
            row = (await session.execute(text(_BY_DIGEST), {"digest": digest})).first()
    if row is None:
        return None
    used = row[2]
    if isinstance(used, str):  # SQLite keeps a datetime as text
        used = dt.datetime.fromisoformat(used)
    return Holder(row[0], row[1], as_utc(used) if used else None, row[3], row[4], row[5], row[6])


async def mark_used(session: AsyncSession, token_id: int, at: dt.datetime, *, unless_since: dt.datetime) -> None:
    """Remember when the token was last used, unless that was after ``unless_since`` already (a
    busy token writes its row once a minute, not once a request)."""
    stale = or_(col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) < unless_since)
    await session.exec(update(ApiToken).where(col(ApiToken.id) == token_id, stale).values(last_used_at=at))
