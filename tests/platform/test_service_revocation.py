"""Issue #14 item 4: services follow the gateway's revocation list (shared/revocations.py, `GET /auth/revocations`),
so a logged-out or disabled user's token is refused by a service reached directly within seconds, not at expiry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from services.registry.main import create_app as create_registry
from services.registry.settings import RegistrySettings
from shared.jwt import KeySet
from shared.revocations import RevocationList
from shared.roles import Principal, Role
from tests.factories import COUNTY, VILLAGE, MakeClient, MakeUser, assert_problem, bearer, token_for
from tests.harness import running

#: How long a revocation may take to reach the registry here (the gateway refreshes and the follower polls fast).
WITHIN_SECONDS = 5.0
POLL_SECONDS = 0.1


@pytest.fixture
def gateway_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    """The gateway re-reads its database quickly: revocations made on "another replica" arrive in a tenth."""
    return gateway_settings.model_copy(update={"revocation_refresh_seconds": POLL_SECONDS})


@pytest.fixture
async def service_secret(make_client: MakeClient) -> str:
    return await make_client("registry-service", "service", "000000000000")


def registry_settings(db_urls: dict[str, str], secret: str, **overrides: object) -> RegistrySettings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": db_urls["registry"],
        "json_logs": False,
        "log_level": "WARNING",
        "gateway_url": "http://gateway.test",
        "follow_revocations": True,
        "service_client_id": "registry-service",
        "service_client_secret": secret,
        "revocations_poll_seconds": POLL_SECONDS,
        **overrides,
    }
    return RegistrySettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def registry_following(
    app: FastAPI, settings: RegistrySettings, keyset: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    """The registry, following the in-process gateway `app` over ASGI."""
    registry_app = create_registry(settings, keyset=keyset, gateway_transport=httpx.ASGITransport(app=app))
    async with running(registry_app) as client:
        client.app = registry_app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def registry_direct(
    gateway: httpx.AsyncClient, db_urls: dict[str, str], keyset: KeySet, service_secret: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The registry reached directly (not through the gateway), following the gateway's revocations."""
    gateway_app = gateway.app  # type: ignore[attr-defined]
    async with registry_following(gateway_app, registry_settings(db_urls, service_secret), keyset) as client:
        await synced(client)
        yield client


async def synced(client: httpx.AsyncClient) -> None:
    revocations = client.app.state.revocations  # type: ignore[attr-defined]
    assert isinstance(revocations, RevocationList)
    deadline = time.monotonic() + WITHIN_SECONDS
    while revocations.synced_at is None:
        assert time.monotonic() < deadline, "the follower never reached the gateway"
        await asyncio.sleep(0.05)


async def refused_within(
    call: Callable[[], Awaitable[httpx.Response]], seconds: float = WITHIN_SECONDS
) -> float:
    """Seconds until `call` answers 401 (a problem), failing after `seconds`."""
    start = time.monotonic()
    while True:
        response = await call()
        if response.status_code == 401:
            assert_problem(response, 401, "token revoked")
            assert response.headers["www-authenticate"].lower().startswith("bearer")
            return time.monotonic() - start
        assert response.status_code != 500, response.text
        assert time.monotonic() - start < seconds, f"still {response.status_code} after {seconds} s"
        await asyncio.sleep(0.05)


