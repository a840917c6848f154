"""What the identity features share, built once per process: the token signer with its settings, the password
hasher, and the in-memory revocation list that every authenticated request is checked against.

`Revocations` holds what was revoked before its natural expiry (disabled users and clients, cut-offs after a
password reset, logged-out tokens, and refresh families ended by a logout or a detected reuse: every access token
minted in a family carries its id as `sid`, so ending the family ends them all). Per-request checks are dictionary lookups; a background task refreshes it from
the database every `REVOCATION_REFRESH_SECONDS` (reads only, its own session, nothing committed), which carries
revocations made by other gateway replicas. The services follow the same list (`GET /auth/revocations`,
shared/revocations.py), so a revoked token is refused on a service reached directly too.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.passwords import Passwords
from gateway.ratelimit import InMemoryRateLimiter, RateLimiter
from gateway.settings import GatewaySettings
from gateway.tokens.domain import revocation_horizon
from gateway.tokens.repository import RevocationRepository, RevocationSnapshot
from shared.clock import Clock, utcnow
from shared.jwt import SigningKey
from shared.problems import Unauthorized
from shared.roles import Principal

__all__ = ["Identity", "Revocations", "refresh_revocations"]


class Revocations:
    """What has been revoked before its natural expiry, held in memory and refreshed from the database."""

    #: Local revocations younger than this survive a refresh whose database read may predate their commit.
    LOCAL_GRACE_SECONDS = 30.0

    def __init__(self) -> None:
        self._not_before: dict[str, float] = {}
        self._jtis: dict[str, float] = {}
        self._families: dict[str, float] = {}  # refresh family id (`sid`) -> until when it matters (epoch)
        self._recent_subjects: dict[str, tuple[float, float]] = {}  # sub -> (not_before, recorded at)
        self._recent_jtis: dict[str, tuple[float, float]] = {}
        self._recent_families: dict[str, tuple[float, float]] = {}
        # What services compare (`GET /auth/revocations`, If-None-Match): this process's id and a counter bumped on
        # every change, so an unchanged list costs them a 304.
        self._boot = uuid.uuid4().hex[:12]
        self._changes = 0

    @property
    def version(self) -> str:
        """An entity tag of the list as it is now (RFC 9110 §8.8.3)."""
        return f'"{self._boot}-{self._changes}"'

    def export(self) -> tuple[dict[str, float | None], dict[str, float], dict[str, float]]:
        """The list as services follow it: subject → earliest accepted `iat` (None: none, the subject is disabled),
        denied jti → its token's expiry, revoked family (`sid`) → until when its access tokens could be alive."""
        subjects = {sub: None if cut == float("inf") else cut for sub, cut in self._not_before.items()}
        return subjects, dict(self._jtis), dict(self._families)

    def revoke_subject(self, sub: str, not_before: float) -> None:
        self._not_before[sub] = max(not_before, self._not_before.get(sub, 0.0))
        self._recent_subjects[sub] = (self._not_before[sub], time.monotonic())
        self._changes += 1

    def set_subject(self, sub: str, not_before: float) -> None:
        """Replace the subject's cut-off (used when a disabled user is enabled again)."""
        self._not_before[sub] = not_before
        self._recent_subjects[sub] = (not_before, time.monotonic())
        self._changes += 1

    def revoke_jti(self, jti: str, expires_at: float) -> None:
        self._jtis[jti] = expires_at
        self._recent_jtis[jti] = (expires_at, time.monotonic())
        self._changes += 1

    def revoke_family(self, sid: str, until: float) -> None:
        """Refuse every access token minted in refresh family `sid` (those still alive expire before `until`)."""
        self._families[sid] = max(until, self._families.get(sid, 0.0))
        self._recent_families[sid] = (self._families[sid], time.monotonic())
        self._changes += 1

    def check(self, principal: Principal) -> None:
        if principal.jti in self._jtis:
            raise Unauthorized("token revoked")
        if principal.sid is not None and principal.sid in self._families:
            raise Unauthorized("token revoked")
        not_before = self._not_before.get(principal.sub)
        if not_before is not None and principal.issued_at < not_before:
            raise Unauthorized("token revoked")

    def load(self, snapshot: RevocationSnapshot) -> None:
        """Replace the list with the database's, keeping local revocations the snapshot may not have seen yet."""
        not_before = dict(snapshot.not_before)
        jtis = dict(snapshot.jtis)
        families = dict(snapshot.families)
        horizon_local = time.monotonic() - self.LOCAL_GRACE_SECONDS
        self._recent_subjects = {k: v for k, v in self._recent_subjects.items() if v[1] >= horizon_local}
        self._recent_jtis = {k: v for k, v in self._recent_jtis.items() if v[1] >= horizon_local}
        self._recent_families = {k: v for k, v in self._recent_families.items() if v[1] >= horizon_local}
        for sub, (cut, _at) in self._recent_subjects.items():
            not_before[sub] = cut
        for jti, (exp, _at) in self._recent_jtis.items():
            jtis[jti] = exp
        for sid, (until, _at) in self._recent_families.items():
            families[sid] = until
        if (not_before, jtis, families) != (self._not_before, self._jtis, self._families):
            self._changes += 1
        self._not_before = not_before
        self._jtis = jtis
        self._families = families

    async def refresh(self, session: AsyncSession, *, access_ttl: int) -> None:
        """Reload from the database through `session` (reads only; the caller closes it, nothing is committed)."""
        now = utcnow()
        snapshot = await RevocationRepository(session).snapshot(
            now=now, horizon=revocation_horizon(now, access_ttl=access_ttl)
        )
        self.load(snapshot)


async def refresh_revocations(
    revocations: Revocations, sessions: async_sessionmaker[AsyncSession], *, access_ttl: int
) -> None:
    """One refresh of `revocations` in a session of its own (background work, not a request)."""
    async with sessions() as session:
        await revocations.refresh(session, access_ttl=access_ttl)


@dataclass(frozen=True, slots=True)
class Identity:
    """The process-wide parts of the identity use cases (on `app.state.identity`)."""

    settings: GatewaySettings
    signing_key: SigningKey
    passwords: Passwords
    revocations: Revocations
    #: The signer's clock: access tokens are stamped with it, and revocation cut-offs are taken from it.
    clock: Clock = utcnow
    #: Where the token endpoint's per-account slow-down counts failures (the app's rate limiter).
    limiter: RateLimiter = field(default_factory=InMemoryRateLimiter)
