"""Fixed-window rate limits per principal: Redis when REDIS_URL is set (shared by replicas), else in-process.

Besides counting requests (`hit`), a window can be read without counting (`peek`) and emptied (`reset`): the
login slow-down counts an account's failures with them (gateway/tokens/throttle.py)."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["InMemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "make_rate_limiter"]


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: int = 60) -> int:
        """Count one request; return 0 if allowed, else the seconds until the window resets."""
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
        now = time.time()
        current = int(now // window)
        start, count, _ = self._windows.get(key, (current, 0, window))
        if start != current:
            count = 0
            if len(self._windows) > 100_000:  # drop stale windows (each by its own length): bounded memory
                self._windows = {k: v for k, v in self._windows.items() if v[0] == int(now // v[2])}
        count += 1
        self._windows[key] = (current, count, window)
        if count > limit:
            return max(1, int((current + 1) * window - now + 0.999))
        return 0

    async def peek(self, key: str, window: int = 60) -> int:
        start, count, _ = self._windows.get(key, (-1, 0, window))
        return count if start == int(time.time() // window) else 0

    async def reset(self, key: str, window: int = 60) -> None:
        self._windows.pop(key, None)

    async def close(self) -> None:
        self._windows.clear()


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)

    async def hit(self, key: str, limit: int, window: int = 60) -> int:
        now = time.time()
        current = int(now // window)
        redis_key = f"jz:rl:{key}:{current}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(redis_key)
        pipe.expire(redis_key, window + 1)
        count, _ = await pipe.execute()
        if int(count) > limit:
            return max(1, int((current + 1) * window - now + 0.999))
        return 0

    async def peek(self, key: str, window: int = 60) -> int:
        count = await self._redis.get(f"jz:rl:{key}:{int(time.time() // window)}")
        return int(count) if count is not None else 0

    async def reset(self, key: str, window: int = 60) -> None:
        await self._redis.delete(f"jz:rl:{key}:{int(time.time() // window)}")

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else InMemoryRateLimiter()
