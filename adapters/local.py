"""The local platform: a workspace and people named by the one typing, with no login.

The terminal chat and the web chat are two surfaces of one platform ("local"): the same names,
the same ids, and the same reading of a typed line, so a person is the same member in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.command import Actor, Command, WorkspaceRef

#: A workspace or person name: one word, as a shell or a URL carries it unquoted.
LOCAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# a mention is the value of an option (--owner @bob); "@bob" inside a note stays text
_MENTION = re.compile(r"(--[A-Za-z][\w-]*\s+)@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")
_PREFIX = re.compile(r"^\s*/?okr\b", re.IGNORECASE)
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"?|[“„][^”"]*[”"]?|«[^»]*»?')  # as bot.grammar reads quotes


def local_id(name: str) -> str:
    """The external id of a local name: names differ in case only as people type them."""
    return name.lower()


def _outside_quotes(text: str, change: Callable[[str], str]) -> str:
    """``change`` applied to the text between quoted titles, never inside them."""
    out, end = [], 0
    for quoted in _QUOTED.finditer(text):
        out += [change(text[end : quoted.start()]), quoted.group()]
        end = quoted.end()
    return "".join([*out, change(text[end:])])


def to_command(line: str, *, user: str, workspace: str, channel: str = "console", source: str = "console") -> Command:
    """A typed line as the core sees it: ``@name`` becomes the mention ``<@name>``.

    Inside a quoted title ``@name`` stays as typed: "Ask @bob" is a title, not a mention.
    """
    text = _PREFIX.sub("", line, count=1)
    mentions: dict[str, str] = {}

    def mention(match: re.Match[str]) -> str:
        name = match.group(2)
        external = local_id(name.rstrip("."))
        mentions[external] = name.rstrip(".")
        return f"{match.group(1)}<@{external}>" + ("." if name.endswith(".") else "")

    text = _outside_quotes(text, lambda part: _MENTION.sub(mention, part))
    return Command(
        workspace=WorkspaceRef("local", local_id(workspace), workspace),
        # a login typed in lower case says nothing about how the person writes their name:
        # keep the name the workspace knows (the demo's "Amélie Laurent" logs in as amelie)
        actor=Actor(local_id(user), "" if user == local_id(user) else user),
        text=text,
        channel=channel,
        source=source,
        mentions=mentions,
    )
