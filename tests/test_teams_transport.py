"""The Bot Connector client over aiohttp (adapters/teams/transport.py): the SDK's own ConnectorClient
and its operations, the loopback fake Connector on the other end."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import aiohttp
import pytest
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from fakes.connector import FakeConnector
from msrest.authentication import BasicTokenAuthentication
from msrest.exceptions import ClientRequestError, HttpOperationError

from adapters.teams.outbound import _status
from adapters.teams.transport import aiohttp_pipeline


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = await FakeConnector().start()
    yield fake
    await fake.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def client(service_url: str, session: aiohttp.ClientSession, credentials=None) -> ConnectorClient:
    """The SDK's client; without ``credentials``, the SDK's own for no app id (the Emulator's case)."""
    connector_client = ConnectorClient(credentials or MicrosoftAppCredentials("", ""), base_url=service_url)
    connector_client.config.pipeline = aiohttp_pipeline(connector_client.config, session)
    return connector_client


def message(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text)


async def test_a_reply_goes_over_the_loop_with_the_credentials_bearer_token(connector, session):
    credentials = BasicTokenAuthentication({"access_token": "token-123"})  # msrest's own credentials class
    threads = threading.active_count()
    answer = await client(connector.service_url, session, credentials).conversations.reply_to_activity(
        "a:personal-alice", "in-1", message("Hello <there> & ünïcode")
    )
    assert answer.id.startswith("act-")  # the response deserialized into the SDK's model
    (call,) = connector.of("reply")
    assert call.conversation_id == "a:personal-alice" and call.activity_id == "in-1"
    assert call.body["text"] == "Hello <there> & ünïcode" and call.body["type"] == "message"
    assert call.authorization == "Bearer token-123"
    assert threading.active_count() == threads  # no thread pool started for the request


async def test_without_an_app_id_no_authorization_header_is_sent(connector, session):
    await client(connector.service_url, session).conversations.send_to_conversation("a:c", message("hi"))
    assert connector.of("send")[0].authorization == ""


async def test_a_throttled_call_raises_the_sdk_error_with_status_and_retry_after(connector, session):
    connector.fail("send", 429, retry_after=7)
    with pytest.raises(HttpOperationError) as raised:
        await client(connector.service_url, session).conversations.send_to_conversation("a:c", message("hi"))
    assert _status(raised.value) == (429, 7.0)  # what TeamsOutbound backs off on
    await client(connector.service_url, session).conversations.send_to_conversation("a:c", message("again"))
    assert [call.body["text"] for call in connector.of("send")] == ["hi", "again"]


async def test_an_unreachable_connector_raises_client_request_error(session, unused_tcp_port):
    with pytest.raises(ClientRequestError):
        await client(f"http://127.0.0.1:{unused_tcp_port}/", session).conversations.send_to_conversation(
            "a:c", message("hi")
        )


async def test_closing_a_client_leaves_the_shared_session_open(connector, session):
    first = client(connector.service_url, session)
    await first.conversations.send_to_conversation("a:c", message("one"))
    await first.__aexit__(None, None, None)  # how msrest closes a client (it has no close())
    assert not session.closed
    await client(connector.service_url, session).conversations.send_to_conversation("a:c", message("two"))
    assert len(connector.of("send")) == 2
