"""The one commit point of every process: routes commit their unit of work after the handler, before the response.

`APIRouter` here is FastAPI's with `CommitRoute` as its route class. The handler of a `CommitRoute` runs the
endpoint (which validates, calls one use case and builds its response model), then commits every session the
request enlisted (`shared.db.SessionDep`, and so `shared.context.ContextDep`), then lets the response go out. If
the endpoint raises, nothing is committed and the sessions roll back as they close — unless the error was
raised with `AppError.keep_writes()` (a refusal that records something, such as a failed login). A commit that
fails becomes the request's error: no response claims a write that did not happen.

Plain Starlette routes on hot paths use `unit_of_work(request)` for the same guarantee. Nothing else in the
codebase calls `commit()` (`make lint` checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter as _FastAPIRouter
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from shared.db import UNITS_OF_WORK, enlist
from shared.problems import AppError

__all__ = ["APIRouter", "CommitRoute", "unit_of_work"]


async def _commit(request: Request) -> None:
    state: dict[str, Any] = request.scope.get("state") or {}
    for session in state.pop(UNITS_OF_WORK, ()):
        await session.commit()


class CommitRoute(APIRoute):
    """A route that commits the request's sessions after its endpoint returned, before the response is sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def commit_after(request: Request) -> Response:
            try:
                response = await handler(request)
            except AppError as exc:
                if exc.keeps_writes:
                    await _commit(request)
                raise
            await _commit(request)
            return response

        return commit_after


class APIRouter(_FastAPIRouter):
    """FastAPI's router whose routes commit (`CommitRoute`); every router of every process is one of these."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", CommitRoute)
        super().__init__(*args, **kwargs)


@contextlib.asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a plain Starlette route, committed when the block ends without an error."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with maker() as session:
        enlist(request, session)
        try:
            yield session
        except AppError as exc:
            if exc.keeps_writes:
                await _commit(request)
            raise
        await _commit(request)
