"""Conversation references as data: stored on every turn, read back for proactive messages.

A row of ``conversation_ref`` per tenant (the workspace) and (kind, key): ``user`` + the member's
Azure AD object id for their personal chat with okrbot, ``channel`` + the conversation id
(a team channel or a group chat). ``data`` holds the SDK's serialized ConversationReference and
the team id, so a member can later be found on that team's roster.

What is stored is only what a later, proactive message needs, so that it stays the same from one
turn to the next and a repeat turn writes nothing: no ``activityId`` (every message has a new one;
a proactive send is a new message, not a reply), and for a channel or group chat neither the
``;messageid=`` of the thread the message came in nor its sender (a post goes to the conversation,
not to whoever spoke last). A reference this process has seen is not written again; one it has
not is first compared with the stored row, so a restart or a second server costs a read, not a
write.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from adapters.teams.jsonish import as_json
from adapters.teams.translate import reference_key, tenant_id
from store.db import Database
from store.models import ConversationRef, utcnow
from store.repo import ensure_workspace, workspace_by_external

log = logging.getLogger("okrbot.teams")
SEEN_MAX = 10_000


class References:
    """Reads and writes Teams conversation references; skips writes that would change nothing."""

    def __init__(self, db: Database, *, timezone: str = "UTC") -> None:
        self.db = db
        self.timezone = timezone
        self._seen: OrderedDict[tuple[str, str, str], str] = OrderedDict()  # what this process last wrote

    async def remember(self, activity: Activity, raw: dict[str, Any] | None = None) -> None:
        """File the activity's conversation under its tenant (nothing when it names no tenant).

        ``raw``: the activity as JSON (:func:`as_json`), if the caller has it already."""
        raw = as_json(activity) if raw is None else raw
        tenant = tenant_id(raw)
        where = reference_key(raw)
        if not tenant or where is None:
            return
        team_id = ((raw.get("channelData") or {}).get("team") or {}).get("id")
        data = {
            "reference": stable_reference(activity, personal=where[0] == "user"),
            "teamId": team_id,
            "conversationType": (raw.get("conversation") or {}).get("conversationType"),
        }
        if where[0] == "user":
            data["userId"] = (raw.get("from") or {}).get("id")
        await self.save(tenant, where[0], where[1], data)

    async def save(self, tenant: str, kind: str, key: str, data: dict[str, Any]) -> None:
        """Upsert the reference unless this process, or the stored row, already has it as is."""
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        cache_key = (tenant, kind, key)
        if self._seen.get(cache_key) == text:
            return
        if await self._stored_text(tenant, kind, key) == text:
            self._keep(cache_key, text)
            return
        async with self.db.write() as session:
            workspace = await ensure_workspace(
                session, platform="teams", external_id=tenant, name="", timezone=self.timezone
            )
            connection = await session.connection()
            insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
            now = utcnow()
            await connection.execute(
                insert(ConversationRef)
                .values(workspace_id=workspace.id, kind=kind, key=key[:128], data=text, updated_at=now)
                .on_conflict_do_update(
                    index_elements=["workspace_id", "kind", "key"], set_={"data": text, "updated_at": now}
                )
            )
        self._keep(cache_key, text)

    def _keep(self, cache_key: tuple[str, str, str], text: str) -> None:
        self._seen[cache_key] = text
        self._seen.move_to_end(cache_key)
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)

    async def load(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None:
        text = await self._stored_text(tenant, kind, key)
        return json.loads(text) if text is not None else None

    async def _stored_text(self, tenant: str, kind: str, key: str) -> str | None:
        async with self.db.read() as session:
            workspace = await workspace_by_external(session, "teams", tenant)
            if workspace is None:
                return None
            row = (
                await session.exec(
                    select(ConversationRef).where(
                        ConversationRef.workspace_id == workspace.id,
                        ConversationRef.kind == kind,
                        ConversationRef.key == key[:128],
                    )
                )
            ).first()
        return row.data if row else None

    async def team_channels(self, tenant: str) -> list[dict[str, Any]]:
        """This tenant's stored team conversations, most recently stored (changed) first."""
        async with self.db.read() as session:
            workspace = await workspace_by_external(session, "teams", tenant)
            if workspace is None:
                return []
            rows = (
                await session.exec(
                    select(ConversationRef)
                    .where(ConversationRef.workspace_id == workspace.id, ConversationRef.kind == "channel")
                    .order_by(ConversationRef.updated_at.desc())  # type: ignore[attr-defined]
                )
            ).all()
        out = [json.loads(row.data) for row in rows]
        return [data for data in out if data.get("teamId")]


def stable_reference(activity: Activity, *, personal: bool) -> dict[str, Any]:
    """The activity's serialized ConversationReference without what changes from message to message.

    Proactive sends (adapters/teams/outbound.py) clear ``activity_id`` anyway, post to a channel
    without the thread suffix, and address the conversation rather than a sender, so none of
    this is lost; ``user`` stays in a personal chat's reference (it is the member okrbot talks to).
    """
    reference = TurnContext.get_conversation_reference(activity).serialize()  # new dicts: the activity is untouched
    reference.pop("activityId", None)
    if not personal:
        reference.pop("user", None)
        conversation = reference.get("conversation") or {}
        if isinstance(conversation.get("id"), str):
            conversation["id"] = conversation["id"].split(";", 1)[0]
    return reference


def reference_of(data: dict[str, Any]) -> ConversationReference:
    return ConversationReference().deserialize(data["reference"])
