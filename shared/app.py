"""The application factory every domain service uses: middleware, problem handlers, auth, health, metrics.

`build_service_app` gives a service, in its lifespan, its engine and session factories, three plain asyncpg pools
for the hot paths that skip the ORM (`read_pool`: read-only, on the streaming replica when
`<SERVICE>_READ_DATABASE_URL` is set — exports, the change feed; `primary_read_pool`: read-only, always the primary
— read-your-writes paths; `write_pool`: single atomic statements and the Idempotency-Key rows), `replica_sessions`
for the figures (deploy/SIZING.md says which reads go where), its token authority and its clock
(`app.state.clock`, which tests replace); plus `/healthz` (no I/O), `/readyz` (database reachable, keys loaded) and `/metrics`, the Idempotency-Key
middleware when the service names its key table, and its OpenAPI document (shared/openapi.py: finished by
`install_openapi`, served with `/docs` and `/redoc` offline by `install_docs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.requests import Request

from shared.auth import TokenAuthority
from shared.clock import DevClock, utcnow
from shared.db import create_engine, install_sessions, ping, session_factory
from shared.dev_clock import router as dev_clock_router
from shared.idempotency import install_idempotency
from shared.jwt import KeySet
from shared.observability import ObservabilityMiddleware, configure_logging, metrics_response
from shared.openapi import install_docs, install_openapi, operation_id
from shared.problems import install_problem_handlers, problem_response
from shared.revocations import RevocationFollower, RevocationList
from shared.routing import APIRouter
from shared.schemas import ResponseModel
from shared.service_client import ServiceTokenProvider
from shared.settings import CommonSettings, ServiceSettings

__all__ = [
    "CORS_ALLOW_HEADERS",
    "CORS_EXPOSE_HEADERS",
    "build_service_app",
    "health_router",
    "install_common",
    "load_keyset",
]

_log = logging.getLogger("jingzhun.app")

ReadyCheck = Callable[[FastAPI], Awaitable[dict[str, Any]]]

#: What a browser page may send (besides the CORS-safelisted ones): the token, JSON bodies, the conditional and
#: idempotent-write headers, the language of problems, and a request id to trace by.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept-Language",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Device-Time",  # the phone's clock when it sends help records (clock-skew measurement)
)
#: What a browser page may read of an answer: the version (ETag), where a record was created (Location), a
#: replayed idempotent write, when to retry (429/503), the request id, and the language of a problem.
CORS_EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "X-Request-ID",
    "Content-Language",
)


def install_common(
    app: FastAPI, settings: CommonSettings, *, service: str, cors_origins: Sequence[str] = ()
) -> None:
    """Problem handlers, CORS and the observability middleware (outermost)."""
    install_problem_handlers(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=list(CORS_ALLOW_HEADERS),
            expose_headers=list(CORS_EXPOSE_HEADERS),
            max_age=600,
        )
    app.add_middleware(
        ObservabilityMiddleware, service=service, max_json_body_bytes=settings.max_json_body_bytes
    )


class HealthPublic(ResponseModel):
    status: str = Field(examples=["ok"])


class ReadinessPublic(ResponseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] = Field(description="Each dependency and its state ('ok' or what failed)")


def health_router(ready_check: ReadyCheck) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=HealthPublic, summary="Liveness: the process answers (no I/O)")
    async def check_liveness() -> HealthPublic:
        """The process is up and answering; no dependency is touched (a liveness probe)."""
        return HealthPublic(status="ok")

    @router.get(
        "/readyz",
        response_model=ReadinessPublic,
        summary="Readiness: dependencies reachable",
        responses={503: {"description": "Not ready: the problem's `checks` name what failed"}},
    )
    async def check_readiness(request: Request) -> ReadinessPublic | JSONResponse:
        """The database answers and the token keys are loaded (a readiness probe): 503 names what is missing.

        `read_database` reports the read replica (its replay lag) when one is configured, without failing."""
        try:
            checks = await asyncio.wait_for(ready_check(request.app), timeout=5)
        except Exception as exc:  # any failing dependency means not ready
            return problem_response(503, "Not ready", str(exc) or type(exc).__name__, slug="not-ready")
        failing = {k: v for k, v in checks.items() if v != "ok" and k not in ADVISORY_CHECKS}
        if failing:
            return problem_response(503, "Not ready", "dependencies failing", slug="not-ready", checks=checks)
        return ReadinessPublic(status="ok", checks={k: str(v) for k, v in checks.items()})

    router.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)
    return router


JWKS_REFRESH_SECONDS = 300.0
JWKS_RETRY_SECONDS = 2.0


async def load_keyset(settings: ServiceSettings, *, attempts: int = 5) -> KeySet:
    """Public keys from JWT_JWKS_FILE, or fetched from JWT_JWKS_URL (retrying briefly while the gateway starts).

    An empty set is returned if the gateway is not up yet; `_keep_keys_fresh` keeps trying in the background and
    /readyz reports "no public keys loaded" meanwhile.
    """
    if settings.jwt_jwks_file is not None:
        return KeySet.from_file(settings.jwt_jwks_file)
    if settings.jwt_jwks_url:
        async with httpx.AsyncClient(timeout=3) as client:
            for attempt in range(attempts):
                try:
                    response = await client.get(settings.jwt_jwks_url)
                    response.raise_for_status()
                    return KeySet(response.json())
                except (httpx.HTTPError, json.JSONDecodeError) as exc:
                    _log.warning("jwks fetch failed (attempt %d): %s", attempt + 1, exc)
                    if attempt + 1 < attempts:
                        await asyncio.sleep(1)
    return KeySet({"keys": []})


async def _keep_keys_fresh(app: FastAPI, settings: ServiceSettings) -> None:
    """Refetch the JWKS: quickly while none are loaded, then every few minutes to pick up rotated keys."""
    authority: TokenAuthority = app.state.token_authority
    while True:
        await asyncio.sleep(JWKS_RETRY_SECONDS if not len(authority.keys) else JWKS_REFRESH_SECONDS)
        keys = await load_keyset(settings, attempts=1)
        if len(keys):
            authority.keys = keys


@contextlib.asynccontextmanager
async def follow_revocations(
    app: FastAPI, settings: ServiceSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[None]:
    """`app.state.revocations`, kept in step with the gateway's list in the background when the service follows
    it (`ServiceSettings.follows_revocations`); the service starts either way, the first poll in the background."""
    if not settings.follows_revocations:
        if settings.production:
            _log.warning(
                "not following the gateway's revocations: revoked tokens work here until they expire"
            )
        yield
        return
    if not settings.service_client_id:
        _log.error(
            "FOLLOW_REVOCATIONS needs SERVICE_CLIENT_ID and its secret; revoked tokens are not refused"
        )
        yield
        return
    revocations = RevocationList(
        max_stale_seconds=settings.revocations_max_stale_seconds, fail_closed=settings.revocations_fail_closed
    )
    async with httpx.AsyncClient(base_url=settings.gateway_url, transport=transport, timeout=3) as gateway:
        tokens = ServiceTokenProvider(gateway, settings.service_client_id, settings.client_secret or "")
        follower = RevocationFollower(
            revocations, gateway, tokens, poll_seconds=settings.revocations_poll_seconds
        )
        app.state.revocations = revocations
        task = asyncio.create_task(follower.run())
        try:
            yield
        finally:
            # Let the round trip in flight finish (bounded by the client's 3 s timeout), then stop; cancel only
            # if it does not end in time.
            follower.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


#: Readiness checks reported but not failing the probe: a lagging or unreachable replica affects only the
#: lag-tolerant reads (exports, feed, figures), so taking every pod of the service out of the load balancer (they
#: share the replica) would turn a degraded feature into an outage of writes too.
ADVISORY_CHECKS = frozenset({"read_database"})


async def _read_database(app: FastAPI) -> str:
    """The read pool's server: "ok" on the primary; on a replica "ok" with its role and replay lag."""
    settings: ServiceSettings = app.state.settings
    if settings.read_database_url is None:
        return "ok"
    try:
        async with app.state.read_pool.acquire() as conn:
            row = await conn.fetchrow(_REPLICA_SQL)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    if row is None or not row["standby"]:
        return "ok (primary: READ_DATABASE_URL names a server not in recovery)"
    lag = row["lag"]
    return "ok" if lag is None else f"ok (replica, replay lag {lag:.1f} s)"


