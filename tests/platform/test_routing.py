"""shared/routing.py: the one commit point (CommitRoute for FastAPI routes, `unit_of_work` for plain ones).

Against real PostgreSQL, on a probe service built like every service: a write is committed after the handler
returned and before the response goes out; any exception rolls back, unless it is an `AppError` raised with
`keep_writes()`; a commit that fails is the request's error, so no response claims a write that did not happen;
every session a request enlisted is committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import SessionDep, enlist
from shared.errors import Refused
from shared.jwt import KeySet
from shared.problems import Conflict
from shared.routing import APIRouter, CommitRoute, unit_of_work
from tests.factories import assert_problem
from tests.platform.probe import (
    PROBE,
    PROBE_CHILD,
    ProbeDatabase,
    build_probe_app,
    new_id,
    probe_client,
)


class Written(BaseModel):
    id: str


async def _second_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A second unit of work in the same request (as a route that writes through two sessions would have)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with maker() as session:
        enlist(request, session)
        yield session


SecondSessionDep = Annotated[AsyncSession, Depends(_second_session, scope="function")]


async def _insert(session: AsyncSession, row_id: str) -> None:
    await session.exec(sa.insert(PROBE).values(id=row_id))
    await session.flush()


async def _visible(url: str, row_id: str) -> bool:
    """Whether a row is committed: read on a connection of its own, outside the request's transaction."""
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM platform_probe WHERE id = $1", row_id))
    finally:
        await conn.close()


router = APIRouter(prefix="/rows")


@router.post("/{row_id}", response_model=Written, status_code=201)
async def write(row_id: str, session: SessionDep, request: Request) -> Written:
    await _insert(session, row_id)
    # Still inside the handler: nothing is committed yet.
    request.app.state.seen_in_handler = await _visible(request.app.state.probe_url, row_id)
    return Written(id=row_id)


@router.post("/{row_id}/app-error", response_model=Written)
async def app_error(row_id: str, session: SessionDep) -> Written:
    await _insert(session, row_id)
    raise Conflict("refused after writing", code="probe_refused")


@router.post("/{row_id}/domain-error", response_model=Written)
async def domain_error(row_id: str, session: SessionDep) -> Written:
    await _insert(session, row_id)
    raise Refused("probe_refused", "a rule refused after writing", limit=3)


@router.post("/{row_id}/crash", response_model=Written)
async def crash(row_id: str, session: SessionDep) -> Written:
    await _insert(session, row_id)
    raise RuntimeError("boom")


@router.post("/{row_id}/kept", response_model=Written)
async def kept(row_id: str, session: SessionDep) -> Written:
    await _insert(session, row_id)
    raise Conflict("refused, but the attempt is recorded", code="probe_kept").keep_writes()


@router.post("/{row_id}/orphan", response_model=Written, status_code=201)
async def orphan(row_id: str, session: SessionDep) -> Written:
    await _insert(session, row_id)
    # The parent does not exist: the deferred constraint fails at COMMIT, after this handler returned.
    await session.exec(sa.insert(PROBE_CHILD).values(id=row_id, parent_id="no-such-parent"))
    await session.flush()
    return Written(id=row_id)


@router.post("/{row_id}/two-sessions", response_model=Written, status_code=201)
async def two_sessions(row_id: str, first: SessionDep, second: SecondSessionDep) -> Written:
    assert first is not second
    await _insert(first, row_id)
    await _insert(second, row_id + "-2")
    return Written(id=row_id)


@router.post("/{row_id}/two-sessions-crash", response_model=Written)
async def two_sessions_crash(row_id: str, first: SessionDep, second: SecondSessionDep) -> Written:
    await _insert(first, row_id)
    await _insert(second, row_id + "-2")
    raise RuntimeError("boom")


@router.get("/{row_id}", response_model=Written)
async def read(row_id: str, session: SessionDep) -> Written:
    found = (await session.exec(select(PROBE.c.id).where(PROBE.c.id == row_id))).first()
    if found is None:
        raise Conflict("no such row", code="probe_missing")
    return Written(id=row_id)


