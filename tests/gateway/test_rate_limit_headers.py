"""Per-client rate limits with `RateLimit-*` headers, the machine tier and overrides, and per-route proxy timeouts
(gateway/ratelimit.py, gateway/deps.py, gateway/route_timeouts.py, gateway/proxy.py; issue #15).

Upstreams are small Starlette apps served by uvicorn on ephemeral ports (tests/harness.py `serve`); the gateway
runs in-process with its real database and, for the Redis tests, the local Redis under a unique key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.deps import rate_limit_of
from gateway.main import create_app as create_gateway
from gateway.ratelimit import InMemoryRateLimiter, Quota, RedisRateLimiter, quota_headers
from gateway.route_timeouts import DEFAULT_ROUTE_TIMEOUTS, RouteTimeouts
from gateway.settings import GatewaySettings
from shared.jwt import SigningKey
from shared.roles import Principal, Role
from tests.factories import COUNTY, PROVINCE, assert_problem, auth, issue
from tests.gateway.test_rate_limits import REDIS_URL, wait_for_fresh_window
from tests.harness import running, serve

POLICY = re.compile(r'^"(?P<name>[a-z]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
STATE = re.compile(r'^"(?P<name>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def quota_of(response: httpx.Response) -> tuple[str, int, int, int]:
    """(policy name, quota, remaining, reset) from the answer's headers, checking both forms agree."""
    policy = POLICY.match(response.headers["ratelimit-policy"])
    state = STATE.match(response.headers["ratelimit"])
    assert policy and state, response.headers
    assert policy["name"] == state["name"]
    assert policy["w"] == "60"
    limit, remaining, reset = int(policy["q"]), int(state["r"]), int(state["t"])
    assert 1 <= reset <= 60
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == str(remaining)
    assert response.headers["ratelimit-reset"] == str(reset)
    return policy["name"], limit, remaining, reset


def upstream_app() -> Starlette:
    async def ok(request: Request) -> JSONResponse:
        # A service trying to speak for the gateway's quota is not believed.
        return JSONResponse({"ok": True}, headers={"RateLimit": '"default";r=999;t=1'})

    async def missing(request: Request) -> JSONResponse:
        body = {"type": "https://jingzhun.example/problems/not-found", "title": "Not found", "status": 404}
        return JSONResponse(body, status_code=404, media_type="application/problem+json")

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(float(request.query_params.get("s", "1")))
        return JSONResponse({"late": True})

    async def slow_stream(request: Request) -> StreamingResponse:
        pause = float(request.query_params.get("s", "1"))

        async def rows() -> AsyncIterator[bytes]:
            await asyncio.sleep(pause)  # the snapshot being opened
            for n in range(3):
                yield b'{"n": %d}\n' % n
                await asyncio.sleep(pause / 2)

        return StreamingResponse(rows(), media_type="application/x-ndjson")

    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/missing", missing),
            Route("/slow", slow, methods=["GET", "POST"]),
            Route("/changes", slow),
            Route("/exports/households", slow_stream),
        ]
    )


