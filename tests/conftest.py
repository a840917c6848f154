"""Test harness: real PostgreSQL (TEST_DATABASE_URL, else an embedded one), migrated by Alembic.

Four throw-away databases are created for the session and dropped at the end; every test that uses one starts
from empty tables, and pure tests (domain rules) touch none. The apps are imported by the fixtures that build them,
so a test of one process never depends on another process importing. Apps run in-process (httpx.ASGITransport) with their real lifespans; where real sockets matter (the
proxy), services are served by uvicorn on ephemeral ports inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from shared.jwt import KeySet, SigningKey, generate_private_key_pem
from shared.migrate import upgrade
from tests.factories import PASSWORD, MakeClient, MakeUser, User
from tests.harness import running, with_database
from tests.wire_format import check_time_format

SERVICES = ("gateway", "registry", "planning", "assessment")


def _admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from ops.embedded_pg import server_url, start_embedded

    server = start_embedded(Path(__file__).resolve().parent.parent / "var" / "test-pgdata")
    _admin_url.server = server  # type: ignore[attr-defined]  # keep it alive for the session
    return server_url(server)


@pytest.fixture(scope="session")
async def db_urls() -> AsyncIterator[dict[str, str]]:
    admin = _admin_url()
    tag = uuid.uuid4().hex[:8]
    names = {s: f"jzt_{tag}_{s}" for s in SERVICES}
    conn = await asyncpg.connect(admin)
    try:
        for name in names.values():
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    urls = {s: with_database(admin, n) for s, n in names.items()}
    for service in SERVICES:
        await asyncio.to_thread(upgrade, service, urls[service])
    yield urls
    conn = await asyncpg.connect(admin)
    try:
        for name in names.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


#: Catalogues the migrations ship as data: kept across tests, emptied only of what tests added to them.
CATALOGUES = {
    "planning_indicator": "DELETE FROM planning_indicator WHERE county_code IS NOT NULL",
    "planning_earmark_rule": "DELETE FROM planning_earmark_rule WHERE county_code <> ''",
}


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> None:
    """Empty every table before a test that touches a database; pure tests (domain rules) need none."""
    if "db_urls" not in request.fixturenames:
        return
    db_urls: dict[str, str] = request.getfixturevalue("db_urls")
    for service in SERVICES:
        conn = await asyncpg.connect(db_urls[service])
        try:
            tables = [
                t["tablename"]
                for t in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename NOT LIKE 'alembic_%'"
                )
            ]
            wiped = [t for t in tables if t not in CATALOGUES]
            if wiped:
                await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in wiped) + " CASCADE")
            for table in tables:
                if table in CATALOGUES:
                    await conn.execute(CATALOGUES[table])
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.from_pem(generate_private_key_pem())


@pytest.fixture(scope="session")
def keyset(signing_key: SigningKey) -> KeySet:
    return KeySet(signing_key.jwks())


@pytest.fixture
def gateway_settings(db_urls: dict[str, str]) -> GatewaySettings:
    return GatewaySettings(
        environment="test",
        database_url=db_urls["gateway"],
        json_logs=False,
        log_level="WARNING",
        registry_url="http://127.0.0.1:9",  # overridden by tests that need live upstreams
        planning_url="http://127.0.0.1:9",
        assessment_url="http://127.0.0.1:9",
        proxy_connect_timeout=1.0,
        proxy_read_timeout=2.0,
        argon2_time_cost=1,  # fast hashes: the tests log in hundreds of times
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )


@pytest.fixture
async def gateway(
    gateway_settings: GatewaySettings, signing_key: SigningKey
) -> AsyncIterator[httpx.AsyncClient]:
    from gateway.main import create_app as create_gateway

    app = create_gateway(gateway_settings, signing_key=signing_key)
    async with running(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield checked(client)


def checked(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The in-process client with the wire checks of every answer it receives (tests/wire_format.py: every time
    in a JSON body is RFC 3339 with `Z`)."""
    client.event_hooks["response"].append(check_time_format)
    return client


def service_settings(cls: type[Any], url: str) -> Any:
    return cls(environment="test", database_url=url, json_logs=False, log_level="WARNING")


@pytest.fixture
def registry_app(db_urls: dict[str, str], keyset: KeySet) -> FastAPI:
    from services.registry.main import create_app as create_registry
    from services.registry.settings import RegistrySettings

    return create_registry(service_settings(RegistrySettings, db_urls["registry"]), keyset=keyset)


@pytest.fixture
async def registry(registry_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(registry_app) as client:
        yield checked(client)


@pytest.fixture
async def planning(db_urls: dict[str, str], keyset: KeySet) -> AsyncIterator[httpx.AsyncClient]:
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings

    app = create_planning(service_settings(PlanningSettings, db_urls["planning"]), keyset=keyset)
    async with running(app) as client:
        yield checked(client)


@pytest.fixture
async def assessment(db_urls: dict[str, str], keyset: KeySet) -> AsyncIterator[httpx.AsyncClient]:
    from services.assessment.main import create_app as create_assessment
    from services.assessment.settings import AssessmentSettings

    app = create_assessment(service_settings(AssessmentSettings, db_urls["assessment"]), keyset=keyset)
    async with running(app) as client:
        yield checked(client)


# -- data helpers -------------------------------------------------------------------------------------------
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@pytest.fixture
async def make_user(db_urls: dict[str, str]) -> MakeUser:
    async def _make(role: str, region: str, username: str | None = None, *, disabled: bool = False) -> User:
        username = username or f"{role.replace('_', '')}.{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            user_id = await conn.fetchval(
                "INSERT INTO gateway_user (id, username, display_name, password_hash, role, region_code, disabled_at)"
                " VALUES (gen_random_uuid(), $1, $1, $2, $3, $4, CASE WHEN $5 THEN now() END) RETURNING id",
                username,
                _HASH,
                role,
                region,
                disabled,
            )
        finally:
            await conn.close()
        return User(str(user_id), username, role, region)

    return _make


@pytest.fixture
async def make_client(db_urls: dict[str, str]) -> MakeClient:
    async def _make(client_id: str, role: str, region: str, secret: str = "s3cret-client-secret") -> str:
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            await conn.execute(
                "INSERT INTO gateway_client (client_id, secret_hash, role, region_code) VALUES ($1, $2, $3, $4)",
                client_id,
                PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret),
                role,
                region,
            )
        finally:
            await conn.close()
        return secret

    return _make


@pytest.fixture
async def seed_regions(db_urls: dict[str, str]) -> None:
    from ops.seed import DEMO_REGIONS

    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            DEMO_REGIONS,
        )
    finally:
        await conn.close()
