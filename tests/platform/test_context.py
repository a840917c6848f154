"""shared/context.py: what a use case knows of its request (principal, session, now, request id).

`ContextDep` gives the verified principal, a session in one transaction (committed by the route class),
`now` read once from `app.state.clock` (which tests replace) and the request id the observability middleware
assigned; `ReadContextDep` gives the same over an autocommit session.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel
from sqlmodel import select

from shared.context import Context, ContextDep, ReadContextDep
from shared.jwt import KeySet, SigningKey
from shared.roles import Principal, Role
from shared.routing import APIRouter
from tests.factories import assert_problem, auth, issue
from tests.platform.probe import PROBE, ProbeDatabase, build_probe_app, new_id, probe_client, probe_headers


class Seen(BaseModel):
    sub: str
    role: str
    region: str
    now: datetime
    today: date
    request_id: str | None
    transactions: list[int]


async def _transaction_ids(ctx: Context) -> list[int]:
    """The server's transaction id of two consecutive statements: equal inside one transaction."""
    first = (await ctx.session.exec(select(sa.func.txid_current()))).one()
    second = (await ctx.session.exec(select(sa.func.txid_current()))).one()
    return [int(first), int(second)]


def _seen(ctx: Context, transactions: list[int]) -> Seen:
    return Seen(
        sub=ctx.principal.sub,
        role=str(ctx.principal.role),
        region=ctx.principal.region,
        now=ctx.now,
        today=ctx.today,
        request_id=ctx.request_id,
        transactions=transactions,
    )


router = APIRouter()


@router.get("/context", response_model=Seen)
async def context(ctx: ContextDep) -> Seen:
    return _seen(ctx, await _transaction_ids(ctx))


@router.get("/read-context", response_model=Seen)
async def read_context(ctx: ReadContextDep) -> Seen:
    return _seen(ctx, await _transaction_ids(ctx))


@router.post("/context/{row_id}", response_model=Seen, status_code=201)
async def write(row_id: str, ctx: ContextDep) -> Seen:
    await ctx.session.exec(sa.insert(PROBE).values(id=row_id))
    return _seen(ctx, [])


@router.post("/read-context/{row_id}", response_model=Seen)
async def write_then_fail(row_id: str, ctx: ReadContextDep) -> Seen:
    # Autocommit: the statement is durable on its own, so the failure after it cannot undo it.
    await ctx.session.exec(sa.insert(PROBE).values(id=row_id))
    raise RuntimeError("after an autocommitted statement")


@router.post("/context/{row_id}/fail", response_model=Seen)
async def transactional_write_then_fail(row_id: str, ctx: ContextDep) -> Seen:
    await ctx.session.exec(sa.insert(PROBE).values(id=row_id))
    raise RuntimeError("inside the transaction")


@pytest.fixture
def probe_app(probe_db: ProbeDatabase, keyset: KeySet) -> FastAPI:
    return build_probe_app(probe_db, keyset, router)


@pytest.fixture
async def client(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with probe_client(probe_app) as c:
        yield c


class TestContextDep:
    async def test_anonymous(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/context"), 401)
        assert_problem(await client.get("/read-context"), 401)

    async def test_token_of_another_audience(
        self, client: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", "451025000000", aud=["jingzhun-registry"])
        assert_problem(await client.get("/context", headers=auth(token)), 401)

    async def test_principal_is_the_verified_caller(
        self, client: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        headers = probe_headers(signing_key, "township_officer", "451025100000", sub="officer-7")
        spoofed = headers | {"X-Role": "county_admin", "X-Region": "451025000000"}
        seen = (await client.get("/context", headers=spoofed)).json()
        assert (seen["sub"], seen["role"], seen["region"]) == (
            "officer-7",
            "township_officer",
            "451025100000",
        )

    async def test_now_comes_from_the_app_clock(
        self, client: httpx.AsyncClient, probe_app: FastAPI, signing_key: SigningKey
    ) -> None:
        # 2016-06-30 17:30 UTC is already 1 July in China: `today` counts in China's days.
        probe_app.state.clock = lambda: datetime(2016, 6, 30, 17, 30, tzinfo=UTC)
        for path in ("/context", "/read-context"):
            seen = (await client.get(path, headers=probe_headers(signing_key))).json()
            assert seen["now"] == "2016-06-30T17:30:00Z"
            assert seen["today"] == "2016-07-01"

    async def test_the_clock_is_read_once_per_request(
        self, client: httpx.AsyncClient, probe_app: FastAPI, signing_key: SigningKey
    ) -> None:
        ticks = iter(range(1, 100))
        probe_app.state.clock = lambda: datetime(2016, 1, 1, 0, 0, next(ticks), tzinfo=UTC)
        first = (await client.get("/context", headers=probe_headers(signing_key))).json()
        second = (await client.get("/context", headers=probe_headers(signing_key))).json()
        assert (first["now"], second["now"]) == ("2016-01-01T00:00:01Z", "2016-01-01T00:00:02Z")

    async def test_request_id_comes_from_the_observability_middleware(
        self, client: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        given = await client.get(
            "/context", headers=probe_headers(signing_key, **{"X-Request-ID": "trace-42"})
        )
        assert given.json()["request_id"] == "trace-42" == given.headers["x-request-id"]
        assigned = await client.get("/context", headers=probe_headers(signing_key))
        assert re.fullmatch(r"[0-9a-f]{32}", assigned.json()["request_id"])
        assert assigned.json()["request_id"] == assigned.headers["x-request-id"]
        # An id that could forge log lines is replaced, not echoed.
        forged = await client.get(
            "/context", headers=probe_headers(signing_key, **{"X-Request-ID": "a b\tc"})
        )
        assert forged.json()["request_id"] != "a b\tc"
        assert re.fullmatch(r"[0-9a-f]{32}", forged.json()["request_id"])

    async def test_one_transaction_committed_by_the_route(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase, signing_key: SigningKey
    ) -> None:
        seen = (await client.get("/context", headers=probe_headers(signing_key))).json()
        assert seen["transactions"][0] == seen["transactions"][1]
        row_id = new_id()
        assert (
            await client.post(f"/context/{row_id}", headers=probe_headers(signing_key))
        ).status_code == 201
        assert await probe_db.ids() == {row_id}

    async def test_a_failure_rolls_the_transaction_back(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase, signing_key: SigningKey
    ) -> None:
        assert_problem(
            await client.post(f"/context/{new_id()}/fail", headers=probe_headers(signing_key)), 500
        )
        assert await probe_db.ids() == set()


class TestReadContextDep:
    async def test_autocommit_runs_each_statement_on_its_own(
        self, client: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        seen = (await client.get("/read-context", headers=probe_headers(signing_key))).json()
        assert seen["transactions"][0] != seen["transactions"][1]

    async def test_autocommit_statements_are_not_rolled_back(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase, signing_key: SigningKey
    ) -> None:
        row_id = new_id()
        assert_problem(await client.post(f"/read-context/{row_id}", headers=probe_headers(signing_key)), 500)
        assert await probe_db.ids() == {row_id}


class TestContextValue:
    def test_today_is_the_date_in_china(self) -> None:
        principal = Principal(sub="x", role=Role.cadre, region="451025000000")
        ctx = Context(
            principal=principal,
            session=None,  # type: ignore[arg-type]  # `today` needs no session
            now=datetime(2015, 12, 31, 16, 0, tzinfo=UTC),
        )
        assert ctx.today == date(2016, 1, 1)
        assert ctx.request_id is None
