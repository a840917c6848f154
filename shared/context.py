"""The request context every use case receives: who is calling, when, which request, and its unit of work.

Routes never hand a `Request` to a service: they declare `ContextDep` (a session in a transaction) or
`ReadContextDep` (an autocommit session for reads), and the dependency builds the context from the verified
token, the app's clock (`app.state.clock`, which tests replace) and the request id the observability middleware
assigned. The session is committed by the route class of `shared.routing`, after the handler returned and before
the response is sent, and closed when the handler is done; a service or repository never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import PrincipalDep
from shared.clock import china_date, utcnow
from shared.db import ReadSessionDep, SessionDep
from shared.roles import Principal

__all__ = ["Context", "ContextDep", "ReadContextDep", "context_for", "request_id_of"]


@dataclass(frozen=True, slots=True)
class Context:
    """What a use case knows of its request."""

    principal: Principal
    session: AsyncSession
    #: The request's instant (timezone-aware UTC), read once from the app clock: every rule of one request
    #: sees the same time.
    now: datetime
    request_id: str | None = None

    @property
    def today(self) -> date:
        """The date in China at `now` (pairings, notices and plans are valid by local date)."""
        return china_date(self.now)


def request_id_of(request: Request) -> str | None:
    """The id the observability middleware gave this request (the client's X-Request-ID when valid)."""
    state: dict[str, Any] = request.scope.get("state") or {}
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else request.headers.get("x-request-id")


def context_for(request: Request, session: AsyncSession, principal: Principal) -> Context:
    """The context of `request` (for plain Starlette routes; FastAPI routes declare `ContextDep`)."""
    clock = getattr(request.app.state, "clock", utcnow)
    return Context(principal=principal, session=session, now=clock(), request_id=request_id_of(request))


async def _context(request: Request, principal: PrincipalDep, session: SessionDep) -> Context:
    return context_for(request, session, principal)


async def _read_context(request: Request, principal: PrincipalDep, session: ReadSessionDep) -> Context:
    return context_for(request, session, principal)


#: A context whose session runs one transaction, committed after the handler (writes, consistent reads).
ContextDep = Annotated[Context, Depends(_context)]
#: A context whose session is in autocommit (single-statement reads: no BEGIN/ROLLBACK round trips).
ReadContextDep = Annotated[Context, Depends(_read_context)]
