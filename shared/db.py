"""Database engine, sessions and the region scope predicate (SQLModel on asyncpg).

One engine per process, opened in the app's lifespan. A request's session is opened by its `Context`
(`shared.context`) and committed in one place only, by the route class of `shared.routing`, after the handler
returned and before the response is sent; nothing else commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.base import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.roles import Principal

__all__ = [
    "CODE_COLLATION",
    "UNITS_OF_WORK",
    "ReadSessionDep",
    "SessionDep",
    "create_engine",
    "enlist",
    "execute",
    "install_sessions",
    "ping",
    "raw_connection",
    "scope_filter",
    "session_factory",
    "tz_column",
]

#: Region codes are compared bytewise so that prefix LIKE uses a btree index and ordering is numeric.
CODE_COLLATION = "C"


def scope_filter(principal: Principal, column: Any) -> ColumnElement[bool]:
    """SQL predicate restricting `column` (a region-code column, collation "C") to the caller's scope.

    `column` is a Core column or a SQLModel attribute. A prefix LIKE on a "C"-collated column is served by a
    plain btree index.
    """
    prefix = principal.prefix
    if not prefix:
        predicate: ColumnElement[bool] = column.is_not(None)
    else:
        predicate = column.startswith(prefix, autoescape=True)
    return predicate


def tz_column(**kwargs: Any) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), **kwargs)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        # A fixed pool: overflow connections are opened and closed per burst, which costs a backend each time.
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_pre_ping=False,
        pool_recycle=1800,
        # Statement cache per connection; asyncpg prepares statements itself.
        connect_args={"server_settings": {"application_name": "jingzhun", "timezone": "UTC"}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)


def install_sessions(state: Any, engine: AsyncEngine) -> None:
    """Put the engine and both session factories on `app.state`."""
    state.engine = engine
    state.sessions = session_factory(engine)
    # Single-statement reads need no transaction: autocommit saves the BEGIN and ROLLBACK round trips
    # (and SQLAlchemy's transaction bookkeeping) on every GET. Multi-statement reads that need one snapshot use
    # SessionDep instead.
    state.read_sessions = session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


#: Where a request's transactional sessions are listed for the commit point (shared.routing).
UNITS_OF_WORK = "jingzhun_units_of_work"


def enlist(request: Request, session: AsyncSession) -> None:
    """Register `session` as part of the request's unit of work: the commit point commits it."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    state.setdefault(UNITS_OF_WORK, []).append(session)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with maker() as session:
        enlist(request, session)
        yield session


# scope="function": the session (and its pooled connection) is closed when the handler returns, not after the
# response has been sent, so a request never holds a connection while its body is written.
#: A session in one transaction, committed by the route class after the handler returned (shared.routing).
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.read_sessions
    async with maker() as session:
        yield session


#: For handlers that only read with a single statement (autocommit, no transaction round trips).
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]


async def execute(
    session: AsyncSession, statement: Executable, params: Any = None
) -> Result[*tuple[Any, ...]]:
    """Run a Core statement (`sa.text`, or a select over several tables' columns) in the session's transaction.

    SQLModel's `session.exec` types ORM selects; statements whose row shape it cannot know run here, on the
    session's connection (same transaction), and the repository maps the rows into typed values.
    """
    connection = await session.connection()
    return await connection.execute(statement, params)


async def raw_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside its transaction, for hot paths that skip SQLAlchemy's
    statement construction (plain SQL with $n parameters; the same transaction and savepoints)."""
    conn = await session.connection()
    return (await conn.get_raw_connection()).driver_connection
