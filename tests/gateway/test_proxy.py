"""The gateway's reverse proxy: forwarding, streaming both ways, pooled connections, and upstream faults.

Upstreams here are real HTTP servers (uvicorn on ephemeral ports in the test's event loop): our own registry
app, and small Starlette apps standing in for upstream behaviours we need to provoke (slowness, streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.main import create_app as create_gateway
from gateway.proxy import RouteTemplates
from gateway.settings import GatewaySettings
from shared.jwt import SigningKey
from shared.problems import UpstreamUnavailable
from tests.factories import (
    COUNTY,
    assert_problem,
    auth,
    issue,
)
from tests.harness import running, serve


def echo_app(events: dict[str, asyncio.Event] | None = None) -> Starlette:
    events = events or {}

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body_len": len(body),
                "client_port": request.client.port if request.client else None,
            },
            headers={"X-Upstream": "yes", "Connection": "close-me-not", "Location": "/things/42"},
        )

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(float(request.query_params.get("s", "5")))
        return JSONResponse({"late": True})

    async def stream_down(request: Request) -> StreamingResponse:
        size = int(request.query_params.get("mb", "1")) * 1024 * 1024

        async def gen() -> AsyncIterator[bytes]:
            yield b"first-chunk"
            if "first_seen" in events:
                # Only continues once the client has received the first chunk: proves nothing buffers it all.
                await asyncio.wait_for(events["first_seen"].wait(), 10)
            chunk = b"x" * 65536
            sent = 0
            while sent < size:
                yield chunk
                sent += len(chunk)

        return StreamingResponse(gen(), media_type="application/octet-stream")

    async def stream_up(request: Request) -> JSONResponse:
        total = 0
        async for chunk in request.stream():
            if total == 0 and chunk and "upstream_got_first" in events:
                events["upstream_got_first"].set()
            total += len(chunk)
        return JSONResponse({"received": total})

    return Starlette(
        routes=[
            Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/slow", slow),
            Route("/stream", stream_down),
            Route("/upload", stream_up, methods=["POST"]),
        ]
    )


@contextlib.asynccontextmanager
async def gateway_over(
    settings: GatewaySettings, signing_key: SigningKey, **upstreams: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings.model_copy(update={f"{name}_url": url for name, url in upstreams.items()})
    async with running(create_gateway(settings, signing_key=signing_key)) as client:
        yield client


@contextlib.asynccontextmanager
async def served_gateway(
    settings: GatewaySettings, signing_key: SigningKey, **upstreams: str
) -> AsyncIterator[str]:
    settings = settings.model_copy(update={f"{name}_url": url for name, url in upstreams.items()})
    async with serve(create_gateway(settings, signing_key=signing_key)) as url:
        yield url


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return issue(signing_key, "county_admin", COUNTY)


class TestForwarding:
    async def test_registry_through_the_gateway(
        self,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        registry_app: FastAPI,
        seed_regions: None,
        token: str,
    ) -> None:
        async with (
            serve(registry_app) as registry_url,
            gateway_over(gateway_settings, signing_key, registry=registry_url) as gw,
        ):
            response = await gw.get(f"/api/registry/regions/{COUNTY}", headers=auth(token))
            assert response.status_code == 200
            assert response.json()["name"] == "靖西县"
            assert response.headers["etag"] == '"1"'
            # One Date / X-Request-ID, not the upstream's copy as well.
            assert len(response.headers.get_list("x-request-id")) == 1
            assert response.headers.get_list("x-content-type-options") == [
                "nosniff"
            ]  # the service's, not twice
            missing = await gw.get("/api/registry/regions/451025999999", headers=auth(token))
            assert_problem(missing, 404)

    async def test_control_characters_and_operations_endpoints_are_not_forwarded(
        self,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        registry_app: FastAPI,
        seed_regions: None,
        token: str,
    ) -> None:
        """Issue #14: `/regions/451025000000%0A` answered the region (200) once normalised on the way, and the
        registry's `/metrics` was readable by any logged-in role. Both are 404 like missing, nothing forwarded."""
        async with (
            serve(registry_app) as registry_url,
            gateway_over(gateway_settings, signing_key, registry=registry_url) as gw,
        ):
            for path in (f"regions/{COUNTY}%0A", f"regions/{COUNTY}%00", f"regions/{COUNTY}%09", "metrics",
                         "metrics/", "healthz", "readyz"):  # fmt: skip
                response = await gw.get(f"/api/registry/{path}", headers=auth(token))
                assert_problem(response, 404)
                assert "jingzhun_" not in response.text
            # The service still serves them on its own port (Prometheus scrapes there).
            async with httpx.AsyncClient(base_url=registry_url) as direct:
                assert (await direct.get("/metrics")).status_code == 200
            assert (await gw.get(f"/api/registry/regions/{COUNTY}", headers=auth(token))).status_code == 200

    async def test_method_path_query_body_and_headers(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.post(
                "/api/planning/echo/a/b?x=1&y=%E4%B8%AD",
                headers=auth(token, **{"X-Request-ID": "req-123", "X-Custom": "kept"}),
                json={"hello": "世界"},
            )
            echoed = response.json()
            assert response.status_code == 200
            assert echoed["method"] == "POST"
            assert echoed["path"] == "/echo/a/b"
            assert echoed["query"] == "x=1&y=%E4%B8%AD"
            assert echoed["body_len"] == len(response.request.content) > 0
            assert echoed["headers"]["authorization"] == f"Bearer {token}"  # the caller's own token
            assert echoed["headers"]["x-request-id"] == "req-123"
            assert echoed["headers"]["x-custom"] == "kept"
            assert echoed["headers"]["x-forwarded-for"] == "203.0.113.7"
            assert response.headers["x-request-id"] == "req-123"
            assert response.headers["x-upstream"] == "yes"
            # The service's own path becomes the path the client knows it by.
            assert response.headers["location"] == "/api/planning/things/42"
            assert (
                response.headers.get("connection") != "close-me-not"
            )  # hop-by-hop headers stop at the gateway

    async def test_request_id_generated_when_missing(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.get("/api/planning/echo/x", headers=auth(token))
            generated = response.headers["x-request-id"]
            assert len(generated) == 32
            assert response.json()["headers"]["x-request-id"] == generated

    async def test_invalid_request_id_is_replaced(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.get(
                "/api/planning/echo/x", headers=auth(token, **{"X-Request-ID": "bad id\twith spaces"})
            )
            assert response.json()["headers"]["x-request-id"] != "bad id\twith spaces"

    async def test_unknown_service_is_404(self, gateway: httpx.AsyncClient, token: str) -> None:
        assert_problem(await gateway.get("/api/nope/x", headers=auth(token)), 404)

    async def test_no_token_is_401_before_any_upstream_call(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.get("/api/planning/echo/x")
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_connections_are_reused(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            ports = set()
            for _ in range(20):
                echoed = (await gw.get("/api/planning/echo/x", headers=auth(token))).json()
                ports.add(echoed["client_port"])
            # Sequential requests ride one pooled keep-alive connection (same source port upstream).
            assert len(ports) == 1


class TestFaults:
    async def test_unreachable_service_is_502(self, gateway: httpx.AsyncClient, token: str) -> None:
        # The fixture points every upstream at port 9 (discard), where nothing listens.
        body = assert_problem(await gateway.get("/api/registry/regions", headers=auth(token)), 502)
        assert "unreachable" in body["detail"]

    async def test_slow_service_is_504_not_a_hang(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        settings = gateway_settings.model_copy(update={"proxy_read_timeout": 0.3})
        async with (
            serve(echo_app()) as upstream,
            gateway_over(settings, signing_key, planning=upstream) as gw,
        ):
            response = await asyncio.wait_for(gw.get("/api/planning/slow?s=3", headers=auth(token)), 2.5)
            assert_problem(response, 504)

    @pytest.mark.parametrize("client_kind", ["aiohttp", "httpx"])
    async def test_both_proxy_clients_map_faults(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str, client_kind: str
    ) -> None:
        settings = gateway_settings.model_copy(
            update={"proxy_read_timeout": 0.3, "proxy_client": client_kind}
        )
        async with (
            serve(echo_app()) as upstream,
            gateway_over(settings, signing_key, planning=upstream) as gw,
        ):
            assert (await gw.get("/api/planning/echo/ok", headers=auth(token))).status_code == 200
            assert_problem(await gw.get("/api/planning/slow?s=3", headers=auth(token)), 504)
            assert_problem(await gw.get("/api/registry/regions", headers=auth(token)), 502)

    async def test_readyz_reports_unreachable_upstreams(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.get("/readyz")
        body = assert_problem(response, 503)
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["registry"].startswith("unreachable")


class TestStreaming:
    async def test_response_streams_before_upstream_finishes(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        events = {"first_seen": asyncio.Event()}
        async with (
            serve(echo_app(events)) as upstream,
            served_gateway(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            async with (
                httpx.AsyncClient(base_url=gw, timeout=10) as client,
                client.stream("GET", "/api/planning/stream?mb=2", headers=auth(token)) as response,
            ):
                assert response.status_code == 200
                received = 0
                async for chunk in response.aiter_raw():
                    if received == 0:
                        assert chunk.startswith(b"first-chunk")
                        events["first_seen"].set()  # upstream sends the rest only now
                    received += len(chunk)
            assert received == len(b"first-chunk") + 2 * 1024 * 1024

    async def test_request_body_streams_to_upstream(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        events = {"upstream_got_first": asyncio.Event()}
        async with (
            serve(echo_app(events)) as upstream,
            served_gateway(gateway_settings, signing_key, planning=upstream) as gw,
        ):

            async def body() -> AsyncIterator[bytes]:
                yield b"a" * 65536
                # The rest is sent only after the upstream saw the first chunk: nothing buffered the upload.
                await asyncio.wait_for(events["upstream_got_first"].wait(), 10)
                for _ in range(31):
                    yield b"b" * 65536

            async with httpx.AsyncClient(base_url=gw, timeout=10) as client:
                response = await client.post(
                    "/api/planning/upload",
                    content=body(),
                    headers=auth(token, **{"Content-Type": "application/octet-stream"}),
                )
            assert response.status_code == 200, response.text
            assert response.json() == {"received": 32 * 65536}

    async def test_large_download_keeps_memory_flat(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            served_gateway(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            tracemalloc.start()
            try:
                received = 0
                async with (
                    httpx.AsyncClient(base_url=gw, timeout=30) as client,
                    client.stream("GET", "/api/planning/stream?mb=64", headers=auth(token)) as response,
                ):
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert received >= 64 * 1024 * 1024
            # Upstream, gateway and client all live in this process; 64 MB went through with a small peak.
            assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


class TestBodyLimit:
    async def test_oversized_json_is_413_at_the_gateway(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        settings = gateway_settings.model_copy(update={"max_json_body_bytes": 2048})
        async with (
            serve(echo_app()) as upstream,
            gateway_over(settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.post("/api/planning/echo/x", headers=auth(token), json={"a": "x" * 4096})
            assert_problem(response, 413)
            small = await gw.post("/api/planning/echo/x", headers=auth(token), json={"a": "x"})
            assert small.status_code == 200

    async def test_oversized_chunked_json_is_413(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        settings = gateway_settings.model_copy(update={"max_json_body_bytes": 2048})
        async with (
            serve(echo_app()) as upstream,
            gateway_over(settings, signing_key, planning=upstream) as gw,
        ):

            async def body() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b" " * 1024

            response = await gw.post(
                "/api/planning/echo/x",
                content=body(),
                headers=auth(token, **{"Content-Type": "application/json"}),
            )
            assert_problem(response, 413)


class TestForwardedPrefix:
    async def test_the_upstream_learns_the_prefix_and_a_client_copy_never_passes(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            serve(echo_app()) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            sent = await gw.get(
                "/api/planning/echo/x", headers=auth(token, **{"X-Forwarded-Prefix": "/api/registry"})
            )
            plain = await gw.get("/api/planning/echo/x", headers=auth(token))
        assert sent.json()["headers"]["x-forwarded-prefix"] == "/api/planning"
        assert plain.json()["headers"]["x-forwarded-prefix"] == "/api/planning"

    async def test_a_proxied_problem_names_the_path_the_client_called(
        self,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        registry_app: FastAPI,
        seed_regions: None,
        token: str,
    ) -> None:
        async with (
            serve(registry_app) as registry_url,
            gateway_over(gateway_settings, signing_key, registry=registry_url) as gw,
        ):
            missing = await gw.get("/api/registry/regions/451025999999", headers=auth(token))
            invalid = await gw.get("/api/registry/households?limit=oops", headers=auth(token))
        assert assert_problem(missing, 404)["instance"] == "/api/registry/regions/451025999999"
        assert assert_problem(invalid, 422)["instance"] == "/api/registry/households"

    async def test_the_gateways_own_problems_ignore_a_client_prefix(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.get("/auth/me", headers={"X-Forwarded-Prefix": "/api/registry"})
        assert assert_problem(response, 401)["instance"] == "/auth/me"


class FakeAnswer:
    """An upstream answer of the `UpstreamResponse` protocol."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = [("content-type", "application/json")]
        self.content_length: int | None = len(body)
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    async def close(self) -> None:
        return None


class FakeUpstream:
    """Serves an OpenAPI document with `paths` (or fails), counting the fetches."""

    def __init__(self, *paths: str) -> None:
        self.paths = list(paths)
        self.fetches = 0
        self.down = False

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Any,
        *,
        read_timeout: float | None = None,
    ) -> FakeAnswer:
        self.fetches += 1
        assert (method, url) == ("GET", "http://registry/openapi.json")
        if self.down:
            raise UpstreamUnavailable("the service is unreachable")
        return FakeAnswer(200, json.dumps({"paths": {p: {} for p in self.paths}}).encode())

    async def close(self) -> None:
        return None


async def settled() -> None:
    """Let background refreshes finish (the fake upstream answers at once)."""
    for _ in range(20):
        await asyncio.sleep(0)


CARD = "/households/{household_id}"
REGISTRY_PATHS = (
    "/households",
    "/households/stats",
    CARD,
    "/households/{household_id}/members/{member_id}",
    "/help-records",
    "/regions/{code}/population/{year}",
)


class TestRouteTemplates:
    async def test_paths_are_labelled_with_the_upstream_template(self) -> None:
        templates = RouteTemplates({"registry": "http://registry"})
        upstream = FakeUpstream(*REGISTRY_PATHS)
        assert templates.label("registry", "households/1") == "unmatched"  # not learnt yet
        assert await templates.first_load("registry", upstream)
        assert templates.label("registry", "households/3f1c") == f"/api/registry{CARD}"
        assert templates.label("registry", "households/stats") == "/api/registry/households/stats"
        assert templates.label("registry", "households") == "/api/registry/households"
        assert templates.label("registry", "help-records") == "/api/registry/help-records"
        assert (
            templates.label("registry", "households/stats/members/9")  # a literal that leads nowhere
            == "/api/registry/households/{household_id}/members/{member_id}"
        )
        assert (
            templates.label("registry", "regions/451025000000/population/2026")
            == "/api/registry/regions/{code}/population/{year}"
        )
        for unknown in ("nope", "households/1/unknown", "households/", "", "households//members/1"):
            assert templates.label("registry", unknown) == "unmatched", unknown
        assert templates.label("planning", "households/1") == "unmatched"
        await templates.close()

    async def test_concurrent_first_requests_share_one_fetch(self) -> None:
        templates = RouteTemplates({"registry": "http://registry"})
        upstream = FakeUpstream(*REGISTRY_PATHS)
        loaded = await asyncio.gather(*(templates.first_load("registry", upstream) for _ in range(10)))
        assert all(loaded) and upstream.fetches == 1

    async def test_a_miss_relearns_at_most_every_retry_seconds(self) -> None:
        templates = RouteTemplates({"registry": "http://registry"}, retry=0.0)
        upstream = FakeUpstream(*REGISTRY_PATHS)
        await templates.first_load("registry", upstream)
        upstream.paths.append("/sync/download")  # deployed since
        assert templates.label("registry", "sync/download") == "unmatched"
        templates.refresh_if_due("registry", upstream, missed=True)
        await settled()
        assert templates.label("registry", "sync/download") == "/api/registry/sync/download"
        assert upstream.fetches == 2

        slow = RouteTemplates({"registry": "http://registry"}, retry=3600.0)
        await slow.first_load("registry", upstream)
        for _ in range(5):
            slow.refresh_if_due("registry", upstream, missed=True)
        await settled()
        assert upstream.fetches == 3  # the first load only: misses within `retry` fetch nothing

    async def test_stale_templates_are_refreshed_in_the_background(self) -> None:
        templates = RouteTemplates({"registry": "http://registry"}, refresh=0.0, retry=0.0)
        upstream = FakeUpstream(CARD)
        await templates.first_load("registry", upstream)
        upstream.paths = ["/households/{household_id}/card"]
        templates.refresh_if_due("registry", upstream, missed=False)
        await settled()
        assert (
            templates.label("registry", "households/1/card") == "/api/registry/households/{household_id}/card"
        )

    async def test_a_service_that_is_down_is_not_waited_for_again(self) -> None:
        templates = RouteTemplates({"registry": "http://registry"}, retry=3600.0)
        upstream = FakeUpstream(CARD)
        upstream.down = True
        assert not await templates.first_load("registry", upstream)
        assert not await templates.first_load("registry", upstream)
        assert upstream.fetches == 1
        assert templates.label("registry", "households/1") == "unmatched"
