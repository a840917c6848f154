"""The gateway's rate limits (ratelimit.py): per client address on the token endpoint, per principal on every
authenticated request, in-process by default and shared through Redis between replicas when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app as create_gateway
from gateway.ratelimit import InMemoryRateLimiter, RedisRateLimiter
from gateway.settings import GatewaySettings
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    PROVINCE,
    MakeClient,
    MakeUser,
    assert_problem,
    bearer,
    login,
    token_for,
)
from tests.harness import running

REDIS_URL = "redis://127.0.0.1:6379/0"


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def client_token(
    client: httpx.AsyncClient, client_id: str, secret: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra}
    return await client.post("/auth/token", data=data)


async def wait_for_fresh_window(margin: float = 3.0) -> None:
    """The limiters count in fixed minute windows; start a burst well inside one so it cannot straddle two."""
    remaining = 60 - time.time() % 60
    if remaining < margin:
        await asyncio.sleep(remaining + 0.05)


def assert_rate_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "rate limit")
    assert response.json()["type"] == "https://jingzhun.example/problems/too-many-requests"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60


class TestLoginRateLimit:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        return gateway_settings.model_copy(update={"rate_limit_login_per_minute": 3})

    async def test_token_endpoint_is_limited_per_client_ip(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        await wait_for_fresh_window()
        for _ in range(3):
            assert_problem(await login(gateway, user.username, "not the password"), 401)
        limited = await login(gateway, user.username)  # even the right password
        assert_rate_limited(limited)

    async def test_another_ip_has_its_own_budget(
        self, gateway: httpx.AsyncClient, gateway_app: FastAPI, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        await wait_for_fresh_window()
        for _ in range(3):
            await login(gateway, "no.such.user", "not the password")
        assert_rate_limited(await login(gateway, user.username))
        transport = httpx.ASGITransport(app=gateway_app, client=("198.51.100.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other_ip:
            response = await login(other_ip, user.username)
        assert response.status_code == 200, response.text

    async def test_refresh_and_client_grants_count_against_the_same_limit(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        await wait_for_fresh_window()
        assert_problem(await refresh(gateway, "unknown"), 401)
        assert (await client_token(gateway, "guangxi-province", secret)).status_code == 200
        assert_problem(await refresh(gateway, "unknown"), 401)
        assert_rate_limited(await client_token(gateway, "guangxi-province", secret))


class TestPrincipalRateLimit:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        return gateway_settings.model_copy(update={"rate_limit_per_minute": 3})

    async def test_requests_per_principal_are_limited(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        other = await make_user("cadre", COUNTY)
        token = await token_for(gateway, user)
        other_token = await token_for(gateway, other)
        await wait_for_fresh_window()
        for _ in range(3):
            assert (await gateway.get("/auth/me", headers=bearer(token))).status_code == 200
        assert_rate_limited(await gateway.get("/auth/me", headers=bearer(token)))
        # Another principal is not affected.
        assert (await gateway.get("/auth/me", headers=bearer(other_token))).status_code == 200

    async def test_a_new_token_does_not_reset_the_principals_budget(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        await wait_for_fresh_window()
        first = await token_for(gateway, user)
        for _ in range(3):
            assert (await gateway.get("/auth/me", headers=bearer(first))).status_code == 200
        second = await token_for(gateway, user)
        assert_rate_limited(await gateway.get("/auth/me", headers=bearer(second)))

    async def test_the_default_limiter_is_in_process(self, gateway_app: FastAPI) -> None:
        assert isinstance(gateway_app.state.rate_limiter, InMemoryRateLimiter)


@pytest.fixture
async def redis_available() -> AsyncIterator[None]:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except Exception as exc:  # any failure to reach it means: nothing to test against
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")
    finally:
        await client.aclose()
    yield


class TestRedisRateLimit:
    @pytest.fixture
    def gateway_settings(
        self, gateway_settings: GatewaySettings, redis_available: None, monkeypatch: pytest.MonkeyPatch
    ) -> GatewaySettings:
        monkeypatch.setenv("REDIS_URL", REDIS_URL)
        values = gateway_settings.model_dump(exclude={"redis_url"})
        # Read REDIS_URL from the environment as a deployment would.
        settings = GatewaySettings(
            **{**values, "rate_limit_per_minute": 3, "rate_limit_login_per_minute": 10_000}
        )
        assert settings.redis_url == REDIS_URL
        return settings

    async def test_redis_limiter_is_used_and_limits_per_principal(
        self, gateway: httpx.AsyncClient, gateway_app: FastAPI, make_user: MakeUser
    ) -> None:
        import redis.asyncio as redis

        app = gateway_app
        assert isinstance(app.state.rate_limiter, RedisRateLimiter)
        user = await make_user("cadre", COUNTY)
        token = await token_for(gateway, user)
        await wait_for_fresh_window()
        for _ in range(3):
            assert (await gateway.get("/auth/me", headers=bearer(token))).status_code == 200
        assert_rate_limited(await gateway.get("/auth/me", headers=bearer(token)))

        client = redis.from_url(REDIS_URL)
        try:
            window = int(time.time() // 60)
            count = await client.get(f"jz:rl:p:{user.id}:{window}")
            assert isinstance(count, bytes)
            assert int(count) == 4
            assert 0 < await client.ttl(f"jz:rl:p:{user.id}:{window}") <= 61
        finally:
            await client.aclose()

    async def test_redis_counters_are_shared_between_gateway_replicas(
        self,
        gateway: httpx.AsyncClient,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        make_user: MakeUser,
    ) -> None:
        user = await make_user("cadre", COUNTY)
        token = await token_for(gateway, user)
        await wait_for_fresh_window()
        async with running(create_gateway(gateway_settings, signing_key=signing_key)) as replica:
            for client in (gateway, replica, gateway):
                assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200
            assert_rate_limited(await replica.get("/auth/me", headers=bearer(token)))
            assert_rate_limited(await gateway.get("/auth/me", headers=bearer(token)))
