"""Conversation references as rows: what a platform needs to message a person or a channel later.

A row per workspace and (kind, key), its ``data`` the platform's own serialized reference (text);
what the text means is the adapter's business. Written with one upsert, so two instances that
see the same conversation at once both succeed. A row may also mark that something was done
once for a conversation (:func:`claim_reference`: the Teams welcome), claimed with one insert
that only one of any number of racing callers wins.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select

from store.db import Database, dialect_insert, rowcount
from store.models import ConversationRef, utcnow
from store.repo import ensure_workspace, workspace_by_external

KEY_MAX = 128


async def stored_reference(db: Database, *, platform: str, tenant: str, kind: str, key: str) -> str | None:
    """The stored data of one conversation; None when the workspace or the row is unknown."""
    async with db.read() as session:
        workspace = await workspace_by_external(session, platform, tenant)
        if workspace is None:
            return None
        query = select(ConversationRef.data).where(
            col(ConversationRef.workspace_id) == workspace.id,
            col(ConversationRef.kind) == kind,
            col(ConversationRef.key) == key[:KEY_MAX],
        )
        return (await session.exec(query)).first()


async def save_reference(
    db: Database, *, platform: str, tenant: str, kind: str, key: str, data: str, timezone: str
) -> None:
    """Insert or replace the conversation's data; the workspace is created on first sight."""
    async with db.write() as session:
        workspace = await ensure_workspace(session, platform=platform, external_id=tenant, name="", timezone=timezone)
        insert = await dialect_insert(session)
        now = utcnow()
        upsert = (
            insert(ConversationRef)
            .values(workspace_id=workspace.id, kind=kind, key=key[:KEY_MAX], data=data, updated_at=now)
            .on_conflict_do_update(
                index_elements=["workspace_id", "kind", "key"], set_={"data": data, "updated_at": now}
            )
        )
        await rowcount(session, upsert)


async def references_of_kind(db: Database, *, platform: str, tenant: str, kind: str) -> list[str]:
    """The data of every stored conversation of one kind, most recently stored (changed) first."""
    async with db.read() as session:
        workspace = await workspace_by_external(session, platform, tenant)
        if workspace is None:
            return []
        query = (
            select(ConversationRef.data)
            .where(col(ConversationRef.workspace_id) == workspace.id, col(ConversationRef.kind) == kind)
            .order_by(col(ConversationRef.updated_at).desc())
        )
        return list((await session.exec(query)).all())


async def claim_reference(
    db: Database, *, platform: str, tenant: str, kind: str, key: str, data: str, timezone: str
) -> bool:
    """Insert the row unless there is one: True for the one caller that inserted it, however many
    race for it (two signals of one event, on one server or several)."""
    async with db.write() as session:
        workspace = await ensure_workspace(session, platform=platform, external_id=tenant, name="", timezone=timezone)
        insert = await dialect_insert(session)
        claim = (
            insert(ConversationRef)
            .values(workspace_id=workspace.id, kind=kind, key=key[:KEY_MAX], data=data, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["workspace_id", "kind", "key"])
        )
        return await rowcount(session, claim) == 1


async def forget_reference(db: Database, *, platform: str, tenant: str, kind: str, key: str) -> bool:
    """Delete the row; True when there was one."""
    async with db.write() as session:
        workspace = await workspace_by_external(session, platform, tenant)
        if workspace is None:
            return False
        forget = delete(ConversationRef).where(
            col(ConversationRef.workspace_id) == workspace.id,
            col(ConversationRef.kind) == kind,
            col(ConversationRef.key) == key[:KEY_MAX],
        )
        return await rowcount(session, forget) > 0
