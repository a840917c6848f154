"""The gateway: identity (users, tokens, JWKS), user administration, and the proxy to the three services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request

from gateway import proxy
from gateway.deps import authenticated_caller
from gateway.edge import EdgeMiddleware
from gateway.forwarded import TrustedProxyMiddleware
from gateway.identity import Identity, Revocations, refresh_revocations
from gateway.openapi_merge import OpenAPIMerger
from gateway.passwords import Passwords
from gateway.ratelimit import make_rate_limiter
from gateway.route_timeouts import RouteTimeouts
from gateway.settings import GatewaySettings
from gateway.tokens import routes as tokens
from gateway.tokens.domain import GATEWAY_AUDIENCE
from gateway.users import routes as users
from shared.app import health_router, install_common
from shared.auth import TokenAuthority
from shared.db import create_engine, install_sessions, ping
from shared.jwt import KeySet, SigningKey
from shared.observability import configure_logging
from shared.openapi import declare_dependency, install_docs, install_openapi, operation_id

__all__ = ["create_app"]

_log = logging.getLogger("jingzhun.gateway")

#: How long shutdown waits for a revocation refresh under way before cancelling it.
_REFRESH_STOP_SECONDS = 2.0

#: How a client authenticates: a bearer token, which Swagger UI's "Authorize" gets with the password grant.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /auth/token` (15 minutes)",
    },
    "password": {
        "type": "oauth2",
        "description": "The password grant of `POST /auth/token` (for Swagger UI's Authorize)",
        "flows": {"password": {"tokenUrl": "/auth/token", "scopes": {}}},
    },
}

DESCRIPTION = """
Jingzhun (精准) platform API: identity at the gateway, and the registry, planning and assessment services
behind it under `/api/{service}/…`.

Get a token with `POST /auth/token` (form fields `grant_type=password&username=…&password=…`), then send
`Authorization: Bearer <access_token>`. Access tokens last 15 minutes; refresh with
`grant_type=refresh_token`. Errors are RFC 9457 `application/problem+json`.
"""


async def _ready(app: FastAPI) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        await ping(app.state.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    settings: GatewaySettings = app.state.settings
    async with httpx.AsyncClient(timeout=2) as client:

        async def probe(name: str, base: str) -> tuple[str, str]:
            try:
                response = await client.get(f"{base}/readyz")
                return name, "ok" if response.status_code == 200 else f"status {response.status_code}"
            except httpx.HTTPError as exc:
                return name, f"unreachable: {type(exc).__name__}"

        results = await asyncio.gather(*(probe(n, b) for n, b in settings.upstreams.items()))
    checks.update(dict(results))
    return checks


def create_app(settings: GatewaySettings | None = None, *, signing_key: SigningKey | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging(settings.log_level, json_logs=settings.json_logs)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        key = signing_key
        if key is None:
            if settings.jwt_private_key_file is None:
                raise RuntimeError(
                    "JWT_PRIVATE_KEY_FILE is not set (the run command generates development keys)"
                )
            key = SigningKey.from_file(settings.jwt_private_key_file)
        engine = create_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
        install_sessions(app.state, engine)
        sessions = app.state.sessions
        passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        revocations = Revocations()
        app.state.token_authority = TokenAuthority(
            KeySet(key.jwks()), audience=GATEWAY_AUDIENCE, issuer=settings.jwt_issuer
        )
        app.state.revocations = revocations
        app.state.rate_limiter = make_rate_limiter(settings.redis_url, prefix=settings.redis_key_prefix)
        app.state.identity = Identity(settings, key, passwords, revocations, limiter=app.state.rate_limiter)
        app.state.upstream = proxy.make_upstream(settings)
        app.state.route_templates = proxy.RouteTemplates(
            settings.upstreams, refresh=settings.route_templates_refresh_seconds
        )
        app.state.openapi_merger = OpenAPIMerger(settings.upstreams)

        stopping = asyncio.Event()

        async def keep_revocations_fresh() -> None:
            while not stopping.is_set():
                try:
                    await refresh_revocations(
                        revocations, sessions, access_ttl=settings.access_token_ttl_seconds
                    )
                except Exception:
                    _log.exception("revocation refresh failed; keeping the previous list")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), settings.revocation_refresh_seconds)

        refresher = asyncio.create_task(keep_revocations_fresh())
        try:
            yield
        finally:
            # Let a refresh under way finish (a cancelled query leaves its connection's future unread), but do
            # not wait long on a database that does not answer.
            stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(refresher), _REFRESH_STOP_SECONDS)
            except TimeoutError:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await app.state.route_templates.close()
            await app.state.upstream.close()
            await app.state.rate_limiter.close()
            await engine.dispose()

    app = FastAPI(
        title="Jingzhun API",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # /openapi.json (merged), /docs and /redoc: shared.openapi.install_docs, with offline assets.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    # Built here, so that a bad ROUTE_TIMEOUTS stops the process before it serves (gateway/route_timeouts.py).
    app.state.route_timeouts = RouteTimeouts(settings.route_timeouts, settings.proxy_read_timeout)
    # Inside the observability middleware (its durations include compression) and CORS.
    app.add_middleware(EdgeMiddleware, minimum_size=settings.gzip_min_bytes, level=settings.gzip_level)
    install_common(app, settings, service="gateway", cors_origins=settings.cors_origins)
    # Outermost: everything inside (logs, limits, the proxy's X-Forwarded-For) sees the client it establishes.
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    app.include_router(health_router(_ready))
    app.include_router(tokens.router)
    app.include_router(users.router)
    app.include_router(users.audit_router)
    # First: the busiest route is matched before the few dozen identity routes (none of which starts with /api/).
    app.router.routes.insert(0, proxy.route)

    # `app.openapi()` is the gateway's own document (finished by shared.openapi, as the services' are);
    # `/openapi.json` answers it merged with the services' (gateway/openapi_merge.py), and scripts/contract.py
    # builds the same merged document offline from each process's `app.openapi()`.
    declare_dependency(authenticated_caller, 401, 429)
    install_openapi(app, security_schemes=SECURITY_SCHEMES, security=[{"bearer": []}, {"password": []}])

    async def merged_document(request: Request) -> dict[str, Any]:
        merger: OpenAPIMerger = request.app.state.openapi_merger
        return await merger.document(app.openapi())  # `servers`: the gateway's root

    install_docs(app, document=merged_document)

    return app
