"""The Outbound Protocol for Teams: proactive DMs and channel posts from stored references.

``send_direct`` continues the member's personal chat with okrbot; when none is stored yet but a
team okrbot is installed in is, it finds the member on that team's roster and creates the 1:1
conversation (Teams allows 1:1 only, with the tenant id) and keeps its reference. ``post_channel``
posts a new message in a stored channel or group chat. Throttling (429, and Teams' transient
412/502/503/504) is retried with exponential backoff and jitter, honouring ``Retry-After``; a wait
longer than ``max_wait`` is handed back as ``DeliveryError.retry_after`` for the outbox to keep.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ChannelAccount, ConversationParameters, ConversationReference
from botframework.connector.auth import BotFrameworkAuthentication
from msrest.exceptions import HttpOperationError

from adapters.teams.adapter import outgoing
from adapters.teams.references import References, reference_of
from adapters.teams.translate import channel_key
from bot.command import WorkspaceRef
from bot.messages import Message
from bot.outbound import DeliveryError

log = logging.getLogger("okrbot.teams")
RETRYABLE = {412, 429, 500, 502, 503, 504}
Sleep = Callable[[float], Awaitable[None]]


def _status(exc: BaseException) -> tuple[int | None, float | None]:
    """HTTP status and Retry-After (seconds) of a failed Bot Connector call."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status", None) or getattr(response, "status_code", None)
    headers = getattr(response, "headers", None) or {}
    retry_after = None
    try:
        if headers.get("Retry-After") is not None:
            retry_after = max(0.0, float(headers["Retry-After"]))
    except (TypeError, ValueError):
        retry_after = None
    return (int(status) if status else None), retry_after


class TeamsOutbound:
    platform = "teams"

    def __init__(
        self,
        auth: BotFrameworkAuthentication,
        references: References,
        *,
        app_id: str = "",
        attempts: int = 5,
        base_delay: float = 0.5,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # An adapter of its own: the serving adapter's on_turn_error would swallow send failures.
        self.cloud = CloudAdapter(auth)
        self.references = references
        self.app_id = app_id
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_wait = max_wait
        self.sleep = sleep

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        data = await self.references.load(workspace.external_id, "user", member_id)
        if data is None:
            data = await self._open_direct(workspace.external_id, member_id)
        await self._send(reference_of(data), message)

    async def post_channel(self, workspace: WorkspaceRef, channel: str, message: Message) -> None:
        data = await self.references.load(workspace.external_id, "channel", channel_key(channel))
        if data is None:
            raise DeliveryError("okrbot has no conversation stored for that channel", permanent=True)
        reference = reference_of(data)
        reference.conversation.id = channel_key(reference.conversation.id)  # a new post, not a reply
        await self._send(reference, message)

    async def _send(self, reference: ConversationReference, message: Message) -> None:
        reference.activity_id = None  # a new message, not a reply to the last one we saw
        for activity in outgoing(message):

            async def send(turn_context: TurnContext, activity: Any = activity) -> None:
                # Straight to the conversation: TurnContext.send_activity would make it a reply
                # to the continuation's made-up activity id.
                reference = TurnContext.get_conversation_reference(turn_context.activity)
                TurnContext.apply_conversation_reference(activity, reference)
                activity.reply_to_id = None
                connector = turn_context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY]
                await connector.conversations.send_to_conversation(activity.conversation.id, activity)

            await self._retrying(lambda send=send: self.cloud.continue_conversation(reference, send, self.app_id))

    async def _retrying(self, call: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except HttpOperationError as exc:
                status, retry_after = _status(exc)
                if status not in RETRYABLE:
                    raise DeliveryError(f"Teams refused the message (HTTP {status})", permanent=True) from None
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if attempt == self.attempts or wait > self.max_wait:
                    raise DeliveryError(f"Teams is busy (HTTP {status})", retry_after=wait) from None
                log.info("Teams answered %s; retrying in %.2f s", status, wait)
                await self.sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return self.base_delay * 2 ** (attempt - 1) + random.uniform(0, self.base_delay)

    async def _open_direct(self, tenant: str, member_id: str) -> dict[str, Any]:
        """Create the member's 1:1 chat from a team roster okrbot can read, and keep its reference."""
        for team in await self.references.team_channels(tenant):
            team_reference = reference_of(team)
            member = await self._roster_member(team_reference, team["teamId"], member_id)
            if member is None:
                continue
            data = await self._create_direct(team_reference, tenant, member)
            await self.references.save(tenant, "user", member_id, data)
            return data
        raise DeliveryError(
            "okrbot cannot reach that member: no chat with them and no team roster has them", permanent=True
        )

    async def _roster_member(self, reference: ConversationReference, team_id: str, member_id: str) -> Any | None:
        found: dict[str, Any] = {}

        async def look_up(turn_context: TurnContext) -> None:
            connector = turn_context.turn_state[BotAdapter.BOT_CONNECTOR_CLIENT_KEY]
            found["member"] = await connector.conversations.get_conversation_member(team_id, member_id)

        try:
            await self._retrying(lambda: self.cloud.continue_conversation(reference, look_up, self.app_id))
        except DeliveryError as exc:
            if exc.permanent:  # 404: not on this team's roster
                return None
            raise
        return found.get("member")

    async def _create_direct(self, team_reference: ConversationReference, tenant: str, member: Any) -> dict[str, Any]:
        created: dict[str, Any] = {}

        async def keep(turn_context: TurnContext) -> None:
            created["reference"] = TurnContext.get_conversation_reference(turn_context.activity)

        parameters = ConversationParameters(
            is_group=False,
            bot=team_reference.bot,
            members=[ChannelAccount(id=member.id, name=member.name)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        await self._retrying(
            lambda: self.cloud.create_conversation(
                self.app_id, keep, parameters, team_reference.channel_id or "msteams", team_reference.service_url
            )
        )
        reference: ConversationReference = created["reference"]
        reference.user = ChannelAccount(id=member.id, name=member.name)
        reference.bot = team_reference.bot
        reference.activity_id = None  # as References stores it: nothing that changes per message
        return {
            "reference": reference.serialize(),
            "teamId": None,
            "conversationType": "personal",
            "userId": member.id,
        }