#: Whether the server is a standby and how far behind its replay is (0 while nothing is waiting to replay).
_REPLICA_SQL = """
SELECT pg_is_in_recovery() AS standby,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag
"""


async def _db_ready(app: FastAPI) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        await ping(app.state.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["read_database"] = await _read_database(app)
    checks["keys"] = "ok" if len(app.state.token_authority.keys) else "no public keys loaded"
    return checks


async def _no_reset(_: asyncpg.Connection) -> None:
    return None


def _pool_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def asyncpg_pools(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[None]:
    """`app.state.read_pool`, `app.state.primary_read_pool` and `app.state.write_pool`: plain asyncpg, for paths
    measured to need it.

    `read_pool` serves the reads that tolerate a little lag (exports, the change feed): on the streaming replica
    when `<SERVICE>_READ_DATABASE_URL` is set, else on the primary. `primary_read_pool` is for read-only hot paths
    that must see the caller's own writes (the household card and its ETag, the phones' download): always the
    primary, and the same pool as `read_pool` when no replica is configured. `write_pool` is the primary.
    """
    dsn = _pool_dsn(settings.sqlalchemy_url)
    replica = settings.read_sqlalchemy_url
    # min_size=0: connect on first use, so the process starts (and /readyz reports) without a database.
    # reset=_no_reset: only single statements or self-contained read-only transactions run here, so nothing
    # outlives a release and asyncpg's RESET ALL round trip is skipped (an open transaction is still rolled back).

    async def read_only(target: str, name: str) -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            target,
            min_size=0,
            max_size=settings.read_pool_size,
            server_settings={
                "application_name": f"jingzhun-{settings.service_name}-{name}",
                "default_transaction_read_only": "on",
            },
            reset=_no_reset,
        )
        return pool

    app.state.primary_read_pool = await read_only(dsn, "read")
    app.state.read_pool = (
        await read_only(_pool_dsn(replica), "replica") if replica else app.state.primary_read_pool
    )
    app.state.write_pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.read_pool_size,
        server_settings={"application_name": f"jingzhun-{settings.service_name}-write"},
        reset=_no_reset,
    )
    try:
        yield
    finally:
        await app.state.write_pool.close()
        if app.state.read_pool is not app.state.primary_read_pool:
            await app.state.read_pool.close()
        await app.state.primary_read_pool.close()


