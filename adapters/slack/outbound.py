"""Sending to Slack without a request to answer: the core's Outbound Protocol, and the posting
helpers the adapter shares with it (split messages, charts uploaded into the thread, a message
updated in place)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import to_messages
from bot.command import WorkspaceRef
from bot.messages import File, Image, Message
from bot.outbound import DeliveryError

log = logging.getLogger(__name__)

#: Errors that will not go away by trying again.
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "user_not_found", "account_inactive",
    "invalid_auth", "token_revoked", "not_authed", "missing_scope", "cannot_dm_bot", "msg_too_long",
    "invalid_blocks", "msg_blocks_too_long", "team_not_found",
}  # fmt: skip


def retry_handlers() -> list[Any]:
    """Connection errors and 429s (honouring Retry-After) are retried by slack_sdk itself."""
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncRateLimitErrorRetryHandler(max_retry_count=2)]


def web_client(api_url: str, token: str | None = None, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """A Web API client; with ``session``, its calls reuse that session's connections."""
    base = api_url if api_url.endswith("/") else api_url + "/"
    return AsyncWebClient(token=token, base_url=base, retry_handlers=retry_handlers(), session=session)


async def open_dm(client: AsyncWebClient, user_id: str) -> str:
    response = await client.conversations_open(users=user_id)
    return str(response["channel"]["id"])


async def post(client: AsyncWebClient, channel: str, message: Message, *, thread_ts: str | None = None) -> str | None:
    """Post the message (split into a thread when long) and its charts and files; the first ts."""
    first_ts = thread_ts
    for part in to_messages(message):
        response = await client.chat_postMessage(channel=channel, thread_ts=first_ts, **part)
        first_ts = first_ts or str(response["ts"])
    await upload_attachments(client, channel, message, thread_ts=first_ts)
    return first_ts


async def update(client: AsyncWebClient, channel: str, ts: str, message: Message) -> None:
    """Put the message in place of the one at ``ts`` (a prompt, answered); what one message cannot
    hold follows in its thread, charts and files too."""
    parts = to_messages(message)
    if parts:
        await client.chat_update(channel=channel, ts=ts, **parts[0])
    for part in parts[1:]:
        await client.chat_postMessage(channel=channel, thread_ts=ts, **part)
    await upload_attachments(client, channel, message, thread_ts=ts)


async def upload_attachments(client: AsyncWebClient, channel: str, message: Message, *, thread_ts: str | None) -> None:
    for block in message.blocks:
        if isinstance(block, Image):
            await client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file=block.png,
                filename=block.name,
                title=block.alt[:250],
                alt_txt=block.alt[:1000],  # what a screen reader says, and what shows if the picture does not
            )
        elif isinstance(block, File):
            await client.files_upload_v2(
                channel=channel, thread_ts=thread_ts, content=block.content, filename=block.name, title=block.name
            )


TokenFor = Callable[[WorkspaceRef], Awaitable[str | None]]


class SlackOutbound:
    """bot.outbound.Outbound for Slack: DMs through conversations.open, posts to channels."""

    platform = "slack"

    def __init__(self, api_url: str, token_for: TokenFor) -> None:
        self.api_url = api_url
        self.token_for = token_for
        self._clients: dict[str, AsyncWebClient] = {}
        #: Set by the server at start-up: the keep-alive session every client here shares
        #: (``okrbot send`` has none, and each call opens its own connection).
        self.session: aiohttp.ClientSession | None = None
        # A DM's channel id never changes; conversations.open is Tier 3 (~50 a minute), so a
        # weekly fan-out to thousands opens each DM once per process, not once per message.
        self._dms: dict[tuple[str, str], str] = {}

    async def _client(self, workspace: WorkspaceRef) -> AsyncWebClient:
        token = await self.token_for(workspace)
        if not token:
            raise DeliveryError(f"okrbot is not installed in Slack workspace {workspace.external_id}", permanent=True)
        client = self._clients.get(workspace.external_id)
        if client is None or client.token != token:
            client = self._clients[workspace.external_id] = web_client(self.api_url, token, self.session)
        return client

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        client = await self._client(workspace)
        await self._guard(lambda: self._direct(client, workspace, member_id, message), workspace)

    async def _direct(self, client: AsyncWebClient, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        key = (workspace.external_id, member_id)
        if key not in self._dms:
            self._dms[key] = await open_dm(client, member_id)
        await post(client, self._dms[key], message)

    async def post_channel(self, workspace: WorkspaceRef, channel: str, message: Message) -> None:
        client = await self._client(workspace)
        await self._guard(lambda: post(client, channel, message), workspace)

    async def _guard(self, send: Callable[[], Awaitable[Any]], workspace: WorkspaceRef) -> None:
        try:
            await send()
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
            retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
            log.warning("slack send failed in %s: %s", workspace.external_id, error)
            raise DeliveryError(
                f"Slack answered {error}",
                retry_after=float(retry_after) if retry_after else None,
                permanent=error in PERMANENT,
            ) from None
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.warning("slack send failed in %s: %s", workspace.external_id, exc.__class__.__name__)
            raise DeliveryError(f"Slack could not be reached ({exc.__class__.__name__})") from None
