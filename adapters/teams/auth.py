"""Bot Framework authentication from okrbot's settings, with connector clients kept per service URL.

The stock ``CloudAdapter`` builds a new ``ConnectorClient`` (msrest configuration, a new aiohttp
session that is never closed) and a new user-token client on every turn; that is most of a
turn's CPU. :class:`ReusingAuthentication` wraps the SDK's own authentication, public API only,
and hands out one connector client per (app id, service URL, audience) and one user-token client
per app id, closed when the server stops; the connector clients send over one aiohttp session
(adapters/teams/transport.py) instead of ``requests`` in a thread. Token validation is untouched: every inbound request
still goes through the SDK's ``authenticate_request``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)

from adapters.settings import TeamsSettings
from adapters.teams.transport import aiohttp_pipeline

log = logging.getLogger("okrbot.teams")
MAX_CLIENTS = 64
APP_TYPES = {"multitenant": "MultiTenant", "singletenant": "SingleTenant", "userassignedmsi": "UserAssignedMSI"}


@dataclass(frozen=True)
class SdkConfig:
    """The attribute names ``ConfigurationBotFrameworkAuthentication`` reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TENANTID: str
    APP_TYPE: str

    def __repr__(self) -> str:  # never show the password in a log or traceback
        return f"SdkConfig(APP_ID={self.APP_ID!r}, APP_TYPE={self.APP_TYPE!r}, APP_TENANTID={self.APP_TENANTID!r})"


def sdk_config(settings: TeamsSettings) -> SdkConfig:
    """MICROSOFT_APP_* mapped onto the SDK's names; ValueError with a sentence naming what is missing."""
    app_type = APP_TYPES.get(settings.app_type.strip().lower().replace("-", ""))
    if app_type is None:
        raise ValueError(
            f"MICROSOFT_APP_TYPE is {settings.app_type[:30]!r}; use SingleTenant, MultiTenant or UserAssignedMSI."
        )
    app_id = settings.app_id.strip()
    password = settings.app_password.get_secret_value()
    tenant = settings.app_tenant_id.strip()
    if app_id:
        if app_type != "UserAssignedMSI" and not password:
            raise ValueError("MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is missing.")
        if app_type in ("SingleTenant", "UserAssignedMSI") and not tenant:
            raise ValueError(f"MICROSOFT_APP_TYPE={app_type} needs MICROSOFT_APP_TENANT_ID (your Azure AD tenant id).")
    elif app_type != "MultiTenant":
        raise ValueError(f"MICROSOFT_APP_TYPE={app_type} needs MICROSOFT_APP_ID.")
    return SdkConfig(APP_ID=app_id, APP_PASSWORD=password, APP_TENANTID=tenant, APP_TYPE=app_type)


class _Clients:
    """Connector clients by key, least recently used dropped (and closed) past MAX_CLIENTS, and the
    one aiohttp session they all send through (adapters/teams/transport.py)."""

    def __init__(self) -> None:
        self.clients: OrderedDict[tuple[str, str, str], ConnectorClient] = OrderedDict()
        self.created = 0
        self.dropped: list[ConnectorClient] = []
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def get(self, key: tuple[str, str, str]) -> ConnectorClient | None:
        client = self.clients.get(key)
        if client is not None:
            self.clients.move_to_end(key)
        return client

    def put(self, key: tuple[str, str, str], client: ConnectorClient) -> None:
        self.clients[key] = client
        self.created += 1
        while len(self.clients) > MAX_CLIENTS:
            _, old = self.clients.popitem(last=False)
            self.dropped.append(old)

    async def close(self) -> None:
        for client in [*self.clients.values(), *self.dropped]:
            await _close(client)
        self.clients.clear()
        self.dropped.clear()
        if self._session is not None:
            await self._session.close()


async def _close(client: ConnectorClient) -> None:
    try:
        await client.__aexit__(None, None, None)  # msrest's SDKClientAsync closes as a context manager
    except Exception:
        log.debug("closing a connector client failed", exc_info=True)


class ReusingConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, clients: _Clients, app_id: str) -> None:
        self._inner = inner
        self._clients = clients
        self._app_id = app_id

    async def create(self, service_url: str, audience: str = None) -> ConnectorClient:  # type: ignore[assignment]
        key = (self._app_id, service_url, audience or "")
        client = self._clients.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            client.config.pipeline = aiohttp_pipeline(client.config, self._clients.session())
            self._clients.put(key, client)
        return client


def _app_id(claims_identity: ClaimsIdentity | None) -> str:
    if claims_identity is None:
        return ""
    return str(
        claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
        or claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
        or ""
    )


class ReusingAuthentication(BotFrameworkAuthentication):
    """The SDK's authentication, with connector and user-token clients reused across turns."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self._clients = _Clients()
        self._user_token_clients: dict[str, UserTokenClient] = {}

    @property
    def connectors_created(self) -> int:
        return self._clients.created

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = ReusingConnectorFactory(
                result.connector_factory, self._clients, _app_id(result.claims_identity)
            )
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return ReusingConnectorFactory(
            self._inner.create_connector_factory(claims_identity), self._clients, _app_id(claims_identity)
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = _app_id(claims_identity)
        client = self._user_token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            if len(self._user_token_clients) < MAX_CLIENTS:
                self._user_token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

    async def close(self) -> None:
        await self._clients.close()


def authentication(settings: TeamsSettings, *, reuse: bool = True) -> BotFrameworkAuthentication:
    """The SDK's ConfigurationBotFrameworkAuthentication for these settings (wrapped unless told not)."""
    stock = ConfigurationBotFrameworkAuthentication(sdk_config(settings))
    return ReusingAuthentication(stock) if reuse else stock


def describe(settings: TeamsSettings) -> str:
    """How requests are authenticated, for the start-up log line: ids, never the password."""
    config = sdk_config(settings)
    if not config.APP_ID:
        return (
            "AUTHENTICATION OFF: MICROSOFT_APP_ID is not set, so the Bot Framework SDK checks no tokens; "
            "okrbot answers POST /api/messages from loopback clients only (the Bot Framework Emulator). "
            "Set MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TENANT_ID and "
            "MICROSOFT_APP_TYPE=SingleTenant to serve Teams"
        )
    tenant = f", tenant {config.APP_TENANTID}" if config.APP_TENANTID else ""
    return f"Bot Framework tokens required ({config.APP_TYPE}, app id {config.APP_ID}{tenant})"
