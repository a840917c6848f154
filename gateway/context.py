"""What an identity use case knows of its request when nobody is authenticated yet (the token endpoint).

Authenticated routes hand their use cases a `shared.context.Context` (principal, session, now, request id). The
token endpoint has no principal until it issues one, so it gets a `PublicContext`: the same session, instant and
request id. Code that serves both (the token use cases, which user administration also calls to revoke tokens)
asks for a `CallContext`, which either satisfies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["CallContext", "PublicContext"]


class CallContext(Protocol):
    """The unit of work, the request's instant and its id: what both kinds of context carry."""

    @property
    def session(self) -> AsyncSession: ...

    @property
    def now(self) -> datetime: ...

    @property
    def request_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PublicContext:
    """The context of an unauthenticated request: its session (committed by the route class), its instant read once
    from the app clock, and its request id."""

    session: AsyncSession
    now: datetime
    request_id: str | None = None
