"""Issue #14 item 3: the token endpoint's limits cannot be dodged by a forged `X-Forwarded-For`, and a stranger
cannot lock an account's owner out (gateway/forwarded.py, gateway/tokens/throttle.py, tokens.domain lockout)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.forwarded import TrustedProxies
from gateway.ratelimit import InMemoryRateLimiter, RedisRateLimiter
from gateway.settings import GatewaySettings
from gateway.tokens.domain import LockoutPolicy, account_backoff
from ops.cli import uvicorn_command
from shared.jwt import SigningKey, generate_private_key_pem
from tests.factories import COUNTY, PROVINCE, MakeClient, MakeUser, assert_problem, login
from tests.gateway.test_rate_limits import REDIS_URL, redis_available  # noqa: F401 - a fixture
from tests.harness import free_socket

STRANGER = "198.51.100.66"
OWNER = "192.0.2.10"


def at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client of `app` connecting from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def wait_for_fresh_window(margin: float = 3.0) -> None:
    remaining = 60 - time.time() % 60
    if remaining < margin:
        await asyncio.sleep(remaining + 0.05)


def forged(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"10.9.{n // 250}.{n % 250 + 1}"}


# -- the client address --------------------------------------------------------------------------------------
class TestTrustedProxies:
    def test_no_proxy_is_trusted_by_default(self) -> None:
        assert GatewaySettings(environment="test").trusted_proxies == []
        assert TrustedProxies([]).client("127.0.0.1", "1.2.3.4") == "127.0.0.1"

    def test_setting_parses_addresses_and_networks(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRUSTED_PROXIES", "10.1.0.0/16, 127.0.0.1")
        assert GatewaySettings(environment="test").trusted_proxies == [
            ip_network("10.1.0.0/16"),
            ip_network("127.0.0.1/32"),
        ]

    def test_the_right_most_untrusted_address_is_the_client(self) -> None:
        proxies = TrustedProxies([ip_network("10.0.0.0/8")])
        # The client wrote the first two; our proxies appended the last two.
        assert proxies.client("10.0.0.5", "6.6.6.6, 7.7.7.7, 203.0.113.9, 10.0.0.4") == "203.0.113.9"
        assert proxies.client("192.0.2.1", "6.6.6.6") == "192.0.2.1"  # untrusted peer: header ignored
        assert proxies.client("10.0.0.5", "not-an-ip") == "10.0.0.5"
        assert proxies.client("10.0.0.5", None) == "10.0.0.5"


class TestForwardedForOnTheTokenEndpoint:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        return gateway_settings.model_copy(update={"rate_limit_login_per_minute": 3})

    async def test_rotating_the_header_does_not_reset_the_budget(self, gateway: httpx.AsyncClient) -> None:
        await wait_for_fresh_window()
        statuses = []
        for n in range(5):
            response = await gateway.post(
                "/auth/token",
                data={"grant_type": "password", "username": "a", "password": "x"},
                headers=forged(n),
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]

    async def test_a_trusted_proxys_client_is_counted_not_the_proxy(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        from gateway.main import create_app
        from tests.harness import running

        settings = gateway_settings.model_copy(update={"trusted_proxies": [ip_network("203.0.113.7/32")]})
        async with running(create_app(settings, signing_key=signing_key)) as proxy:
            await wait_for_fresh_window()

            async def attempt(chain: str) -> httpx.Response:
                return await proxy.post(
                    "/auth/token",
                    data={"grant_type": "password", "username": "a", "password": "x"},
                    headers={"X-Forwarded-For": chain},
                )

            # What the client prepends changes nothing: the proxy's own entry is the client.
            for n in range(3):
                assert_problem(await attempt(f"10.9.9.{n}, 198.51.100.5"), 401)
            assert_problem(await attempt("10.9.9.200, 198.51.100.5"), 429)
            # Another client behind the same proxy has its own budget.
            assert_problem(await attempt("198.51.100.6"), 401)


async def test_the_dev_runner_does_not_trust_forwarded_headers(
    db_urls: dict[str, str], tmp_path: Path
) -> None:
    """The gateway as `ops.cli run` serves it (uvicorn on a real socket from 127.0.0.1): a rotated
    X-Forwarded-For does not buy a fresh login budget."""
    key_file = tmp_path / "private.pem"
    key_file.write_bytes(generate_private_key_pem())
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "GATEWAY_DATABASE_URL": db_urls["gateway"],
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "RATE_LIMIT_LOGIN_PER_MINUTE": "3",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("TRUSTED_PROXIES", None)
    cmd = uvicorn_command("gateway.main:create_app", "127.0.0.1", port)
    proc = subprocess.Popen(cmd, env=env, cwd=Path(__file__).parents[2])  # noqa: S603, ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, "the gateway exited"
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not start"
                await asyncio.sleep(0.2)
            await wait_for_fresh_window()
            statuses = []
            for n in range(6):
                response = await client.post(
                    "/auth/token",
                    data={"grant_type": "password", "username": "nobody", "password": "x"},
                    headers=forged(n),
                )
                statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429, 429]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- lockout and slow-down ------------------------------------------------------------------------------------
class TestAccountBackoff:
    POLICY = LockoutPolicy(max_failures=5, lockout=timedelta(minutes=15), backoff_base=0.5, backoff_max=8.0)

    def test_no_delay_below_the_limit(self) -> None:
        assert [account_backoff(n, self.POLICY) for n in range(5)] == [0.0] * 5

    def test_doubling_then_capped(self) -> None:
        assert [account_backoff(n, self.POLICY) for n in range(5, 11)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        assert account_backoff(10_000, self.POLICY) == 8.0

    def test_off_when_the_base_is_zero(self) -> None:
        assert account_backoff(50, LockoutPolicy(5, timedelta(minutes=15))) == 0.0


async def throttles(db_urls: dict[str, str], account: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["gateway"])
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT * FROM gateway_login_throttle WHERE account = $1 ORDER BY address", account
        )
    finally:
        await conn.close()
    return rows


class TestPasswordLockout:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        # The slow-down counts in fixed LOGIN_LOCKOUT_SECONDS windows: a day's makes a boundary mid-test unlikely.
        return gateway_settings.model_copy(
            update={
                "login_backoff_base_seconds": 0.2,
                "login_backoff_max_seconds": 0.4,
                "login_lockout_seconds": 86400,
            }
        )

    @pytest.fixture
    async def stranger(self, gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        async with at(gateway_app, STRANGER) as client:
            yield client

    @pytest.fixture
    async def owner(self, gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        async with at(gateway_app, OWNER) as client:
            yield client

    async def test_a_stranger_cannot_lock_the_owner_out(
        self, stranger: httpx.AsyncClient, owner: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(5):
            assert_problem(await login(stranger, user.username, "not the password"), 401)
        assert (await login(owner, user.username)).status_code == 200

    async def test_the_strangers_address_is_locked_out_of_that_account(
        self,
        stranger: httpx.AsyncClient,
        owner: httpx.AsyncClient,
        make_user: MakeUser,
        db_urls: dict[str, str],
    ) -> None:
        user = await make_user("cadre", COUNTY)
        other = await make_user("cadre", COUNTY)
        for _ in range(5):
            await login(stranger, user.username, "not the password")
        assert_problem(await login(stranger, user.username), 401)  # even the right password, from there
        (row,) = await throttles(db_urls, f"user:{user.username}")
        assert row["address"] == STRANGER and row["locked_until"] is not None
        # Only that pair: the same address may still log in to another account.
        assert (await login(stranger, other.username)).status_code == 200

    async def test_past_the_limit_attempts_on_the_account_are_slowed_not_refused(
        self, gateway_app: FastAPI, owner: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for n in range(6):  # spread over addresses: no pair locks, the account counts them all
            async with at(gateway_app, f"198.51.100.{100 + n}") as guesser:
                assert_problem(await login(guesser, user.username, "not the password"), 401)
        started = time.monotonic()
        assert (await login(owner, user.username)).status_code == 200
        assert time.monotonic() - started >= 0.2
        # The success cleared the account's count: the next login does not wait.
        started = time.monotonic()
        assert (await login(owner, user.username)).status_code == 200
        assert time.monotonic() - started < 0.2

    async def test_unknown_accounts_are_slowed_alike(self, stranger: httpx.AsyncClient) -> None:
        for _ in range(6):
            await login(stranger, "no.such.user", "x")
        started = time.monotonic()
        assert_problem(await login(stranger, "no.such.user", "x"), 401)
        assert time.monotonic() - started >= 0.2


class TestClientCredentialsLockout:
    @staticmethod
    async def client_token(client: httpx.AsyncClient, secret: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "client_id": "guangxi-province", "client_secret": secret}
        return await client.post("/auth/token", data=data)

    async def test_wrong_secrets_lock_the_address_not_the_client(
        self, gateway_app: FastAPI, make_client: MakeClient, db_urls: dict[str, str]
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        async with at(gateway_app, STRANGER) as stranger, at(gateway_app, OWNER) as province:
            for _ in range(5):
                assert_problem(await self.client_token(stranger, "wrong-secret"), 401)
            assert_problem(await self.client_token(stranger, secret), 401)
            assert (await self.client_token(province, secret)).status_code == 200
        (row,) = await throttles(db_urls, "client:guangxi-province")
        assert row["address"] == STRANGER and row["locked_until"] is not None

    async def test_success_clears_the_pairs_count(
        self, gateway_app: FastAPI, make_client: MakeClient, db_urls: dict[str, str]
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        async with at(gateway_app, OWNER) as province:
            for _ in range(4):
                assert_problem(await self.client_token(province, "wrong-secret"), 401)
            assert (await self.client_token(province, secret)).status_code == 200
        assert await throttles(db_urls, "client:guangxi-province") == []


class TestLimiterPeekAndReset:
    async def test_in_memory(self) -> None:
        limiter = InMemoryRateLimiter()
        for _ in range(3):
            await limiter.hit("k", 100, 900)
        assert await limiter.peek("k", 900) == 3
        assert await limiter.peek("other", 900) == 0
        await limiter.reset("k", 900)
        assert await limiter.peek("k", 900) == 0

    @pytest.mark.usefixtures("redis_available")
    async def test_redis(self) -> None:
        limiter = RedisRateLimiter(REDIS_URL)
        key = f"test-peek:{time.time_ns()}"
        try:
            for _ in range(3):
                await limiter.hit(key, 100, 900)
            assert await limiter.peek(key, 900) == 3
            await limiter.reset(key, 900)
            assert await limiter.peek(key, 900) == 0
        finally:
            await limiter.close()