async def plain(request: Request) -> Response:
    """A plain Starlette route (a hot path) with its own unit of work; `mode` says how it ends."""
    row_id = request.path_params["row_id"]
    mode = request.query_params.get("mode", "ok")
    async with unit_of_work(request) as session:
        await _insert(session, row_id)
        if mode == "app-error":
            raise Conflict("refused after writing")
        if mode == "kept":
            raise Conflict("refused, kept").keep_writes()
        if mode == "crash":
            raise RuntimeError("boom")
        if mode == "orphan":
            await session.exec(sa.insert(PROBE_CHILD).values(id=row_id, parent_id="no-such-parent"))
            await session.flush()
    return JSONResponse({"id": row_id}, status_code=201)


class ResponseStartProbe:
    """Records, when the response starts, whether the row named by the path is already committed."""

    def __init__(self, app: ASGIApp, *, url: str, seen: dict[str, bool]) -> None:
        self.app = app
        self.url = url
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        row_id = scope["path"].split("/")[2] if scope["path"].count("/") >= 2 else ""

        async def send_checked(message: Message) -> None:
            if message["type"] == "http.response.start" and row_id:
                self.seen[row_id] = await _visible(self.url, row_id)
            await send(message)

        await self.app(scope, receive, send_checked)


@pytest.fixture
def seen_at_response_start() -> dict[str, bool]:
    return {}


@pytest.fixture
def probe_app(probe_db: ProbeDatabase, keyset: KeySet, seen_at_response_start: dict[str, bool]) -> FastAPI:
    app = build_probe_app(probe_db, keyset, router)
    app.state.probe_url = probe_db.url
    app.router.routes.insert(0, Route("/plain/{row_id}", plain, methods=["POST"]))
    app.add_middleware(ResponseStartProbe, url=probe_db.url, seen=seen_at_response_start)
    return app


