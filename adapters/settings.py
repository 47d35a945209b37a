"""One typed settings object, read from the environment (and a ``.env`` file) at start-up.

Each surface and the scheduler have a part of their own (``settings.slack``, ``settings.webchat``,
``settings.scheduler`` …), and each is handed only its part.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import DEFAULT_URL, POOL
from store.secrets import SecretBox


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    client_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    state_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_STATE_SECRET")
    api_url: str = Field(default="https://slack.com/api/", validation_alias="OKRBOT_SLACK_API_URL")

    @property
    def enabled(self) -> bool:
        return self.signing_secret is not None and (self.bot_token is not None or self.client_id is not None)


class TeamsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    app_id: str = Field(default="", validation_alias="MICROSOFT_APP_ID")
    app_password: SecretStr = Field(default=SecretStr(""), validation_alias="MICROSOFT_APP_PASSWORD")
    app_tenant_id: str = Field(default="", validation_alias="MICROSOFT_APP_TENANT_ID")
    app_type: str = Field(default="MultiTenant", validation_alias="MICROSOFT_APP_TYPE")


class WebChatSettings(BaseSettings):
    """``auto``: on when no Slack or Teams credentials are set. ``public``: answer every client,
    not only this machine (it has no login)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mode: Literal["auto", "on", "off"] = Field(default="auto", validation_alias="OKRBOT_WEBCHAT")
    public: bool = Field(default=False, validation_alias="OKRBOT_WEBCHAT_PUBLIC")


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    #: Requests a second per token on ``/api/v1`` (each instance), in bursts of up to twice that.
    rate: float = Field(default=10.0, gt=0, validation_alias="OKRBOT_API_RATE")


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    #: A run missed by less than this (the server was down) still goes when it comes back.
    misfire_grace_hours: float = Field(default=6.0, validation_alias="OKRBOT_MISFIRE_GRACE_HOURS")
    dispatch_workers: int = Field(default=4, validation_alias="OKRBOT_DISPATCH_WORKERS")
    #: How long a claimed message waits before another instance presumes its sender dead and sends it.
    dispatch_lease_seconds: float = Field(default=600.0, validation_alias="OKRBOT_DISPATCH_LEASE_SECONDS")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(default=DEFAULT_URL, validation_alias=AliasChoices("OKRBOT_DATABASE_URL", "DATABASE_URL"))
    #: PostgreSQL connections per instance (SQLite has its own few).
    database_pool: int = Field(default=POOL, ge=1, le=200, validation_alias="OKRBOT_DATABASE_POOL")
    host: str = Field(default="127.0.0.1", validation_alias="OKRBOT_HOST")
    port: int = Field(default=3978, validation_alias=AliasChoices("OKRBOT_PORT", "PORT"))
    timezone: str = Field(default="UTC", validation_alias="OKRBOT_TIMEZONE")
    log_level: str = Field(default="INFO", validation_alias="OKRBOT_LOG_LEVEL")
    #: A log line per HTTP request. Off by default: /metrics counts and times every request, and
    #: a platform's router (Heroku, an ingress) logs requests already; a line each cost a tenth
    #: of a kept reply's CPU (bench/slack.py).
    access_log: bool = Field(default=False, validation_alias="OKRBOT_ACCESS_LOG")
    #: A request whose body has not fully arrived in this many seconds is answered 408 and closed,
    #: so a client that sends headers and half a body, then stalls, does not hold a connection.
    body_timeout_seconds: float = Field(default=10.0, validation_alias="OKRBOT_BODY_TIMEOUT_SECONDS")
    slack: SlackSettings = Field(default_factory=SlackSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    webchat: WebChatSettings = Field(default_factory=WebChatSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    #: Fernet keys, comma-separated, the first encrypting: what okrbot stores that would let
    #: someone act as it (Slack installations' tokens) is kept encrypted with it (store/secrets.py).
    secret_key: SecretStr | None = Field(default=None, validation_alias="OKRBOT_SECRET_KEY")

    def secret_box(self) -> SecretBox | None:
        """The key's box; None when OKRBOT_SECRET_KEY is unset. SecretKeyError for a bad key."""
        return SecretBox(self.secret_key.get_secret_value()) if self.secret_key else None

    @property
    def platform_configured(self) -> bool:
        """Some Slack or Teams credential is set (the web chat's ``auto`` then stays off)."""
        slack = self.slack
        return bool(slack.bot_token or slack.signing_secret or slack.app_token or slack.client_id or self.teams.app_id)
