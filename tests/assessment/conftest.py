"""Assessment under test: the real assessment app in process, and the in-process gateway issuing its tokens.

`assessment` is an in-process client of the assessment app (its real lifespan, its own database, the wire checks
of every answer). Tests make tokens with `headers_for` (signed by the key the gateway signs with) or log real
users in through the gateway (`gateway_headers`): the assessment verifies both alike, against the gateway's keys.

Runs: `runs_app(...)` builds an assessment app whose registry and planning clients reach in-process apps or
stand-ins over HTTP (ASGI or mock transports), with a real service token from the in-process gateway or a stand-in
one. `planning_app` is the real planning app (its own test database, its registry client on the in-process
`registry_app`, its `planning-service` token from the in-process gateway), for runs on planning's real
`GET /figures/…`: run it (`running(planning_app)`, its lifespan opens its registry client) and pass
`httpx.ASGITransport(app=planning_app)`. The run worker is off, and `drain(app)` runs the queue's real worker (procrastinate, real PostgreSQL) in
process until the queue is empty. The queue's tables (schema `assessment_queue`) are emptied before every test
that uses a database.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import KeySet
from tests.factories import Headers, MakeClient, MakeUser, bearer, token_for
from tests.harness import running
from tests.wire_format import check_time_format

#: `gateway_headers(role, region)`: bearer headers of a new user logged in through the gateway.
GatewayHeaders = Callable[[str, str], Awaitable[Headers]]


@pytest.fixture
def assessment_app(db_urls: dict[str, str], keyset: KeySet) -> FastAPI:
    from services.assessment.main import create_app
    from services.assessment.settings import AssessmentSettings

    settings = AssessmentSettings(
        environment="test",
        database_url=db_urls["assessment"],
        json_logs=False,
        log_level="WARNING",
        run_worker=False,
    )
    return create_app(settings, keyset=keyset)


@pytest.fixture
async def assessment(assessment_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(assessment_app) as client:
        client.event_hooks["response"].append(check_time_format)
        yield client


@pytest.fixture
def gateway_headers(gateway: httpx.AsyncClient, make_user: MakeUser) -> GatewayHeaders:
    async def _login(role: str, region: str) -> Headers:
        user = await make_user(role, region)
        return bearer(await token_for(gateway, user))

    return _login


# -- runs ---------------------------------------------------------------------------------------------------------
_QUEUE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


@pytest.fixture(autouse=True)
async def _clean_queue(request: pytest.FixtureRequest) -> None:
    """Empty the run queue (its own schema: the shared cleaning empties `public` only)."""
    if "db_urls" not in request.fixturenames:
        return
    db_urls: dict[str, str] = request.getfixturevalue("db_urls")
    conn = await asyncpg.connect(db_urls["assessment"])
    try:
        tables = ", ".join(f"assessment_queue.{t}" for t in _QUEUE_TABLES)
        await conn.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await conn.close()


class RunsApp(Protocol):
    """`runs_app(registry=…, planning=…, gateway=…, local=…)`: an assessment app with those upstreams."""

    def __call__(
        self,
        *,
        registry: httpx.AsyncBaseTransport,
        gateway: httpx.AsyncBaseTransport,
        planning: httpx.AsyncBaseTransport,
        local: Any = None,
        secret: str = "s3cret-client-secret",
    ) -> FastAPI: ...


@pytest.fixture
def runs_app(db_urls: dict[str, str], keyset: KeySet) -> RunsApp:
    from services.assessment.main import create_app
    from services.assessment.settings import AssessmentSettings

    def _build(
        *,
        registry: httpx.AsyncBaseTransport,
        gateway: httpx.AsyncBaseTransport,
        planning: httpx.AsyncBaseTransport,
        local: Any = None,
        secret: str = "s3cret-client-secret",
    ) -> FastAPI:
        settings = AssessmentSettings(
            environment="test",
            database_url=db_urls["assessment"],
            json_logs=False,
            log_level="WARNING",
            gateway_url="http://gateway",
            registry_url="http://registry",
            planning_url="http://planning",
            service_client_id="assessment-service",
            service_client_secret=secret,
            run_worker=False,
            figure_attempts=3,
            figure_backoff_seconds=0.01,
            figure_page_size=2,  # every cursor is used
        )
        return create_app(
            settings,
            keyset=keyset,
            registry_transport=registry,
            planning_transport=planning,
            gateway_transport=gateway,
            local_figures=local,
        )

    return _build


@pytest.fixture
async def planning_app(
    db_urls: dict[str, str],
    keyset: KeySet,
    make_client: MakeClient,
    gateway: httpx.AsyncClient,
    registry_app: FastAPI,
) -> FastAPI:
    """The real planning app (services/planning/main.py) on planning's test database, as tests/planning wires it:
    its registry client reaches the in-process `registry_app` with a `planning-service` token from the
    in-process gateway. The test runs it (and the registry) for the lifespan."""
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings

    secret = await make_client("planning-service", "service", "000000000000")
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    settings = PlanningSettings(
        environment="test",
        database_url=db_urls["planning"],
        json_logs=False,
        log_level="WARNING",
        gateway_url="http://gateway",
        registry_url="http://registry",
        service_client_id="planning-service",
        service_client_secret=secret,
    )
    return create_planning(
        settings,
        keyset=keyset,
        registry_transport=httpx.ASGITransport(app=registry_app),
        gateway_transport=httpx.ASGITransport(app=gateway_app),
    )


async def drain(app: FastAPI) -> None:
    """Run the app's queue worker (the real one, on PostgreSQL) until every queued run is done."""
    await app.state.run_queue.work(wait=False)


@pytest.fixture
async def service_secret(make_client: MakeClient) -> str:
    """The `assessment-service` client in the gateway (what ops/seed.py registers), and its secret."""
    return await make_client("assessment-service", "service", "000000000000")


@contextlib.asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as client:
        client.event_hooks["response"].append(check_time_format)
        yield client
