"""Bot Connector calls over one aiohttp session on the event loop, not ``requests`` in a thread.

botframework-connector's ``ConnectorClient`` sends through msrest's default async pipeline,
whose sender runs a blocking ``requests`` call in the loop's thread pool for every reply: a
thread hand-off and back, a GIL fight with the loop, and a new TCP connection per client
session. That was the dearest part of a Teams turn after the connector clients were reused
(bench/teams.py). msrest's pipeline takes any sender; this one is the same pipeline (user agent,
credentials, raw deserializer, HTTP logging: what ``AsyncBfPipeline`` puts together) with an
aiohttp driver on the server's own loop, keep-alive connections shared by every client.

The ``Authorization`` header is what the SDK's credentials put on a session
(``AppCredentials.signed_session``, msrest's credentials contract): a bearer token from MSAL's
cache when an app id is set, none without one (the Emulator). Transport failures surface as
msrest's ``ClientRequestError``, as they do from the stock sender.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import requests
from msrest.exceptions import ClientRequestError
from msrest.pipeline import AsyncHTTPPolicy, AsyncPipeline, SansIOHTTPPolicy
from msrest.pipeline.aiohttp import AioHTTPSender
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http import ClientRequest
from msrest.universal_http.async_abc import AsyncClientResponse, AsyncHTTPSender


class Response(AsyncClientResponse):
    """A whole aiohttp response, read before the pipeline looks at it (msrest reads bodies sync)."""

    def __init__(self, request: ClientRequest, internal: aiohttp.ClientResponse, body: bytes) -> None:
        super().__init__(request, internal)
        self.status_code = internal.status
        self.headers = internal.headers  # type: ignore[assignment]  # case-insensitive, as msrest expects
        self.reason = internal.reason
        self._body = body

    def body(self) -> bytes:
        return self._body


class CredentialsHeader(SansIOHTTPPolicy):
    """The SDK credentials' ``Authorization`` header on every request (none when they add none)."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._signed = requests.Session()  # only ever holds the header signed_session sets

    def on_request(self, request: Any, **kwargs: Any) -> None:
        self._credentials.signed_session(self._signed)
        header = self._signed.headers.get("Authorization")
        if header:
            request.http_request.headers["Authorization"] = header


class SharedSessionDriver(AsyncHTTPSender):
    """Sends a msrest ``ClientRequest`` with a session it does not own (closed by its owner)."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> SharedSessionDriver:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None  # the session outlives any one client

    async def send(self, request: ClientRequest, **config: Any) -> AsyncClientResponse:
        headers = {name: str(value) for name, value in request.headers.items()}
        try:
            async with self._session.request(
                request.method, request.url, headers=headers, data=request.data, timeout=self._timeout
            ) as internal:
                return Response(request, internal, await internal.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ClientRequestError(f"Error occurred in request: {exc.__class__.__name__}") from exc


def aiohttp_pipeline(config: Any, session: aiohttp.ClientSession) -> AsyncPipeline:
    """The pipeline of a ConnectorClient's ``config`` with its requests sender swapped for aiohttp."""
    policies: list[Any] = [config.user_agent_policy, RawDeserializer(), config.http_logger_policy]
    credentials = config.credentials
    if credentials:
        policy = credentials if isinstance(credentials, (AsyncHTTPPolicy, SansIOHTTPPolicy)) else None
        policies.insert(1, policy or CredentialsHeader(credentials))
    driver = SharedSessionDriver(session, timeout=float(config.connection.timeout or 100))
    return AsyncPipeline(policies, AioHTTPSender(driver))  # type: ignore[arg-type]
