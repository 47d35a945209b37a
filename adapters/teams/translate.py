"""Bot Framework activities as the core sees them: pure functions, nothing here talks to Teams.

An activity arrives as the JSON dict Teams posted (``Activity.serialize()`` gives the same keys).
The tenant is the workspace, the sender's Azure AD object id the member; ``<at>Name</at>``
mentions with their entities become the core's ``<@id|name>`` tokens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.command import Actor, Command, WorkspaceRef

#: An okrbot card's action data carries this key, so okrbot knows its own cards' submissions.
SUBMIT_KEY = "okrbot"
FORM_ACTION = "checkin"
COMMAND_ACTION = "command"
#: A button's data carries this (true) when its answer takes the place of the card it is on.
REPLACES_KEY = "replaces"
#: The invoke Teams sends for an Action.Execute (Universal Actions).
EXECUTE_INVOKE = "adaptiveCard/action"

_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^<>]{0,200}>")
_OKR_PREFIX = re.compile(r"^\s*/?okr\b[\s:,]*", re.IGNORECASE)
_NAME_UNSAFE = re.compile(r"[<>|\r\n]")


class NotForUs(ValueError):
    """An activity okrbot does not answer (no tenant, no Azure AD user, not a message)."""


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def tenant_id(activity: Mapping[str, Any]) -> str:
    """The tenant the activity belongs to: the workspace. Empty when Teams gave none."""
    return str(_get(activity, "conversation", "tenantId") or _get(activity, "channelData", "tenant", "id") or "")


def conversation_kind(activity: Mapping[str, Any]) -> Literal["personal", "channel", "groupChat"]:
    kind = _get(activity, "conversation", "conversationType")
    if kind in ("channel", "groupChat", "personal"):
        return kind  # type: ignore[return-value]
    return "groupChat" if _get(activity, "conversation", "isGroup") else "personal"


def timezone_of(activity: Mapping[str, Any]) -> str | None:
    """The sender's IANA timezone, from ``localTimezone`` or the clientInfo entity."""
    zone = activity.get("localTimezone")
    for entity in activity.get("entities") or ():
        if isinstance(entity, Mapping) and entity.get("type") == "clientInfo" and entity.get("timezone"):
            zone = zone or entity["timezone"]
    return str(zone)[:64] if zone and "/" in str(zone) else None


def actor_of(activity: Mapping[str, Any], *, is_owner: bool = False) -> Actor:
    sender = activity.get("from") or {}
    aad = sender.get("aadObjectId")
    if not aad:
        raise NotForUs("the sender has no Azure AD object id")
    return Actor(
        external_id=str(aad),
        display_name=_NAME_UNSAFE.sub("", str(sender.get("name") or ""))[:200],
        timezone=timezone_of(activity),
        is_platform_admin=is_owner,
    )


def mentioned_users(activity: Mapping[str, Any]) -> list[dict[str, str]]:
    """The mention entities other than the bot's own: ``{"id", "name", "text", "aadObjectId"?}``."""
    bot_id = _get(activity, "recipient", "id")
    out = []
    for entity in activity.get("entities") or ():
        if not isinstance(entity, Mapping) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        if not mentioned.get("id") or mentioned.get("id") == bot_id:
            continue
        out.append(
            {**{k: str(v) for k, v in mentioned.items() if isinstance(v, str)}, "text": str(entity.get("text", ""))}
        )
    return out


