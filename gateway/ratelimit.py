"""Fixed-window rate limits per principal: Redis when REDIS_URL is set (shared by replicas), else in-process.

Besides counting requests (`hit`), a window can be read without counting (`peek`) and emptied (`reset`): the
login slow-down counts an account's failures with them (gateway/tokens/throttle.py). `count` is `hit` that also
says what is left of the window (`Quota`): the gateway answers it in the `RateLimit-Policy` / `RateLimit` fields
of draft-ietf-httpapi-ratelimit-headers (`quota_headers`).

Draft -11 (2026) defines two structured fields: `RateLimit-Policy: "default";q=1200;w=60` (the quota `q` per window
`w` seconds) and `RateLimit: "default";r=17;t=42` (`r` requests left, `t` seconds until the window resets). Most
client libraries and API gateways in use still read the trio of the earlier drafts (-06/-07: `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset`), so both forms are sent: they say the same thing and cost ~100 bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "InMemoryRateLimiter",
    "Quota",
    "RateLimiter",
    "RedisRateLimiter",
    "make_rate_limiter",
    "quota_headers",
]


@dataclass(frozen=True, slots=True)
class Quota:
    """One counted request's window: the policy (`limit` per `window` seconds) and what is left of it."""

    policy: str
    limit: int
    window: int
    #: Requests still allowed in this window (0 once refused).
    remaining: int
    #: Whole seconds until the window resets (at least 1).
    reset: int
    #: Whether this request was over the limit.
    exceeded: bool

    @property
    def retry_after(self) -> int:
        """Seconds to wait before the next request may pass (0 when this one passed)."""
        return self.reset if self.exceeded else 0


def _sf_token(name: str) -> str:
    """A structured-field string item (RFC 9651 §3.3.3) naming a policy."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quota_headers(quota: Quota) -> dict[str, str]:
    """The rate-limit header fields of an answer (the module doc): the current draft's and the legacy trio."""
    name = _sf_token(quota.policy)
    return {
        "RateLimit-Policy": f"{name};q={quota.limit};w={quota.window}",
        "RateLimit": f"{name};r={quota.remaining};t={quota.reset}",
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset),
    }


def _quota(policy: str, limit: int, window: int, count: int, now: float) -> Quota:
    current = int(now // window)
    reset = max(1, int((current + 1) * window - now + 0.999))
    return Quota(policy, limit, window, max(0, limit - count), reset, count > limit)


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: int = 60) -> int:
        """Count one request; return 0 if allowed, else the seconds until the window resets."""
        ...

    async def count(self, key: str, limit: int, window: int = 60, *, policy: str = "default") -> Quota:
        """Count one request and say what is left of its window."""
        ...

    async def peek(self, key: str, window: int = 60) -> int:
        """How many hits the current window of `key` holds (counting nothing)."""
        ...

    async def reset(self, key: str, window: int = 60) -> None:
        """Empty the current window of `key`."""
        ...

    async def close(self) -> None: ...


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int, int]] = {}  # key -> (window index, count, window seconds)

    async def hit(self, key: str, limit: int, window: int = 60) -> int:
        return (await self.count(key, limit, window)).retry_after

    async def count(self, key: str, limit: int, window: int = 60, *, policy: str = "default") -> Quota:
        now = time.time()
        current = int(now // window)
        start, count, _ = self._windows.get(key, (current, 0, window))
        if start != current:
            count = 0
            if len(self._windows) > 100_000:  # drop stale windows (each by its own length): bounded memory
                self._windows = {k: v for k, v in self._windows.items() if v[0] == int(now // v[2])}
        count += 1
        self._windows[key] = (current, count, window)
        return _quota(policy, limit, window, count, now)

    async def peek(self, key: str, window: int = 60) -> int:
        start, count, _ = self._windows.get(key, (-1, 0, window))
        return count if start == int(time.time() // window) else 0

    async def reset(self, key: str, window: int = 60) -> None:
        self._windows.pop(key, None)

    async def close(self) -> None:
        self._windows.clear()


class RedisRateLimiter:
    """Counters `{prefix}{key}:{window index}` (`jz:rl:` unless `REDIS_KEY_PREFIX` says otherwise)."""

    def __init__(self, url: str, *, prefix: str = "jz:rl:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str, limit: int, window: int = 60) -> int:
        return (await self.count(key, limit, window)).retry_after

    async def count(self, key: str, limit: int, window: int = 60, *, policy: str = "default") -> Quota:
        now = time.time()
        current = int(now // window)
        redis_key = f"{self._prefix}{key}:{current}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(redis_key)
        pipe.expire(redis_key, window + 1)
        count, _ = await pipe.execute()
        return _quota(policy, limit, window, int(count), now)

    async def peek(self, key: str, window: int = 60) -> int:
        count = await self._redis.get(f"{self._prefix}{key}:{int(time.time() // window)}")
        return int(count) if count is not None else 0

    async def reset(self, key: str, window: int = 60) -> None:
        await self._redis.delete(f"{self._prefix}{key}:{int(time.time() // window)}")

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None, *, prefix: str = "jz:rl:") -> RateLimiter:
    return RedisRateLimiter(redis_url, prefix=prefix) if redis_url else InMemoryRateLimiter()
