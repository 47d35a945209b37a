"""The floor for Slack: a bare slack-bolt async app on aiohttp that acks ``/okr`` with a fixed text.

Same SDK, same signature check and same ack path as okrbot's Slack surface, and nothing else: no
core, no database, no rendering. ``python -m bench.bare_slack --port N`` (signing secret in
``SLACK_SIGNING_SECRET``, the fake Web API in ``SLACK_API_URL``); GET /healthz answers once it listens.
"""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build() -> web.Application:
    bolt = AsyncApp(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        # Bolt asks auth.test once for the token: at the same loopback fake Slack API as okrbot.
        client=AsyncWebClient(token="xoxb-bare", base_url=os.environ["SLACK_API_URL"]),
    )

    @bolt.command("/okr")
    async def okr(ack) -> None:  # type: ignore[no-untyped-def]
        await ack(response_type="ephemeral", text="okrbot is listening.")

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_slack")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(build(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