def command_text(activity: Mapping[str, Any], aad_ids: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The message text in the core's form, and the members it mentions (Azure AD id → name).

    The bot's own mention goes, and so does a leading ``okr``. Another person's ``<at>`` becomes
    ``<@aad|name>`` when their Azure AD object id is known (the entity's ``aadObjectId``, or
    ``aad_ids``: Teams id → Azure AD id, looked up from the roster); otherwise it stays as the
    words ``@Name``, which the grammar refuses with its own sentence rather than guess a person.
    """
    aad_ids = aad_ids or {}
    bot_id = _get(activity, "recipient", "id")
    by_text: dict[str, tuple[str | None, str]] = {}
    for entity in activity.get("entities") or ():
        if not isinstance(entity, Mapping) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        text = str(entity.get("text") or "")
        if mentioned.get("id") == bot_id:
            by_text[text.lower()] = (None, "")
        elif mentioned.get("id"):
            aad = mentioned.get("aadObjectId") or aad_ids.get(str(mentioned["id"]))
            name = _NAME_UNSAFE.sub("", html.unescape(str(mentioned.get("name") or "")))
            by_text.setdefault(text.lower(), (str(aad) if aad else "", name))
    raw = str(activity.get("text") or "")
    mentions: dict[str, str] = {}
    out: list[str] = []
    position = 0
    for match in _AT.finditer(raw):
        out.append(_plain(raw[position : match.start()]))
        position = match.end()
        found = by_text.get(match.group(0).lower())
        inner = _NAME_UNSAFE.sub("", html.unescape(_TAG.sub("", match.group(1))))
        if found is None:  # an <at> with no entity: keep the words
            out.append(f"@{inner}")
        elif found[0] is None:  # the bot itself
            out.append(" ")
        elif found[0]:
            name = found[1] or inner
            mentions[found[0]] = name
            out.append(f"<@{found[0]}|{name}>" if name else f"<@{found[0]}>")
        else:
            out.append(f"@{found[1] or inner}")
    out.append(_plain(raw[position:]))
    text = " ".join("".join(out).split())
    return _OKR_PREFIX.sub("", text, count=1), mentions


def _plain(text: str) -> str:
    """Teams text outside mentions: tags dropped, entities decoded, as the person typed it."""
    return html.unescape(_TAG.sub(" ", text.replace("&nbsp;", " ")))


def workspace_of(activity: Mapping[str, Any]) -> WorkspaceRef:
    tenant = tenant_id(activity)
    if not tenant:
        raise NotForUs("the activity names no tenant")
    team_name = _get(activity, "channelData", "team", "name") or ""
    return WorkspaceRef("teams", tenant, str(team_name)[:200])


def to_command(
    activity: Mapping[str, Any],
    *,
    aad_ids: Mapping[str, str] | None = None,
    is_owner: bool = False,
    text: str | None = None,
) -> Command:
    """A message activity as a Command; ``text`` replaces the message's words (a button's command)."""
    words, mentions = command_text(activity, aad_ids) if text is None else (text, {})
    return Command(
        workspace=workspace_of(activity),
        actor=actor_of(activity, is_owner=is_owner),
        text=words,
        channel=str(_get(activity, "conversation", "id") or ""),
        source="teams",
        mentions=mentions,
        seen_by_others=conversation_kind(activity) != "personal",
    )


@dataclass(frozen=True)
class Submission:
    """What a click on one of okrbot's cards carried (an Action.Submit or an Action.Execute)."""

    action: str  # "checkin" (the form) or "command" (a button)
    values: dict[str, str]
    command: str = ""
    replaces: bool = False  # the answer takes the place of the card


def submission(activity: Mapping[str, Any]) -> Submission | None:
    """The Action.Submit a message activity carries in ``value``, or None for a typed message."""
    return _submitted(activity.get("value"))


def execution(activity: Mapping[str, Any]) -> Submission | None:
    """What an ``adaptiveCard/action`` invoke (an Action.Execute) asks for, or None if it is none.

    The action's ``data`` (the card's inputs merged in by Teams) holds the same keys as the
    Action.Submit fallback's value, okrbot's own key naming the action as the ``verb`` does too:
    both paths read alike, and an action that is not okrbot's is not taken for one."""
    if activity.get("type") != "invoke" or activity.get("name") != EXECUTE_INVOKE:
        return None
    action = _get(activity, "value", "action")
    if not isinstance(action, Mapping) or action.get("type") != "Action.Execute":
        return None
    return _submitted(action.get("data"))


def _submitted(value: Any) -> Submission | None:
    if not isinstance(value, Mapping) or SUBMIT_KEY not in value:
        return None
    action = str(value.get(SUBMIT_KEY) or "")
    if action == COMMAND_ACTION:
        command = str(value.get("command") or "")[:500]
        return Submission(COMMAND_ACTION, {}, command, replaces=value.get(REPLACES_KEY) is True)
    values = {
        str(k): "" if v is None else str(v)
        for k, v in value.items()
        if k != SUBMIT_KEY and isinstance(v, str | int | float) and len(str(k)) <= 64
    }
    return Submission(action[:40], values)


def reference_key(activity: Mapping[str, Any]) -> tuple[Literal["user", "channel"], str] | None:
    """Where to file this conversation's reference: a personal chat by the member's Azure AD id,
    anything else (a channel, a group chat) by its conversation id, thread suffix removed."""
    conversation_id = str(_get(activity, "conversation", "id") or "")
    if not conversation_id:
        return None
    if conversation_kind(activity) == "personal":
        aad = _get(activity, "from", "aadObjectId")
        if not aad:  # a conversationUpdate in a personal chat may name the user only in membersAdded
            for member in activity.get("membersAdded") or ():
                if isinstance(member, Mapping) and member.get("aadObjectId"):
                    aad = member["aadObjectId"]
        return ("user", str(aad)) if aad else None
    return "channel", channel_key(conversation_id)


def channel_key(conversation_id: str) -> str:
    """A channel conversation id without the ``;messageid=…`` of the thread a reply lands in."""
    return conversation_id.split(";", 1)[0][:128]
