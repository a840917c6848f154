"""A database outage under load (issue #14): PostgreSQL stops while requests run; every answer is a success or a
503 problem with `Retry-After` — never a 500, never a 502 from the gateway on a dropped keep-alive connection — and
once PostgreSQL is back, requests succeed again.

The PostgreSQL stopped here is a throw-away one (pgserver, in a temporary directory, on its own Unix socket), never
the shared server of the other tests. The registry is served by uvicorn behind the gateway, both on it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from shared.jwt import KeySet, SigningKey
from shared.migrate import upgrade
from shared.problems import PROBLEM_JSON, install_problem_handlers, is_database_outage
from shared.settings import asyncpg_url
from tests.factories import COUNTY, PASSWORD, auth, login
from tests.harness import running, serve, with_database


class ThrowAwayPostgres:
    """An embedded PostgreSQL of this test module only: stopped and started again by the test."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver

        self.root = Path(tempfile.mkdtemp(prefix="jz-outage-"))
        self.server: Any = pgserver.get_server(self.root / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]

    def url(self, database: str = "postgres") -> str:
        uri: str = self.server.get_uri(database)
        return uri

    def stop(self) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        # Fast shutdown: open sessions are terminated (AdminShutdown), then the socket goes away.
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def throw_away_pg() -> Iterator[ThrowAwayPostgres]:
    pg = ThrowAwayPostgres()
    try:
        yield pg
    finally:
        pg.close()


async def _create_database(admin: str, name: str) -> str:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin, name)


@pytest.fixture(scope="module")
async def outage_urls(throw_away_pg: ThrowAwayPostgres) -> dict[str, str]:
    """The gateway's and the registry's databases on the throw-away server, migrated, with one user."""
    from ops.seed import DEMO_REGIONS

    admin = throw_away_pg.url()
    urls = {s: await _create_database(admin, f"jz_outage_{s}") for s in ("gateway", "registry")}
    for service, url in urls.items():
        await asyncio.to_thread(upgrade, service, url)
    conn = await asyncpg.connect(urls["registry"])
    try:
        await conn.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            DEMO_REGIONS,
        )
    finally:
        await conn.close()
    conn = await asyncpg.connect(urls["gateway"])
    try:
        await conn.execute(
            "INSERT INTO gateway_user (id, username, display_name, password_hash, role, region_code)"
            " VALUES (gen_random_uuid(), $1, $1, $2, 'county_admin', $3)",
            USERNAME,
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD),
            COUNTY,
        )
    finally:
        await conn.close()
    return urls


USERNAME = "outage.admin"


def _gateway_settings(database_url: str, registry_url: str) -> GatewaySettings:
    return GatewaySettings(
        environment="test",
        database_url=database_url,
        json_logs=False,
        log_level="WARNING",
        registry_url=registry_url,
        planning_url="http://127.0.0.1:9",
        assessment_url="http://127.0.0.1:9",
        proxy_connect_timeout=1.0,
        proxy_read_timeout=5.0,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )


