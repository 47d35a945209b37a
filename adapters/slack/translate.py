"""Slack payloads as the core sees them: pure functions, nothing here talks to Slack."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from adapters.slack.render import REPLACE_ACTION
from bot.command import Actor, Command, WorkspaceRef

#: ``<@U123>`` / ``<@U123|name>``: the core's own mention form, kept as it is.
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|([^<>]{0,80}))?>")
#: A leading ``/okr`` or ``okr`` in typed text: habit from the slash command, not a word of the command.
_OKR_PREFIX = re.compile(r"^\s*/?okr\b[\s:,]*", re.IGNORECASE)
#: Typed text longer than this is no command (a note is at most 2,000 characters, even escaped
#: five times over ``&amp;``): it is left unanswered rather than parsed.
TYPED_MAX = 12_000
#: The event types that carry what a person typed to okrbot.
TYPED_EVENTS = ("message", "app_mention")
#: Any other Slack token: ``<!channel>``, ``<!subteam^S1|@team>``, ``<#C1|general>``, ``<https://x|y>``.
_TOKEN = re.compile(r"<([!#]?)([^<>|]*)(?:\|([^<>]*))?>")
_SPECIAL = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}


def _readable(match: re.Match[str]) -> str:
    """A Slack token as the words the person typed (it is stored and shown as their text)."""
    sigil, target, label = match.group(1), match.group(2), match.group(3)
    if sigil == "!":
        return label or _SPECIAL.get(target, "@" + target.split("^")[0])
    if sigil == "#":
        return f"#{label}" if label else f"#{target}"
    return label or target  # a link: its label, or the address itself


def command_text(text: str) -> tuple[str, dict[str, str]]:
    """Slash-command text in the core's form, and the mentions it holds (id → name)."""
    mentions: dict[str, str] = {}
    out: list[str] = []
    position = 0
    for match in MENTION.finditer(text):
        out.append(_plain(text[position : match.start()]))
        user_id, name = match.group(1), html.unescape(match.group(2) or "")
        mentions[user_id] = name or mentions.get(user_id, "")
        out.append(f"<@{user_id}|{name}>" if name else f"<@{user_id}>")
        position = match.end()
    out.append(_plain(text[position:]))
    return "".join(out), mentions


def _plain(text: str) -> str:
    text = _TOKEN.sub(_readable, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_command(payload: Mapping[str, Any], actor: Actor | None = None, *, text: str | None = None) -> Command:
    """A slash command (or an interaction carrying ``team``/``user``) as a Command."""
    team_id = (
        payload.get("team_id")
        or (payload.get("team") or {}).get("id")
        or (payload.get("user") or {}).get("team_id", "")
    )
    user_id = payload.get("user_id") or (payload.get("user") or {}).get("id", "")
    channel = payload.get("channel_id") or (payload.get("channel") or {}).get("id", "")
    words, mentions = command_text(payload.get("text", "") if text is None else text)
    return Command(
        workspace=WorkspaceRef("slack", str(team_id), str(payload.get("team_domain", "") or "")),
        actor=actor or Actor(str(user_id), str(payload.get("user_name", "") or "")),
        text=words,
        channel=str(channel or ""),
        source="slack",
        mentions=mentions,
    )


def actor_from_user(user: Mapping[str, Any]) -> Actor:
    """users.info's ``user`` object as the core's Actor: name, timezone, admin or owner."""
    profile = user.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or ""
    return Actor(
        external_id=str(user.get("id", "")),
        display_name=str(name)[:200],
        timezone=user.get("tz") or None,
        is_platform_admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
    )


def form_values(view: Mapping[str, Any]) -> dict[str, str]:
    """A submitted check-in modal's state as the form's field names → what was typed."""
    values: dict[str, str] = {}
    state = (view.get("state") or {}).get("values") or {}
    for block_id, actions in state.items():
        if not isinstance(actions, Mapping):
            continue
        for action in actions.values():
            if not isinstance(action, Mapping):
                continue
            if action.get("type") == "static_select":
                selected = action.get("selected_option") or {}
                values[str(block_id)] = str(selected.get("value") or "")
            else:
                values[str(block_id)] = str(action.get("value") or "")
    return values


def metadata(view: Mapping[str, Any]) -> dict[str, str]:
    """The modal's private_metadata; empty when it is missing or not ours."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# --- typed to okrbot: its DM, a mention --------------------------------------------------------


def typed_text(text: str, bot_user_id: str | None) -> str:
    """What a person typed to okrbot, without a leading mention of okrbot or a leading ``/okr``."""
    text = text.lstrip()
    match = MENTION.match(text)
    if match is not None and bot_user_id and match.group(1) == bot_user_id:
        text = text[match.end() :]
    return _OKR_PREFIX.sub("", text, count=1).strip()


def typed_command(team_id: str, event: Mapping[str, Any], bot_user_id: str | None) -> Command | None:
    """A DM to okrbot (``message`` in an ``im``) or a mention of it (``app_mention``) as a Command.

    None for every event okrbot must leave alone, or it would answer itself or answer twice: a
    bot's message (okrbot's own replies among them), an edit, a deletion or any other subtype,
    a message anywhere but okrbot's DM, an event without its person, text or channel, and text
    too long to be a command."""
    kind = event.get("type")
    if kind not in TYPED_EVENTS or event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None
    in_dm = event.get("channel_type") == "im"
    if in_dm != (kind == "message"):
        return None  # a message counts in okrbot's DM only; a DM's text never comes as app_mention
    user, text, channel = event.get("user"), event.get("text"), event.get("channel")
    if not (isinstance(user, str) and isinstance(text, str) and isinstance(channel, str)):
        return None
    if not (user and text.strip() and channel and team_id) or user == bot_user_id or len(text) > TYPED_MAX:
        return None
    payload = {"team_id": team_id, "user_id": user, "channel_id": channel}
    return to_command(payload, text=typed_text(text, bot_user_id))


# --- the message a button sits on --------------------------------------------------------------


def button_message(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """The channel and ts of the message a clicked button sits on, when okrbot can change it:
    a posted message (not an ephemeral one, not a modal or the Home tab)."""
    container = payload.get("container") or {}
    if not isinstance(container, Mapping) or container.get("type") != "message" or container.get("is_ephemeral"):
        return None
    channel, ts = container.get("channel_id"), container.get("message_ts")
    return (str(channel), str(ts)) if channel and ts else None


def prompt_of(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where the prompt is that a check-in button sits on: a message okrbot can change that carries
    a button answered in place (No change). A digest's or a list's Check in has none, so those
    messages, which others read too, are never replaced by one person's check-in."""
    where = button_message(payload)
    message = payload.get("message") or {}
    blocks = message.get("blocks") if isinstance(message, Mapping) else None
    if where is None or not isinstance(blocks, list):
        return None
    return where if any(_answered_in_place(block) for block in blocks) else None


def _answered_in_place(block: Any) -> bool:
    if not isinstance(block, Mapping) or block.get("type") != "actions":
        return False
    return any(
        isinstance(element, Mapping) and str(element.get("action_id", "")).startswith(f"{REPLACE_ACTION}:")
        for element in block.get("elements") or ()
    )
