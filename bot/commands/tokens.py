"""API tokens: how a CI job, a cron script or a dashboard reaches ``/api/v1`` (adapters/api).

A token is ``okr_`` and 43 URL-safe random characters, so secret scanners can spot one. Only its
SHA-256 is stored; the token itself is shown once, to the admin who made it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from bot.context import Ctx, zone
from bot.errors import UserError
from bot.grammar import Arg, Word, command
from bot.messages import Context, Fields, Header, Message, Text, spans
from bot.permissions import require_admin
from bot.views import mention
from store.models import ApiToken, as_utc, row_id

PREFIX = "okr_"
NAME = Word(
    "<name>",
    r"[a-z0-9][a-z0-9._-]{0,31}",
    'A token name is one word of up to 32 letters, digits, ".", "_" or "-", like ci-deploys, not "{}".',
)


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token, and what a request's token is looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


@command(
    "token add",
    "<name>",
    "Make a token for the HTTP API (/api/v1); it is shown once, to you alone. Admins.",
    Arg("name", NAME),
    writes=True,
)
async def token_add(ctx: Ctx, name: str) -> Message:
    require_admin(ctx, "make API tokens")
    if ctx.command.seen_by_others:
        raise UserError("A token is shown once and only to you: run token add in your own chat with okrbot.")
    if await ctx.repo.api_token(name) is not None:
        raise UserError(f'A token "{name}" exists already: pick another name, or `token revoke {name}` first.')
    token = new_token()
    await ctx.repo.add(
        ApiToken(
            workspace_id=ctx.repo.workspace_id,
            name=name,
            digest=token_digest(token),
            created_by_id=row_id(ctx.actor),
            created_at=ctx.now,
        )
    )
    return Message.of(
        Text(spans(f"Token {name} made. It is shown this once: keep it where your scripts keep secrets.")),
        Text((f"`{token}`",)),
        Context(
            (
                f"Send it as Authorization: Bearer <token> to /api/v1 (it acts with your rights); "
                f"`token revoke {name}` ends it.",
            )
        ),
    )


@command("token list", "", "The API tokens: who made each and when it was last used. Admins.")
async def token_list(ctx: Ctx) -> Message:
    require_admin(ctx, "see the API tokens")
    tokens = await ctx.repo.api_tokens()
    if not tokens:
        return Message.of(Text(("No API tokens yet: make one with token add <name>.",)))
    makers = {row_id(m): m for m in await ctx.repo.members(list({t.created_by_id for t in tokens}))}
    rows = []
    for token in tokens:
        maker = makers.get(token.created_by_id)
        used = f"last used {_day(ctx, token.last_used_at)}" if token.last_used_at else "never used"
        made = spans("made by ", mention(maker) if maker else "?", f" on {_day(ctx, token.created_at)} · {used}")
        rows.append((token.name, made))
    return Message.of(Header(("API tokens",)), Fields(tuple(rows)))


@command("token revoke", "<name>", "End an API token at once. Admins.", Arg("name", NAME), writes=True)
async def token_revoke(ctx: Ctx, name: str) -> Message:
    require_admin(ctx, "revoke API tokens")
    token = await ctx.repo.api_token(name)
    if token is None:
        raise UserError(f'There is no token "{name}"; `token list` shows them.')
    await ctx.repo.revoke_api_token(token)
    return Message.of(Text((f"Token {name} revoked: requests with it are refused from now on.",)))


def _day(ctx: Ctx, at: dt.datetime) -> str:
    local = as_utc(at).astimezone(zone(ctx.actor.timezone or ctx.workspace.timezone))
    return f"{local:%Y-%m-%d %H:%M}"