@contextlib.asynccontextmanager
async def _platform(
    urls: dict[str, str], signing_key: SigningKey, keyset: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    from services.registry.main import create_app as create_registry
    from services.registry.settings import RegistrySettings

    registry = create_registry(
        RegistrySettings(
            environment="test", database_url=urls["registry"], json_logs=False, log_level="WARNING"
        ),
        keyset=keyset,
    )
    async with serve(registry) as registry_url:
        gateway = create_gateway(_gateway_settings(urls["gateway"], registry_url), signing_key=signing_key)
        async with running(gateway) as client:
            yield client


def _check(response: httpx.Response, seen: collections.Counter[str], what: str) -> None:
    """A success, or a 503 problem with Retry-After; nothing else."""
    status = response.status_code
    if status == 503:
        assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
        assert int(response.headers["retry-after"]) > 0
        body = response.json()
        assert body["status"] == 503 and body["code"] == "database_unavailable", body
    else:
        assert status in (200, 404), f"{what}: {status} {response.text}"
    seen[f"{what} {status}"] += 1


class TestDatabaseOutage:
    async def test_stopping_postgres_under_load_answers_503_then_recovers(
        self,
        throw_away_pg: ThrowAwayPostgres,
        outage_urls: dict[str, str],
        signing_key: SigningKey,
        keyset: KeySet,
    ) -> None:
        seen: collections.Counter[str] = collections.Counter()
        async with _platform(outage_urls, signing_key, keyset) as gw:
            response = await login(gw, USERNAME)
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            stop = asyncio.Event()

            async def reader() -> None:
                while not stop.is_set():
                    # A region that exists (200) and one that does not (404): both read the database.
                    for code in (COUNTY, "451025999999"):
                        r = await gw.get(f"/api/registry/regions/{code}", headers=auth(token))
                        _check(r, seen, "read")
                    await asyncio.sleep(0.01)

            async def logger_in() -> None:
                while not stop.is_set():
                    _check(await login(gw, USERNAME), seen, "login")
                    await asyncio.sleep(0.2)

            workers = [asyncio.create_task(reader()) for _ in range(4)] + [asyncio.create_task(logger_in())]
            try:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(throw_away_pg.stop)
                await asyncio.sleep(3.0)
                during = dict(seen)
                await asyncio.to_thread(throw_away_pg.start)
                await asyncio.sleep(1.0)
            finally:
                stop.set()
                results = await asyncio.gather(*workers, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            assert during.get("read 503") and during.get("login 503"), during
            assert seen["read 200"] and seen["login 200"], seen

            # Back: every request succeeds again (the pool replaced the connections it lost).
            deadline = time.monotonic() + 15
            while True:
                r = await gw.get(f"/api/registry/regions/{COUNTY}", headers=auth(token))
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                _check(r, seen, "recovery")
                await asyncio.sleep(0.2)
            assert r.status_code == 200, r.text
            for _ in range(20):
                r = await gw.get(f"/api/registry/regions/{COUNTY}", headers=auth(token))
                assert r.status_code == 200, r.text
            assert (await login(gw, USERNAME)).status_code == 200


# -- the handlers, in-process -----------------------------------------------------------------------------------
def _probe_app(url: str) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    engine = create_async_engine(asyncpg_url(url), pool_size=1, max_overflow=0)

    @app.get("/select")
    async def select() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"one": (await conn.execute(sa.text("SELECT 1"))).scalar_one()}

    @app.get("/bad-sql")
    async def bad_sql() -> dict[str, int]:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT * FROM no_such_table"))
        return {}

    @app.get("/file")
    def missing_file() -> dict[str, str]:
        return {"text": Path(f"/nonexistent/{uuid.uuid4().hex}").read_text()}

    return app


class TestHandlers:
    async def test_unreachable_database_is_503_in_the_callers_language(self) -> None:
        app = _probe_app("postgresql://postgres@127.0.0.1:9/postgres")  # nothing listens on port 9
        async with running(app) as client:
            response = await client.get("/select", headers={"Accept-Language": "zh-CN"})
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        body = response.json()
        assert body["code"] == "database_unavailable" and body["instance"] == "/select"
        assert body["title"] == "服务暂不可用" and "数据库" in body["detail"]

    async def test_a_failing_statement_and_a_missing_file_stay_500(
        self, throw_away_pg: ThrowAwayPostgres
    ) -> None:
        app = _probe_app(throw_away_pg.url())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/select")).json() == {"one": 1}
            for path in ("/bad-sql", "/file"):
                response = await client.get(path)
                assert response.status_code == 500, path
                assert "retry-after" not in response.headers

    def test_the_exception_chain_is_walked(self) -> None:
        import sqlalchemy.exc

        refused = ConnectionRefusedError(111, "Connect call failed")
        wrapped = sqlalchemy.exc.OperationalError("SELECT 1", None, refused)
        assert is_database_outage(wrapped)
        try:
            try:
                raise asyncpg.exceptions.AdminShutdownError(
                    "terminating connection due to administrator command"
                )
            except asyncpg.PostgresError as exc:
                raise sqlalchemy.exc.DBAPIError("SELECT 1", None, Exception("translated")) from exc
        except sqlalchemy.exc.DBAPIError as outer:
            assert is_database_outage(outer)
        assert is_database_outage(sqlalchemy.exc.TimeoutError("QueuePool limit reached"))
        assert not is_database_outage(
            sqlalchemy.exc.ProgrammingError("SELECT x", None, Exception("no column"))
        )
        assert not is_database_outage(FileNotFoundError(2, "No such file"))  # raised outside the driver
