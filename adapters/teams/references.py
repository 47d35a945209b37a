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

from adapters.teams.jsonish import as_json
from adapters.teams.translate import reference_key, tenant_id
from store.db import Database
from store.references import references_of_kind, save_reference, stored_reference

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
        await save_reference(
            self.db, platform="teams", tenant=tenant, kind=kind, key=key, data=text, timezone=self.timezone
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
        return await stored_reference(self.db, platform="teams", tenant=tenant, kind=kind, key=key)

    async def team_channels(self, tenant: str) -> list[dict[str, Any]]:
        """This tenant's stored team conversations, most recently stored (changed) first."""
        texts = await references_of_kind(self.db, platform="teams", tenant=tenant, kind="channel")
        return [data for data in map(json.loads, texts) if data.get("teamId")]


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
