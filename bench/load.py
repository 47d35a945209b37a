"""A load generator for okrbot's HTTP surfaces, run in its own process so it never shares a loop
(or a GIL) with the server it measures.

Two loads:

- **open loop** at a fixed offered rate: request *i* is due at ``start + i / rate`` whether or not
  earlier ones have answered, and its latency counts from when it was due (no coordinated
  omission: a server that stalls pays for every request that queued behind the stall);
- **closed loop**: ``concurrency`` workers, each sending its next request when the last answered.

Both are bounded in count and in time. The plan comes as JSON on stdin, the result goes as JSON to
stdout::

    {"url": "http://127.0.0.1:8080/slack/events", "kind": "slack" | "json", "secret": "...",
     "bodies": ["...", ...], "expect": "Checked in" | null, "mode": "open" | "closed",
     "rate": 50, "concurrency": 50, "duration": 5.0, "max_requests": 20000}

``kind: slack`` posts each body as a form, signed as Slack signs (a fresh timestamp each time);
``kind: json`` posts it as ``application/json``. Optional ``method`` (``GET`` sends no body),
``paths`` (request *i* goes to ``url + paths[i % len]``) and ``headers`` (e.g. an API token)
serve the HTTP API's benchmark (bench/api.py). A request is an error when it fails, times out,
answers other than 200/201, or (with ``expect``) answers without that text. A Slack request acked
empty (okrbot's reply missed its 2 s ack budget and goes through ``response_url``) is counted as
deferred, with the ack's latency: the reply itself comes later still.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

REQUEST_TIMEOUT = 10.0  # seconds; a request slower than this is an error
DRAIN = 15.0  # seconds the open loop waits for its last requests after the schedule ends


@dataclass
class Plan:
    url: str
    bodies: list[str]
    kind: str = "json"
    secret: str = ""
    expect: str | None = None
    mode: str = "open"
    rate: float = 50.0
    concurrency: int = 50
    duration: float = 5.0
    max_requests: int = 20_000
    method: str = "POST"
    paths: list[str] = field(default_factory=lambda: [""])
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    sent: int = 0
    errors: int = 0
    deferred: int = 0  # Slack: acked empty, the reply sent through response_url after the ack budget
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    first_error: str = ""

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["latencies"] = [round(x, 6) for x in self.latencies]
        return out


def slack_headers(body: str, secret: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


class Client:
    def __init__(self, plan: Plan, http: aiohttp.ClientSession, outcome: Outcome) -> None:
        self.plan, self.http, self.outcome = plan, http, outcome
        self.bodies = itertools.cycle(plan.bodies)
        self.paths = itertools.cycle(plan.paths)

    async def one(self, due: float) -> None:
        plan, outcome = self.plan, self.outcome
        body = next(self.bodies)
        headers = slack_headers(body, plan.secret) if plan.kind == "slack" else {"Content-Type": "application/json"}
        data = body.encode() if plan.method != "GET" else None
        outcome.sent += 1
        try:
            url, sent_headers = plan.url + next(self.paths), headers | plan.headers
            async with self.http.request(plan.method, url, data=data, headers=sent_headers) as response:
                text = await response.text()
                if plan.kind == "slack" and response.status == 200 and not text:
                    # okrbot acks with nothing when a reply is not ready within its ack budget
                    # (2 s) and sends it through response_url instead: late, not lost.
                    outcome.deferred += 1
                elif response.status not in (200, 201) or (plan.expect is not None and plan.expect not in text):
                    self._error(f"HTTP {response.status}: {text[:200]}")
                    return
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._error(f"{exc.__class__.__name__}: {exc}"[:200])
            return
        outcome.latencies.append(time.perf_counter() - due)

    def _error(self, what: str) -> None:
        self.outcome.errors += 1
        self.outcome.first_error = self.outcome.first_error or what


async def open_loop(client: Client) -> None:
    plan = client.plan
    count = min(plan.max_requests, int(plan.rate * plan.duration))
    start = time.perf_counter()
    tasks = set()
    for i in range(count):
        due = start + i / plan.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(client.one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=DRAIN)
        for task in pending:
            task.cancel()
        client.outcome.errors += len(pending)


async def closed_loop(client: Client) -> None:
    plan = client.plan
    deadline = time.perf_counter() + plan.duration
    budget = itertools.count()

    async def worker() -> None:
        while time.perf_counter() < deadline and next(budget) < plan.max_requests:
            await client.one(time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(plan.concurrency)))


async def run(plan: Plan) -> Outcome:
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        client = Client(plan, http, outcome)
        # A few warm-up requests open connections and fill caches; they are not counted.
        warm = Client(plan, http, Outcome())
        await asyncio.gather(*(warm.one(time.perf_counter()) for _ in range(min(10, plan.concurrency))))
        started = time.perf_counter()
        await (open_loop(client) if plan.mode == "open" else closed_loop(client))
        outcome.seconds = time.perf_counter() - started
    return outcome


def main() -> None:
    plan = Plan(**json.load(sys.stdin))
    outcome = asyncio.run(run(plan))
    json.dump(outcome.summary(), sys.stdout)


if __name__ == "__main__":
    main()
