"""Slack's multi-workspace rows: installations, OAuth states and the event ids already run.

Each statement says in one round trip what several instances must agree on: an upsert for an
install two instances finish at once, a ``DELETE … WHERE state = ?`` that succeeds for exactly one
caller, an ``INSERT … ON CONFLICT DO NOTHING`` that tells the first sight of an event from a retry.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from store.db import Database, dialect_insert, rowcount
from store.models import SlackEvent, SlackInstallation, SlackOAuthState
from store.secrets import SecretBox, is_sealed

#: The columns that would let someone act as okrbot: kept sealed (store/secrets.py).
SECRETS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")

#: One first sight of an event in this many also forgets the events Slack no longer retries.
PRUNE_ONE_IN = 100


def installation_key(
    enterprise_id: str | None, team_id: str | None, *, enterprise_wide: bool = False
) -> dict[str, str]:
    """The row's unique key; an org-wide install is found by its enterprise alone ("" for absent)."""
    return {"enterprise_id": enterprise_id or "", "team_id": "" if enterprise_wide else team_id or ""}


async def save_installation(db: Database, box: SecretBox, key: Mapping[str, str], values: Mapping[str, Any]) -> None:
    """Insert or replace the installation under ``key`` (an upsert: two instances may finish at
    once), its tokens sealed."""
    values = {name: box.seal(value) if name in SECRETS else value for name, value in values.items()}
    async with db.write() as session:
        insert = await dialect_insert(session)
        upsert = insert(SlackInstallation).values(**key, **values)
        await rowcount(session, upsert.on_conflict_do_update(index_elements=list(key), set_=values))


async def find_installation(db: Database, box: SecretBox, key: Mapping[str, str]) -> SlackInstallation | None:
    """The installation under ``key``, its tokens opened (the row is detached: nothing is written back)."""
    async with db.read() as session:
        row = (await session.exec(select(SlackInstallation).filter_by(**key))).first()
        if row is not None:
            session.expunge(row)
    if row is not None:
        for name in SECRETS:
            setattr(row, name, box.open(getattr(row, name)))
    return row


async def seal_installations(db: Database, box: SecretBox, *, again: bool = False) -> int:
    """Check that ``box`` opens every stored token and seal those stored before encryption; with
    ``again`` (``okrbot secrets rotate``) seal every one afresh with the first key. One
    transaction: a key that opens some but not all changes nothing. The rows changed."""
    changed = 0
    async with db.write() as session:
        for row in (await session.exec(select(SlackInstallation))).all():
            before = {name: getattr(row, name) for name in SECRETS}
            for name, stored in before.items():
                box.open(stored)  # raises SecretKeyError for a key that does not open it
                if stored is not None and (again or not is_sealed(stored)):
                    setattr(row, name, box.seal_again(stored))
            if any(getattr(row, name) != value for name, value in before.items()):
                session.add(row)
                changed += 1
    return changed


async def drop_user_token(db: Database, key: Mapping[str, str], user_id: str) -> None:
    """Forget an installer's user token; the bot token of the installation stays."""
    async with db.write() as session:
        query = select(SlackInstallation).filter_by(**key, user_id=user_id)
        for row in (await session.exec(query)).all():
            row.user_token, row.user_refresh_token, row.user_token_expires_at = None, None, None
            session.add(row)


async def delete_installation(db: Database, key: Mapping[str, str]) -> None:
    async with db.write() as session:
        await rowcount(session, delete(SlackInstallation).filter_by(**key))


async def issue_state(db: Database, state: str, *, now: dt.datetime, expires_at: dt.datetime) -> None:
    """Keep a new OAuth state until ``expires_at``; the expired ones go with the same write."""
    async with db.write() as session:
        await rowcount(session, delete(SlackOAuthState).where(col(SlackOAuthState.expires_at) < now))
        session.add(SlackOAuthState(state=state, expires_at=expires_at))


async def consume_state(db: Database, state: str, *, now: dt.datetime) -> bool:
    """Use the state up: True for exactly one caller, and only before it expires."""
    async with db.write() as session:
        used = delete(SlackOAuthState).where(col(SlackOAuthState.state) == state, col(SlackOAuthState.expires_at) > now)
        return await rowcount(session, used) == 1


async def first_sight_of_event(db: Database, event_id: str, *, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Record the event id; False when it was recorded already (a retry, on any instance)."""
    async with db.write() as session:
        insert = await dialect_insert(session)
        added = await rowcount(
            session, insert(SlackEvent).values(event_id=event_id[:64], received_at=now).on_conflict_do_nothing()
        )
        if added and secrets.randbelow(PRUNE_ONE_IN) == 0:  # now and then, forget what Slack no longer retries
            await rowcount(session, delete(SlackEvent).where(col(SlackEvent.received_at) < now - ttl))
    return added == 1
