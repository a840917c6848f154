"""The gateway's revocation list as a service follows it: refused tokens stay refused when a service is called directly.

A token verifies by its signature alone until it expires (15 minutes), so a logged-out or disabled user's token would
still work on a service reached without the gateway. Each service therefore polls the gateway's list
(`GET /auth/revocations`, a service token of its own, `If-None-Match` so an unchanged list costs a 304) every
`REVOCATIONS_POLL_SECONDS` and refuses matching tokens with the same 401 as an expired one. The list holds what the
gateway's does (gateway/identity.py `Revocations`): denied `jti`s (logged-out tokens), refresh families (`sid`) ended
by a logout or a replayed refresh token, and per-subject cut-offs (disabled users and clients, password resets).

Failure behaviour (README "Revocation at the services"): a service starts whether or not the gateway answers and
keeps retrying. It fails open: while the gateway is unreachable it keeps enforcing the last list it received (those
entries do not go stale, they are only ever added to until their tokens expire) and logs an error once the list is
older than `REVOCATIONS_MAX_STALE_SECONDS`; `REVOCATIONS_FAIL_CLOSED=true` makes it refuse every token instead
(401 "revocation list stale") past that bound, for deployments that prefer an outage to a late logout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

import httpx

from shared.problems import Unauthorized
from shared.roles import Principal
from shared.service_client import ServiceTokenProvider

__all__ = ["GATEWAY_AUDIENCE", "REVOCATIONS_PATH", "RevocationFollower", "RevocationList"]

_log = logging.getLogger("jingzhun.revocations")

#: Where the gateway serves its list, and the audience of the service token that reads it.
REVOCATIONS_PATH = "/auth/revocations"
GATEWAY_AUDIENCE = "jingzhun-gateway"


class RevocationList:
    """The revoked tokens a service refuses; `check` is three dictionary lookups (the hot path)."""

    def __init__(self, *, max_stale_seconds: float = 60.0, fail_closed: bool = False) -> None:
        self._not_before: dict[str, float] = {}
        self._jtis: frozenset[str] = frozenset()
        self._families: frozenset[str] = frozenset()
        self.version: str | None = None
        #: `time.monotonic()` of the last answer from the gateway (None: none yet).
        self.synced_at: float | None = None
        self.started_at = time.monotonic()
        self.max_stale_seconds = max_stale_seconds
        self.fail_closed = fail_closed

    def __len__(self) -> int:
        return len(self._not_before) + len(self._jtis) + len(self._families)

    def age(self) -> float:
        """Seconds since the gateway last answered (since start while it never has)."""
        return time.monotonic() - (self.synced_at if self.synced_at is not None else self.started_at)

    def stale(self) -> bool:
        return self.age() > self.max_stale_seconds

    def load(self, body: dict[str, Any], *, version: str | None) -> None:
        """Replace the list with the gateway's answer (`RevocationListPublic`)."""
        self._not_before = {
            str(sub): math.inf if cut is None else float(cut) for sub, cut in body.get("subjects", {}).items()
        }
        self._jtis = frozenset(body.get("jtis", {}))
        self._families = frozenset(body.get("families", {}))
        self.version = version
        self.synced_at = time.monotonic()

    def confirm(self) -> None:
        """The gateway answered that nothing changed (304)."""
        self.synced_at = time.monotonic()

    def check(self, principal: Principal) -> None:
        """401, worded as the gateway words it, when the token was revoked."""
        if principal.jti in self._jtis:
            raise Unauthorized("token revoked")
        if principal.sid is not None and principal.sid in self._families:
            raise Unauthorized("token revoked")
        not_before = self._not_before.get(principal.sub)
        if not_before is not None and principal.issued_at < not_before:
            raise Unauthorized("token revoked")
        if self.fail_closed and self.stale():
            raise Unauthorized("revocation list stale")


class RevocationFollower:
    """Polls the gateway's list into a `RevocationList` until cancelled; never raises, logs what failed."""

    def __init__(
        self,
        revocations: RevocationList,
        gateway: httpx.AsyncClient,
        tokens: ServiceTokenProvider,
        *,
        poll_seconds: float = 2.0,
    ) -> None:
        self.revocations = revocations
        self._gateway = gateway
        self._tokens = tokens
        self.poll_seconds = poll_seconds
        self._failing = False
        self._stop = asyncio.Event()

    async def poll(self) -> None:
        """One round trip to the gateway (raises on failure)."""
        headers = {"Authorization": f"Bearer {await self._tokens.token(GATEWAY_AUDIENCE)}"}
        if self.revocations.version is not None:
            headers["If-None-Match"] = self.revocations.version
        response = await self._gateway.get(REVOCATIONS_PATH, headers=headers)
        if response.status_code == 401:
            self._tokens.forget(
                GATEWAY_AUDIENCE
            )  # expired, rotated keys or a revoked client: fetch anew next time
        if response.status_code == 304:
            self.revocations.confirm()
            return
        response.raise_for_status()
        self.revocations.load(response.json(), version=response.headers.get("etag"))

    def stop(self) -> None:
        """Ask `run` to end after the round trip in flight (it never starts another)."""
        self._stop.set()

    async def run(self) -> None:
        """Poll until `stop()` (or cancellation). A shutdown should `stop()` and await the task rather than cancel
        it: a round trip cancelled midway can leave a connection half-open in whatever served it (an in-process
        gateway cancelled inside `asyncpg.connect` leaks the connection to the garbage collector)."""
        while not self._stop.is_set():
            try:
                await self.poll()
                if self._failing:
                    _log.info("revocation list followed again", extra={"entries": len(self.revocations)})
                self._failing = False
            except Exception as exc:  # the gateway may be starting or away: keep the last list, retry
                self._failing = True
                age = self.revocations.age()
                level = logging.ERROR if age > self.revocations.max_stale_seconds else logging.WARNING
                _log.log(
                    level,
                    "revocation list refresh failed (%s: %s); list is %.0f s old",
                    type(exc).__name__,
                    exc,
                    age,
                    extra={"fail_closed": self.revocations.fail_closed},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_seconds)
