"""Pacing: token buckets per (platform, workspace, target) and per (platform, workspace).

Sending waits for a token in both buckets, so one channel never gets more than its platform
allows (Slack: about one message a second per channel) and one workspace stays under the
platform's per-workspace (Slack) or per-tenant (Teams, 30 requests/s) limit. Buckets are per
workspace, so a 10,000-person fan-out in one workspace does not hold back another's: when a
bucket would make a message wait longer than the dispatcher's inline wait, the dispatcher puts
that row back for later and sends another workspace's first. A ``Retry-After`` from the platform
blocks the workspace's bucket for that long. Buckets live in one process; with N instances each
paces on its own, and the platform's 429 + ``Retry-After`` is what keeps them in line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second
    burst: float  # bucket size


@dataclass(frozen=True)
class PlatformLimits:
    per_target: Limit | None
    per_workspace: Limit | None


#: The platforms' published limits: Slack chat.postMessage ~1/s per channel and a workspace-wide
#: limit it does not publish (10/s here, configurable); Teams 7/s (60 per 30 s) per conversation and
#: 30 requests/s per bot per tenant. The local surfaces are not limited.
DEFAULT_LIMITS: dict[str, PlatformLimits] = {
    "slack": PlatformLimits(Limit(1.0, 1.0), Limit(10.0, 10.0)),
    "teams": PlatformLimits(Limit(2.0, 7.0), Limit(30.0, 30.0)),
}


@dataclass
class Bucket:
    limit: Limit
    tokens: float
    updated: float
    blocked_until: float = 0.0

    def _refill(self, now: float) -> None:
        self.tokens = min(self.limit.burst, self.tokens + (now - self.updated) * self.limit.rate)
        self.updated = now

    def reserve(self, now: float) -> float:
        """Take a token now, owing it when none is left: the seconds until it is really ours.

        Reserving rather than polling gives waiting senders their turns in order: a sender never
        loses its turn to one that asked later.
        """
        self._refill(now)
        self.tokens -= 1
        owed = -self.tokens / self.limit.rate if self.tokens < 0 else 0.0
        return max(owed, self.blocked_until - now, 0.0)

    def refund(self) -> None:
        self.tokens += 1


@dataclass
class Pacer:
    limits: Mapping[str, PlatformLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    monotonic: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, ...], Bucket] = field(default_factory=dict)

    def _bucket(self, key: tuple[str, ...], limit: Limit) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:  # forget idle targets rather than grow without bound
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < b.limit.burst}
            bucket = self._buckets[key] = Bucket(limit, limit.burst, self.monotonic())
        return bucket

    def _pair(self, platform: str, workspace: str, target: str) -> list[Bucket]:
        limits = self.limits.get(platform)
        if limits is None:
            return []
        out = []
        if limits.per_workspace is not None:
            out.append(self._bucket((platform, workspace), limits.per_workspace))
        if limits.per_target is not None:
            out.append(self._bucket((platform, workspace, target), limits.per_target))
        return out

    def reserve(self, platform: str, workspace: str, target: str, *, max_wait: float) -> float:
        """Reserve a send to ``target``: the seconds to wait before sending (0: now). When that
        would be more than ``max_wait`` nothing is reserved and the answer is how long to put the
        message back for."""
        now = self.monotonic()
        buckets = self._pair(platform, workspace, target)
        wait = max((b.reserve(now) for b in buckets), default=0.0)
        if wait > max_wait:
            for bucket in buckets:
                bucket.refund()
        return wait

    def block(self, platform: str, workspace: str, seconds: float) -> None:
        """The platform said Retry-After: nothing more to this workspace before then."""
        limits = self.limits.get(platform)
        if limits is None or limits.per_workspace is None:
            return
        bucket = self._bucket((platform, workspace), limits.per_workspace)
        bucket.blocked_until = max(bucket.blocked_until, self.monotonic() + seconds)