@contextlib.asynccontextmanager
async def replica_sessions(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[None]:
    """`app.state.replica_sessions`: autocommit ORM sessions for lag-tolerant reads (the figures), on the replica
    when one is configured (its own small engine), else the primary's `read_sessions`."""
    replica = settings.read_sqlalchemy_url
    if replica is None:
        app.state.replica_engine = None
        app.state.replica_sessions = app.state.read_sessions
        yield
        return
    engine = create_engine(replica, pool_size=settings.read_pool_size)
    app.state.replica_engine = engine
    app.state.replica_sessions = session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    try:
        yield
    finally:
        await engine.dispose()


def build_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    keyset: KeySet | None = None,
    version: str = "0.1.0",
    extra_lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]] | None = None,
    idempotency_keys: sa.Table | None = None,
    tags: Mapping[str, str] | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A domain service: routers behind shared auth, errors, observability and health endpoints.

    `gateway_transport` lets tests reach an in-process gateway (the revocation follower's)."""
    configure_logging(settings.log_level, json_logs=settings.json_logs)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
        install_sessions(app.state, engine)
        keys = keyset if keyset is not None else await load_keyset(settings)
        app.state.token_authority = TokenAuthority(
            keys, audience=settings.audience, issuer=settings.jwt_issuer
        )
        refresher = (
            asyncio.create_task(_keep_keys_fresh(app, settings))
            if keyset is None and settings.jwt_jwks_url and not settings.jwt_jwks_file
            else None
        )
        try:
            async with (
                asyncpg_pools(app, settings),
                replica_sessions(app, settings),
                follow_revocations(app, settings, transport=gateway_transport),
            ):
                if extra_lifespan is None:
                    yield
                else:
                    async with extra_lifespan(app):
                        yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        # /openapi.json, /docs and /redoc are served by shared.openapi.install_docs (offline assets).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    #: The service's clock; tests replace it (notice windows, pairing dates, expiries all read it).
    app.state.clock = DevClock() if settings.dev_clock else utcnow
    #: Set by `follow_revocations` when the service follows the gateway's list (None: plain attribute, no lookup miss).
    app.state.revocations = None
    install_common(app, settings, service=settings.service_name)
    app.include_router(health_router(_db_ready))
    for router in routers:
        app.include_router(router)
    if settings.dev_clock:
        app.include_router(dev_clock_router)
    if idempotency_keys is not None:
        # Innermost: inside the observability middleware, so its refusals are problem+json with a request id.
        install_idempotency(app, idempotency_keys)
    install_openapi(app, tags=tags)
    install_docs(app)
    return app
