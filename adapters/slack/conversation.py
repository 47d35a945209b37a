"""Where a reply goes when nobody holds a response_url: okrbot's DM, a channel that mentioned it,
or a note only one person sees.

A DM is okrbot's conversation with one person, so every reply there is posted in the open. A
mention keeps /okr's visibility: a reply for the channel is posted in the channel (in the thread
when the mention was in one); a private reply is an ephemeral message to the person who asked.
Slack carries no file in an ephemeral message, so a private reply with a chart or an export goes
whole to the person's DM and the ephemeral note says so.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.outbound import open_dm, post
from bot.command import Command
from bot.messages import File, Image, Message, Text

log = logging.getLogger(__name__)

MAX_PARTS = 5  # a private reply longer than five messages is cut, as through response_url
SENT_TO_DM = Message.of(Text(("Sent to you in a direct message from okrbot.",)))


def has_attachments(message: Message) -> bool:
    return any(isinstance(b, Image | File) for b in message.blocks)


async def answer_dm(client: AsyncWebClient, cmd: Command, message: Message, *, thread_ts: str | None) -> None:
    """The reply to a DM, in that DM (and its thread), whatever the reply's visibility."""
    try:
        await post(client, cmd.channel, message, thread_ts=thread_ts)
    except SlackApiError as exc:
        log.warning("a reply in a DM could not be posted: %s", error_of(exc))


async def answer_mention(client: AsyncWebClient, cmd: Command, message: Message, *, thread_ts: str | None) -> None:
    """The reply to a mention: in the channel (its thread) for the channel, else only to the person."""
    if message.visibility == "channel":
        try:
            await post(client, cmd.channel, message, thread_ts=thread_ts)
            return
        except SlackApiError as exc:
            log.info("posting to %s failed (%s): answering the person only", cmd.channel, error_of(exc))
    await ephemeral(client, cmd.channel, cmd.actor.external_id, message, thread_ts=thread_ts)


async def ephemeral(
    client: AsyncWebClient, channel: str, user: str, message: Message, *, thread_ts: str | None = None
) -> None:
    """Shown to ``user`` only, in ``channel``; in their DM instead when the channel refuses it."""
    if has_attachments(message):
        await send_dm(client, user, message)
        message = SENT_TO_DM
    try:
        for part in render.to_messages(message)[:MAX_PARTS]:
            await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, **part)
    except SlackApiError as exc:
        log.info("an ephemeral reply failed (%s): sent as a DM", error_of(exc))
        if message is not SENT_TO_DM:
            await send_dm(client, user, message)


async def send_dm(client: AsyncWebClient, user: str, message: Message) -> None:
    try:
        await post(client, await open_dm(client, user), message)
    except SlackApiError as exc:
        log.warning("a direct message could not be sent: %s", error_of(exc))


def error_of(exc: SlackApiError) -> str:
    """Slack's error code (or the HTTP status), short: never the request, which may hold a token."""
    data = getattr(exc.response, "data", None)
    return (
        str(data.get("error", "unknown"))[:60]
        if isinstance(data, dict)
        else f"HTTP {getattr(exc.response, 'status_code', '?')}"
    )
