"""Multi-workspace Slack kept in okrbot's own database (SQLite or PostgreSQL): installations,
OAuth states, and the event ids already run, so that several instances agree on all three.

Bolt asks the :class:`InstallationStore` for a workspace's bot token on every request
(``installation_store_bot_only``); the :class:`OAuthStateStore` hands out the ``state`` of
/slack/install and takes it back once, on whichever instance Slack's redirect reaches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.command import WorkspaceRef
from store import installations as stored
from store.db import Database
from store.installations import installation_key
from store.models import SlackInstallation, as_utc, utcnow
from store.secrets import SecretBox

log = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=10)
EVENT_TTL = dt.timedelta(hours=2)  # Slack retries an event three times within minutes


def _at(timestamp: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC) if timestamp else None


def _epoch(moment: dt.datetime | None) -> int | None:
    return int(as_utc(moment).timestamp()) if moment else None


class InstallationStore(AsyncInstallationStore):
    """One row per workspace (or org): the latest installation, bot token and installer."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        key = installation_key(
            installation.enterprise_id, installation.team_id, enterprise_wide=bool(installation.is_enterprise_install)
        )
        values: dict[str, Any] = {
            "is_enterprise_install": bool(installation.is_enterprise_install),
            "app_id": installation.app_id,
            "enterprise_name": installation.enterprise_name,
            "enterprise_url": installation.enterprise_url,
            "team_name": installation.team_name,
            "bot_token": installation.bot_token,
            "bot_id": installation.bot_id,
            "bot_user_id": installation.bot_user_id,
            "bot_scopes": ",".join(installation.bot_scopes or []),
            "bot_refresh_token": installation.bot_refresh_token,
            "bot_token_expires_at": _at(installation.bot_token_expires_at),
            "user_id": installation.user_id or "",
            "user_token": installation.user_token,
            "user_scopes": ",".join(installation.user_scopes or []),
            "user_refresh_token": installation.user_refresh_token,
            "user_token_expires_at": _at(installation.user_token_expires_at),
            "token_type": installation.token_type,
            "installed_at": utcnow(),
        }
        await stored.save_installation(self.db, self.box, key, values)
        log.info("slack: installed in %s (by %s)", key["team_id"] or key["enterprise_id"], installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        await self.async_save(
            Installation(
                app_id=bot.app_id, enterprise_id=bot.enterprise_id, enterprise_name=bot.enterprise_name,
                team_id=bot.team_id, team_name=bot.team_name, bot_token=bot.bot_token, bot_id=bot.bot_id,
                bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes, bot_refresh_token=bot.bot_refresh_token,
                bot_token_expires_at=bot.bot_token_expires_at, is_enterprise_install=bot.is_enterprise_install,
                user_id="",
            )
        )  # fmt: skip

    async def _row(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> SlackInstallation | None:
        key = installation_key(enterprise_id, team_id, enterprise_wide=bool(is_enterprise_install))
        return await stored.find_installation(self.db, self.box, key)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        row = await self._row(enterprise_id, team_id, is_enterprise_install)
        if row is None or not row.bot_token:
            return None
        return Bot(
            app_id=row.app_id, enterprise_id=row.enterprise_id or None, enterprise_name=row.enterprise_name,
            team_id=row.team_id or None, team_name=row.team_name, bot_token=row.bot_token,
            bot_id=row.bot_id or "", bot_user_id=row.bot_user_id or "", bot_scopes=row.bot_scopes,
            bot_refresh_token=row.bot_refresh_token, bot_token_expires_at=_epoch(row.bot_token_expires_at),
            is_enterprise_install=row.is_enterprise_install, installed_at=as_utc(row.installed_at).timestamp(),
        )  # fmt: skip

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        row = await self._row(enterprise_id, team_id, is_enterprise_install)
        if row is None or (user_id is not None and row.user_id != user_id):
            return None
        return Installation(
            app_id=row.app_id, enterprise_id=row.enterprise_id or None, enterprise_name=row.enterprise_name,
            enterprise_url=row.enterprise_url, team_id=row.team_id or None, team_name=row.team_name,
            bot_token=row.bot_token, bot_id=row.bot_id, bot_user_id=row.bot_user_id, bot_scopes=row.bot_scopes,
            bot_refresh_token=row.bot_refresh_token, bot_token_expires_at=_epoch(row.bot_token_expires_at),
            user_id=row.user_id, user_token=row.user_token, user_scopes=row.user_scopes,
            user_refresh_token=row.user_refresh_token, user_token_expires_at=_epoch(row.user_token_expires_at),
            is_enterprise_install=row.is_enterprise_install, token_type=row.token_type,
            installed_at=as_utc(row.installed_at).timestamp(),
        )  # fmt: skip

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The bot token is revoked: the workspace's installation goes (okrbot asks for no user scope)."""
        await self._delete(enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Without a user, the installation goes; with one, only that installer's user token."""
        if user_id is None:
            await self._delete(enterprise_id, team_id)
            return
        await stored.drop_user_token(self.db, installation_key(enterprise_id, team_id), user_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._delete(enterprise_id, team_id)

    async def _delete(self, enterprise_id: str | None, team_id: str | None) -> None:
        await stored.delete_installation(self.db, installation_key(enterprise_id, team_id))
        log.info("slack: installation removed for %s", team_id or enterprise_id)

    async def token_for(self, workspace: WorkspaceRef) -> str | None:
        """The bot token of a workspace, for the Outbound (scheduled prompts and digests)."""
        bot = await self.async_find_bot(enterprise_id=None, team_id=workspace.external_id)
        return bot.bot_token if bot else None


class OAuthStateStore(AsyncOAuthStateStore):
    """States signed with SLACK_STATE_SECRET and kept in the database until used or expired.

    The signature turns away forged states without a query; the row makes each state good once,
    on any instance (``DELETE … WHERE state = ?`` succeeds for exactly one caller).
    """

    def __init__(self, db: Database, secret: str, *, ttl: dt.timedelta = STATE_TTL) -> None:
        self.db = db
        self.secret = secret.encode()
        self.ttl = ttl

    @property
    def logger(self) -> logging.Logger:
        return log

    def _sign(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        nonce = secrets.token_urlsafe(24)
        state = f"{nonce}.{self._sign(nonce)}"
        now = utcnow()
        await stored.issue_state(self.db, state, now=now, expires_at=now + self.ttl)
        return state

    async def async_consume(self, state: str) -> bool:
        nonce, _, signature = (state or "").partition(".")
        if not nonce or not hmac.compare_digest(signature, self._sign(nonce)):
            log.info("slack: an OAuth state that okrbot did not sign was refused")
            return False
        return await stored.consume_state(self.db, state, now=utcnow())


class SeenEvents:
    """Slack's event ids already run, in the database: a retry reaching another instance, or this
    one after a restart, is still recognised."""

    def __init__(self, db: Database, *, ttl: dt.timedelta = EVENT_TTL) -> None:
        self.db = db
        self.ttl = ttl

    async def first_time(self, event_id: str) -> bool:
        """Record the event id; False when it was recorded already."""
        return await stored.first_sight_of_event(self.db, event_id, now=utcnow(), ttl=self.ttl)