@pytest.fixture
async def client(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with probe_client(probe_app) as c:
        yield c


class TestRouterClass:
    def test_every_route_of_the_shared_router_commits(self) -> None:
        assert router.route_class is CommitRoute
        assert all(isinstance(r, CommitRoute) for r in router.routes)

    def test_a_route_class_given_explicitly_is_kept(self) -> None:
        assert APIRouter(route_class=APIRoute).route_class is APIRoute


class TestCommitAfterHandler:
    async def test_write_is_committed_after_the_handler_and_before_the_response(
        self,
        client: httpx.AsyncClient,
        probe_app: FastAPI,
        probe_db: ProbeDatabase,
        seen_at_response_start: dict[str, bool],
    ) -> None:
        row_id = new_id()
        response = await client.post(f"/rows/{row_id}")
        assert response.status_code == 201, response.text
        assert response.json() == {"id": row_id}
        assert probe_app.state.seen_in_handler is False
        assert seen_at_response_start[row_id] is True
        assert row_id in await probe_db.ids()
        assert (await client.get(f"/rows/{row_id}")).status_code == 200

    async def test_app_error_rolls_back(self, client: httpx.AsyncClient, probe_db: ProbeDatabase) -> None:
        row_id = new_id()
        body = assert_problem(await client.post(f"/rows/{row_id}/app-error"), 409)
        assert body["code"] == "probe_refused"
        assert await probe_db.ids() == set()

    async def test_domain_error_rolls_back(self, client: httpx.AsyncClient, probe_db: ProbeDatabase) -> None:
        row_id = new_id()
        body = assert_problem(await client.post(f"/rows/{row_id}/domain-error"), 409)
        assert body["code"] == "probe_refused" and body["limit"] == 3
        assert await probe_db.ids() == set()

    async def test_unexpected_exception_rolls_back(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        row_id = new_id()
        body = assert_problem(await client.post(f"/rows/{row_id}/crash"), 500)
        assert "boom" not in body["detail"]
        assert await probe_db.ids() == set()

    async def test_keep_writes_commits_then_answers_the_problem(
        self,
        client: httpx.AsyncClient,
        probe_db: ProbeDatabase,
        seen_at_response_start: dict[str, bool],
    ) -> None:
        row_id = new_id()
        body = assert_problem(await client.post(f"/rows/{row_id}/kept"), 409)
        assert body["code"] == "probe_kept"
        assert "keeps_writes" not in body
        assert seen_at_response_start[row_id] is True
        assert await probe_db.ids() == {row_id}

    def test_keep_writes_marks_the_error_itself(self) -> None:
        plain_error = Conflict("x")
        kept_error = Conflict("x").keep_writes()
        assert plain_error.keeps_writes is False
        assert kept_error.keeps_writes is True and isinstance(kept_error, Conflict)
        assert Conflict.keeps_writes is False  # the class default is untouched

    async def test_failing_commit_is_an_error_and_nothing_claims_success(
        self,
        client: httpx.AsyncClient,
        probe_db: ProbeDatabase,
        seen_at_response_start: dict[str, bool],
    ) -> None:
        row_id = new_id()
        response = await client.post(f"/rows/{row_id}/orphan")
        assert_problem(response, 500)
        assert row_id not in response.text
        # The handler's 201 never started: the only response is the error middleware's 500.
        assert row_id not in seen_at_response_start
        assert await probe_db.ids() == set()
        assert await probe_db.ids("platform_probe_child") == set()

    async def test_two_sessions_in_one_request_are_both_committed(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        row_id = new_id()
        response = await client.post(f"/rows/{row_id}/two-sessions")
        assert response.status_code == 201, response.text
        assert await probe_db.ids() == {row_id, row_id + "-2"}

    async def test_two_sessions_both_roll_back_on_an_exception(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        row_id = new_id()
        assert_problem(await client.post(f"/rows/{row_id}/two-sessions-crash"), 500)
        assert await probe_db.ids() == set()

    async def test_requests_do_not_share_a_unit_of_work(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        kept_id, failed_id = new_id(), new_id()
        assert (await client.post(f"/rows/{kept_id}")).status_code == 201
        assert_problem(await client.post(f"/rows/{failed_id}/crash"), 500)
        assert (await client.post(f"/rows/{kept_id}-b")).status_code == 201
        assert await probe_db.ids() == {kept_id, kept_id + "-b"}


class TestUnitOfWork:
    async def test_plain_route_commits_when_the_block_ends(
        self,
        client: httpx.AsyncClient,
        probe_db: ProbeDatabase,
        seen_at_response_start: dict[str, bool],
    ) -> None:
        row_id = new_id()
        response = await client.post(f"/plain/{row_id}")
        assert response.status_code == 201, response.text
        assert seen_at_response_start[row_id] is True
        assert await probe_db.ids() == {row_id}

    async def test_app_error_rolls_back(self, client: httpx.AsyncClient, probe_db: ProbeDatabase) -> None:
        assert_problem(await client.post(f"/plain/{new_id()}", params={"mode": "app-error"}), 409)
        assert await probe_db.ids() == set()

    async def test_keep_writes_commits(self, client: httpx.AsyncClient, probe_db: ProbeDatabase) -> None:
        row_id = new_id()
        assert_problem(await client.post(f"/plain/{row_id}", params={"mode": "kept"}), 409)
        assert await probe_db.ids() == {row_id}

    async def test_unexpected_exception_rolls_back(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        assert_problem(await client.post(f"/plain/{new_id()}", params={"mode": "crash"}), 500)
        assert await probe_db.ids() == set()

    async def test_failing_commit_is_an_error(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase
    ) -> None:
        row_id = new_id()
        assert_problem(await client.post(f"/plain/{row_id}", params={"mode": "orphan"}), 500)
        assert await probe_db.ids() == set()
