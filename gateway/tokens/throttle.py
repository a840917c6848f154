"""The per-account slow-down of the token endpoint: how many attempts on an account failed lately, from anywhere.

Three limits guard the token endpoint, from the outside in:
1. per client address, every grant: RATE_LIMIT_LOGIN_PER_MINUTE (gateway/deps.py);
2. per account *and* address: LOGIN_MAX_FAILURES failures in a row lock that pair for LOGIN_LOCKOUT_SECONDS
   (the `gateway_login_throttle` table, decided by `tokens.domain.judge_login`);
3. per account, from any address: past LOGIN_MAX_FAILURES failures in a LOGIN_LOCKOUT_SECONDS window, each
   attempt waits `tokens.domain.account_backoff` before its password is checked (this module).

The third is a delay, never a refusal, so a stranger can slow the owner's login but not stop it. Its counts live in
the rate limiter's store (Redis when configured, shared by replicas), read before the request touches the
database, so a waiting attempt holds no connection and no row lock.
"""

from __future__ import annotations

import asyncio

from gateway.ratelimit import RateLimiter
from gateway.tokens.domain import LockoutPolicy, account_backoff

__all__ = ["AccountSlowDown", "account_key"]

#: `hit` needs a limit; the failure counts are read with `peek`, so this one never refuses.
_NO_LIMIT = 1 << 30


def account_key(kind: str, name: str) -> str:
    """How throttles name an account: `user:<username>` or `client:<client_id>` (at most 80 characters)."""
    return f"{kind}:{name[:72]}"


class AccountSlowDown:
    """Counts an account's recent failures and makes the next attempt on it wait accordingly."""

    def __init__(self, limiter: RateLimiter, policy: LockoutPolicy) -> None:
        self.limiter = limiter
        self.policy = policy
        self.window = max(1, int(policy.lockout.total_seconds()))

    def _key(self, account: str) -> str:
        return f"login-account:{account}"

    async def wait(self, account: str) -> float:
        """Sleep the account's current backoff; return how long that was."""
        delay = account_backoff(await self.limiter.peek(self._key(account), self.window), self.policy)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    async def failed(self, account: str) -> None:
        await self.limiter.hit(self._key(account), _NO_LIMIT, self.window)

    async def succeeded(self, account: str) -> None:
        await self.limiter.reset(self._key(account), self.window)