class TestLoggedOutUser:
    async def test_token_is_refused_by_the_registry_directly(
        self, gateway: httpx.AsyncClient, registry_direct: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", VILLAGE)
        other = await make_user("cadre", VILLAGE)
        token, others = await token_for(gateway, user), await token_for(gateway, other)
        assert (await registry_direct.get("/me", headers=bearer(token))).status_code == 200
        assert (await gateway.post("/auth/logout", headers=bearer(token))).status_code == 204

        async def read() -> httpx.Response:
            return await registry_direct.get("/me", headers=bearer(token))

        assert await refused_within(read) < WITHIN_SECONDS
        # Writes too: the one authentication dependency refuses before the body is even looked at.
        assert_problem(await registry_direct.post("/households", json={}, headers=bearer(token)), 401)
        assert (await registry_direct.get("/me", headers=bearer(others))).status_code == 200
        assert (await registry_direct.post("/households", json={}, headers=bearer(others))).status_code == 422


class TestDisabledUser:
    async def test_earlier_token_is_refused_after_an_administrator_disables_the_user(
        self, gateway: httpx.AsyncClient, registry_direct: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await make_user("county_admin", COUNTY)
        user = await make_user("cadre", VILLAGE)
        token, admin_token = await token_for(gateway, user), await token_for(gateway, admin)
        assert (await registry_direct.get("/me", headers=bearer(token))).status_code == 200
        disabled = await gateway.post(f"/users/{user.id}/disable", headers=bearer(admin_token))
        assert disabled.status_code == 200, disabled.text

        async def read() -> httpx.Response:
            return await registry_direct.get("/me", headers=bearer(token))

        await refused_within(read)
        assert (await registry_direct.get("/me", headers=bearer(admin_token))).status_code == 200

    async def test_a_disable_made_on_another_gateway_replica_arrives_through_the_database(
        self,
        gateway: httpx.AsyncClient,
        registry_direct: httpx.AsyncClient,
        make_user: MakeUser,
        db_urls: dict[str, str],
    ) -> None:
        user = await make_user("cadre", VILLAGE)
        token = await token_for(gateway, user)
        assert (await registry_direct.get("/me", headers=bearer(token))).status_code == 200
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            await conn.execute("UPDATE gateway_user SET disabled_at = now() WHERE id = $1::uuid", user.id)
        finally:
            await conn.close()

        async def read() -> httpx.Response:
            return await registry_direct.get("/me", headers=bearer(token))

        await refused_within(read)


class Collecting(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestGatewayUnreachable:
    async def test_the_service_starts_serves_and_logs(
        self, gateway: httpx.AsyncClient, db_urls: dict[str, str], keyset: KeySet, make_user: MakeUser
    ) -> None:
        token = await token_for(gateway, await make_user("cadre", VILLAGE))
        settings = registry_settings(db_urls, "whatever", gateway_url="http://127.0.0.1:9")
        handler = Collecting()
        records = handler.records
        logger = logging.getLogger("jingzhun.revocations")
        logger.addHandler(handler)
        try:
            async with running(create_registry(settings, keyset=keyset)) as registry:
                deadline = time.monotonic() + WITHIN_SECONDS
                while not records:
                    assert time.monotonic() < deadline, "the failing follower logged nothing"
                    await asyncio.sleep(0.05)
                # Fail-open: a valid token still works while the list cannot be refreshed.
                assert (await registry.get("/me", headers=bearer(token))).status_code == 200
                assert (await registry.get("/healthz")).status_code == 200
        finally:
            logger.removeHandler(handler)
        assert "revocation list refresh failed" in records[0].getMessage()

    async def test_fail_closed_refuses_every_token_past_the_staleness_bound(
        self, gateway: httpx.AsyncClient, db_urls: dict[str, str], keyset: KeySet, make_user: MakeUser
    ) -> None:
        token = await token_for(gateway, await make_user("cadre", VILLAGE))
        settings = registry_settings(
            db_urls,
            "whatever",
            gateway_url="http://127.0.0.1:9",
            revocations_fail_closed=True,
            revocations_max_stale_seconds=0.2,
        )
        async with running(create_registry(settings, keyset=keyset)) as registry:
            await asyncio.sleep(0.3)
            assert_problem(await registry.get("/me", headers=bearer(token)), 401, "revocation list stale")


class TestRevocationsEndpoint:
    async def test_only_services_read_it(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, service_secret: str
    ) -> None:
        user_token = await token_for(gateway, await make_user("county_admin", COUNTY))
        assert_problem(await gateway.get("/auth/revocations", headers=bearer(user_token)), 403)
        assert_problem(await gateway.get("/auth/revocations"), 401)
        issued = await gateway.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "audience": "jingzhun-gateway"},
            auth=("registry-service", service_secret),
        )
        service = bearer(issued.json()["access_token"])
        first = await gateway.get("/auth/revocations", headers=service)
        assert first.status_code == 200, first.text
        assert set(first.json()) == {"subjects", "jtis", "families"}
        unchanged = await gateway.get(
            "/auth/revocations", headers={**service, "If-None-Match": first.headers["etag"]}
        )
        assert unchanged.status_code == 304
        assert (await gateway.post("/auth/logout", headers=bearer(user_token))).status_code == 204
        changed = await gateway.get(
            "/auth/revocations", headers={**service, "If-None-Match": first.headers["etag"]}
        )
        assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
        assert len(changed.json()["jtis"]) == 1


class TestFollowerOff:
    def test_off_without_a_gateway_to_follow(self, registry_app: FastAPI) -> None:
        """Services built without a gateway (JWT_JWKS_URL unset, as in the tests) do not follow one."""
        assert registry_app.state.revocations is None
        assert not registry_app.state.settings.follows_revocations
        assert RegistrySettings(
            jwt_jwks_url="http://gateway/.well-known/jwks.json", service_client_id="registry-service"
        ).follows_revocations


class TestRevocationList:
    def principal(
        self, *, sub: str = "u1", jti: str = "j1", sid: str | None = None, iat: int = 100
    ) -> Principal:
        return Principal(
            sub=sub, role=Role.cadre, region=VILLAGE, jti=jti, issued_at=iat, expires_at=10**10, sid=sid
        )

    def test_checks_jti_family_and_cut_off(self) -> None:
        from shared.problems import Unauthorized

        revocations = RevocationList()
        revocations.load(
            {"subjects": {"disabled": None, "reset": 150}, "jtis": {"j9": 1e10}, "families": {"f1": 1e10}},
            version='"a-1"',
        )
        for refused in (
            self.principal(jti="j9"),
            self.principal(sid="f1"),
            self.principal(sub="disabled", iat=10**9),
            self.principal(sub="reset", iat=149),
        ):
            with pytest.raises(Unauthorized):
                revocations.check(refused)
        revocations.check(self.principal(sub="reset", iat=150))
        revocations.check(self.principal(sid="f2"))
