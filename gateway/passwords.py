"""Argon2id password and client-secret hashing, run off the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Passwords"]


class Passwords:
    """Hash and verify secrets. A missing user is verified against a dummy hash so that it costs the same."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy = self._hasher.hash("jingzhun-dummy-password-for-timing")

    async def hash(self, secret: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, secret)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        """True when `secret` matches; with `stored_hash=None` do the same work and return False."""
        target = stored_hash if stored_hash is not None else self._dummy
        ok = await anyio.to_thread.run_sync(self._verify, target, secret)
        return ok and stored_hash is not None

    def _verify(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
