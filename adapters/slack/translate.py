"""Slack payloads as the core sees them: pure functions, nothing here talks to Slack."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.command import Actor, Command, WorkspaceRef

#: ``<@U123>`` / ``<@U123|name>``: the core's own mention form, kept as it is.
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|([^<>]{0,80}))?>")
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
