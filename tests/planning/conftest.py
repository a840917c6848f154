"""Planning under test: the real planning app, with the registry and the gateway in process, reached over HTTP.

`planning` is an in-process client of the planning app whose registry client talks to a live in-process registry
app (ASGI transport) with a real service token from the in-process gateway — the same wire as production, with
no import of registry code by planning. `registry_down` gives a planning app whose registry refuses connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import KeySet
from tests.factories import MakeClient
from tests.harness import running


async def _planning_app(
    db_urls: dict[str, str],
    keyset: KeySet,
    secret: str,
    *,
    registry_transport: httpx.AsyncBaseTransport,
    gateway_transport: httpx.AsyncBaseTransport,
) -> FastAPI:
    from services.planning.main import create_app
    from services.planning.settings import PlanningSettings

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
    return create_app(
        settings, keyset=keyset, registry_transport=registry_transport, gateway_transport=gateway_transport
    )


@pytest.fixture
async def planning_app(
    db_urls: dict[str, str],
    keyset: KeySet,
    make_client: MakeClient,
    gateway: httpx.AsyncClient,
    registry_app: FastAPI,
) -> AsyncIterator[FastAPI]:
    secret = await make_client("planning-service", "service", "000000000000")
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(registry_app))
        app = await _planning_app(
            db_urls,
            keyset,
            secret,
            registry_transport=httpx.ASGITransport(app=registry_app),
            gateway_transport=httpx.ASGITransport(app=gateway_app),
        )
        yield app


@pytest.fixture
async def planning(planning_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(planning_app) as client:
        yield client


class _Refused(httpx.AsyncBaseTransport):
    """A registry that is down: every connection is refused."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
async def planning_registry_down(
    db_urls: dict[str, str], keyset: KeySet, make_client: MakeClient, gateway: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A planning client whose registry refuses every connection (the gateway still issues tokens)."""
    secret = await make_client("planning-service", "service", "000000000000")
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    app = await _planning_app(
        db_urls,
        keyset,
        secret,
        registry_transport=_Refused(),
        gateway_transport=httpx.ASGITransport(app=gateway_app),
    )
    async with running(app) as client:
        yield client