@contextlib.asynccontextmanager
async def gateway_over_upstream(
    settings: GatewaySettings, signing_key: SigningKey
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(upstream_app()) as upstream:
        settings = settings.model_copy(update={"registry_url": upstream})
        async with running(create_gateway(settings, signing_key=signing_key)) as client:
            yield client


# -- pure ----------------------------------------------------------------------------------------------------
class TestHeaderFormatting:
    def test_current_draft_fields_and_the_legacy_trio(self) -> None:
        quota = Quota("default", 1200, 60, remaining=17, reset=42, exceeded=False)
        assert quota_headers(quota) == {
            "RateLimit-Policy": '"default";q=1200;w=60',
            "RateLimit": '"default";r=17;t=42',
            "RateLimit-Limit": "1200",
            "RateLimit-Remaining": "17",
            "RateLimit-Reset": "42",
        }
        assert quota.retry_after == 0

    def test_an_exceeded_window_says_when_to_come_back(self) -> None:
        quota = Quota("machine", 12000, 60, remaining=0, reset=9, exceeded=True)
        assert quota.retry_after == 9
        assert quota_headers(quota)["RateLimit"] == '"machine";r=0;t=9'

    def test_policy_names_are_structured_field_strings(self) -> None:
        quota = Quota('a"b\\c', 1, 60, remaining=1, reset=1, exceeded=False)
        assert quota_headers(quota)["RateLimit-Policy"] == '"a\\"b\\\\c";q=1;w=60'

    async def test_count_says_what_is_left_and_hit_still_answers_seconds(self) -> None:
        limiter = InMemoryRateLimiter()
        await wait_for_fresh_window()
        first = await limiter.count("k", 2, policy="default")
        assert (first.remaining, first.exceeded) == (1, False)
        second = await limiter.count("k", 2)
        assert (second.remaining, second.exceeded) == (0, False)
        third = await limiter.count("k", 2)
        assert (third.remaining, third.exceeded) == (0, True)
        assert 1 <= third.retry_after <= 60
        assert await limiter.hit("k", 2) >= 1  # the login throttle's call is unchanged
        assert await limiter.hit("other", 2) == 0
        assert await limiter.peek("k") == 4


class TestTiers:
    settings = GatewaySettings(
        environment="test",
        rate_limit_per_minute=10,
        rate_limit_machine_per_minute=100,
        rate_limit_overrides={"guangxi-province": 1000},
    )

    def test_people_machines_and_overrides(self) -> None:
        def who(role: Role, sub: str = "someone") -> Principal:
            return Principal(sub=sub, role=role, region=COUNTY)

        assert rate_limit_of(who(Role.cadre), self.settings) == ("default", 10)
        assert rate_limit_of(who(Role.county_admin), self.settings) == ("default", 10)
        assert rate_limit_of(who(Role.province_system), self.settings) == ("machine", 100)
        assert rate_limit_of(who(Role.service), self.settings) == ("machine", 100)
        # A machine client is named by its client id (its tokens say `client:<id>`), anyone by their `sub`.
        assert rate_limit_of(who(Role.province_system, "client:guangxi-province"), self.settings) == (
            "client",
            1000,
        )
        assert rate_limit_of(who(Role.province_system, "guangxi-province"), self.settings) == ("client", 1000)
        assert rate_limit_of(who(Role.province_system, "client:other"), self.settings) == ("machine", 100)

    def test_configuration_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RATE_LIMIT_MACHINE_PER_MINUTE", "20000")
        monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_MINUTE", "600")
        monkeypatch.setenv("GATEWAY_RATE_LIMIT_OVERRIDES", '{"client-id": 30000}')
        monkeypatch.setenv(
            "ROUTE_TIMEOUTS", '{"GET /api/registry/changes": 50, "/api/registry/exports/": 600}'
        )
        settings = GatewaySettings(environment="test")
        assert settings.rate_limit_machine_per_minute == 20000
        assert settings.rate_limit_per_minute == 600
        assert settings.rate_limit_overrides == {"client-id": 30000}
        assert settings.route_timeouts == {"GET /api/registry/changes": 50.0, "/api/registry/exports/": 600.0}

    def test_an_override_must_be_positive(self) -> None:
        with pytest.raises(ValueError):
            GatewaySettings(environment="test", rate_limit_overrides={"x": 0})


class TestRouteTimeoutLookup:
    def test_longest_prefix_wins_and_a_method_beats_none(self) -> None:
        timeouts = RouteTimeouts(
            {"/api/registry/": 10, "/api/registry/exports/": 600, "POST /api/registry/exports/": 5},
            30.0,
            defaults={},
        )
        assert timeouts.for_request("GET", "/api/registry/exports/households") == 600
        assert timeouts.for_request("post", "/api/registry/exports/households") == 5
        assert timeouts.for_request("GET", "/api/registry/households") == 10
        assert timeouts.for_request("GET", "/api/planning/projects") == 30.0

    def test_a_method_rule_does_not_apply_to_other_methods(self) -> None:
        timeouts = RouteTimeouts({"GET /api/registry/changes": 45}, 30.0, defaults={})
        assert timeouts.for_request("GET", "/api/registry/changes") == 45
        assert timeouts.for_request("POST", "/api/registry/changes") == 30.0

    def test_defaults_cover_the_feed_and_the_exports_and_configuration_merges_over_them(self) -> None:
        timeouts = RouteTimeouts({"/api/registry/exports/": 900}, 30.0)
        # The long-poll waits at most 30 s: its reads may take longer than that.
        assert timeouts.for_request("GET", "/api/registry/changes") >= 40
        assert timeouts.for_request("GET", "/api/registry/exports/households") == 900
        assert (
            timeouts.for_request("GET", "/api/planning/exports/projects")
            == DEFAULT_ROUTE_TIMEOUTS["/api/planning/exports/"]
        )
        assert timeouts.for_request("GET", "/api/registry/households") == 30.0

    @pytest.mark.parametrize("bad", [{"api/registry": 3.0}, {"GET /x": 0.0}, {"GET /x": -1.0}])
    def test_bad_rules_are_refused(self, bad: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            RouteTimeouts(bad, 30.0)


# -- through the gateway -------------------------------------------------------------------------------------
class TestHeadersOnEveryAnswer:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        return gateway_settings.model_copy(
            update={"rate_limit_per_minute": 3, "rate_limit_machine_per_minute": 6}
        )

    async def test_200_service_404_and_429(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        async with gateway_over_upstream(gateway_settings, signing_key) as gw:
            await wait_for_fresh_window()
            ok = await gw.get("/api/registry/ok", headers=auth(token))
            assert ok.status_code == 200, ok.text
            assert quota_of(ok)[:3] == ("default", 3, 2)
            assert len(ok.headers.get_list("ratelimit")) == 1  # the service's own copy was dropped

            missing = await gw.get("/api/registry/missing", headers=auth(token))
            assert_problem(missing, 404)
            assert quota_of(missing)[:3] == ("default", 3, 1)

            # A long-poll counts once, like any request.
            feed = await gw.get("/api/registry/changes?after=0&wait=1&s=0.2", headers=auth(token))
            assert feed.status_code == 200
            assert quota_of(feed)[:3] == ("default", 3, 0)

            limited = await gw.get("/api/registry/ok", headers=auth(token))
            body = assert_problem(limited, 429, "rate limit of 3 requests per minute exceeded")
            assert body["code"] == "rate_limited"
            retry_after = int(limited.headers["retry-after"])
            assert 1 <= retry_after <= 60
            assert f"retry in {retry_after} s" in body["detail"]
            assert body["retry_after"] == retry_after and body["retry_at"].endswith("Z")
            name, limit, remaining, reset = quota_of(limited)
            assert (name, limit, remaining, reset) == ("default", 3, 0, retry_after)

            chinese = await gw.get("/api/registry/ok", headers=auth(token, **{"Accept-Language": "zh-CN"}))
            assert chinese.status_code == 429
            assert "每分钟最多 3 次" in chinese.json()["detail"], chinese.json()

    async def test_the_gateways_own_problems_carry_them_too(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        settings = gateway_settings.model_copy(update={"proxy_read_timeout": 0.3})
        async with gateway_over_upstream(settings, signing_key) as gw:
            await wait_for_fresh_window()
            timed_out = await gw.get("/api/registry/slow?s=1", headers=auth(token))
            assert_problem(timed_out, 504)
            assert quota_of(timed_out)[:3] == ("default", 3, 2)
            unknown = await gw.get("/api/nowhere/x", headers=auth(token))
            assert_problem(unknown, 404)
            assert quota_of(unknown)[:3] == ("default", 3, 1)

    async def test_machine_clients_have_the_higher_tier(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        person = issue(signing_key, "township_officer", COUNTY)
        machine = issue(signing_key, "province_system", PROVINCE)
        async with gateway_over_upstream(gateway_settings, signing_key) as gw:
            await wait_for_fresh_window()
            for _ in range(3):
                assert (await gw.get("/api/registry/ok", headers=auth(person))).status_code == 200
            assert_problem(await gw.get("/api/registry/ok", headers=auth(person)), 429)
            for n in range(6):
                answer = await gw.get("/api/registry/ok", headers=auth(machine))
                assert answer.status_code == 200, (n, answer.text)
                assert quota_of(answer)[:3] == ("machine", 6, 5 - n)
            assert_problem(await gw.get("/api/registry/ok", headers=auth(machine)), 429)

    async def test_a_client_override_beats_its_tier(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        settings = gateway_settings.model_copy(update={"rate_limit_overrides": {"guangxi-province": 2}})
        token = issue(signing_key, "province_system", PROVINCE, sub="client:guangxi-province")
        async with gateway_over_upstream(settings, signing_key) as gw:
            await wait_for_fresh_window()
            for n in range(2):
                answer = await gw.get("/api/registry/ok", headers=auth(token))
                assert quota_of(answer)[:3] == ("client", 2, 1 - n)
            limited = await gw.get("/api/registry/ok", headers=auth(token))
            assert_problem(limited, 429)
            assert quota_of(limited)[:3] == ("client", 2, 0)


class TestRouteTimeouts:
    @pytest.mark.parametrize("client_kind", ["aiohttp", "httpx"])
    async def test_the_export_prefix_survives_where_the_default_times_out(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, client_kind: str
    ) -> None:
        settings = gateway_settings.model_copy(
            update={
                "proxy_client": client_kind,
                "proxy_read_timeout": 0.3,
                "route_timeouts": {"/api/registry/exports/": 3, "POST /api/registry/slow": 3},
            }
        )
        token = issue(signing_key, "county_admin", COUNTY)
        async with gateway_over_upstream(settings, signing_key) as gw:
            export = await gw.get("/api/registry/exports/households?s=0.8", headers=auth(token))
            assert export.status_code == 200, export.text
            assert export.text.splitlines() == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
            # The long-poll feed's default rule (45 s) lets a held answer through.
            assert (await gw.get("/api/registry/changes?s=0.8", headers=auth(token))).status_code == 200
            # The same slowness anywhere else is the gateway's 504 (the global PROXY_READ_TIMEOUT) ...
            assert_problem(await gw.get("/api/registry/slow?s=0.8", headers=auth(token)), 504)
            # ... and a rule naming a method applies to that method only.
            assert (await gw.post("/api/registry/slow?s=0.8", headers=auth(token))).status_code == 200

    def test_a_bad_rule_stops_the_gateway_at_startup(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        settings = gateway_settings.model_copy(update={"route_timeouts": {"api/no-slash": 3.0}})
        with pytest.raises(ValueError, match="must start with '/'"):
            create_gateway(settings, signing_key=signing_key)


# -- Redis ---------------------------------------------------------------------------------------------------
@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix in the local Redis (skipped if unreachable); its keys are deleted afterwards."""
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    prefix = f"jz:test:{uuid.uuid4().hex}:"
    try:
        try:
            await client.ping()
        except Exception as exc:  # any failure to reach it means: nothing to test against
            pytest.skip(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")
        yield prefix
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class TestRedis:
    async def test_count_with_redis(self, redis_prefix: str) -> None:
        limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
        try:
            await wait_for_fresh_window()
            quotas = [await limiter.count("k", 2, policy="machine") for _ in range(3)]
            assert [(q.remaining, q.exceeded) for q in quotas] == [(1, False), (0, False), (0, True)]
            assert all(q.policy == "machine" and 1 <= q.reset <= 60 for q in quotas)
            assert await limiter.hit("k", 2) >= 1
            assert await limiter.peek("k") == 4
        finally:
            await limiter.close()

    async def test_headers_through_the_gateway_with_redis(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, redis_prefix: str
    ) -> None:
        settings = gateway_settings.model_copy(
            update={"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix, "rate_limit_per_minute": 2}
        )
        token = issue(signing_key, "county_admin", COUNTY)
        async with gateway_over_upstream(settings, signing_key) as gw:
            await wait_for_fresh_window()
            first = await gw.get("/api/registry/ok", headers=auth(token))
            assert quota_of(first)[:3] == ("default", 2, 1)
            second = await gw.get("/api/registry/missing", headers=auth(token))
            assert quota_of(second)[:3] == ("default", 2, 0)
            limited = await gw.get("/api/registry/ok", headers=auth(token))
            assert_problem(limited, 429)
            assert quota_of(limited)[3] == int(limited.headers["retry-after"])
