"""The gateway resends an idempotent request once when the upstream closed the connection before answering
(issue #14), and never a POST or PATCH.

The upstream is a raw TCP server that reads a request and, as told, closes the connection without a byte of an
answer (what a service does to a pooled keep-alive connection it drops) or answers 200.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from gateway.main import create_app as create_gateway
from gateway.proxy import RETRIED_METHODS, _replayable
from gateway.settings import GatewaySettings
from shared.jwt import SigningKey
from tests.factories import COUNTY, assert_problem, auth, issue
from tests.harness import free_socket, running


@dataclass
class ResettingUpstream:
    """Closes the connection of the first `resets` requests (of any path but /openapi.json), answers the rest."""

    resets: int
    requests: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(":") for h in lines[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                if length:
                    await reader.readexactly(length)
                if path == "/openapi.json":
                    body = b'{"paths": {"/things": {}}}'
                else:
                    self.requests.append(method)
                    if len(self.requests) <= self.resets:
                        writer.close()  # no byte of an answer
                        return
                    body = b'{"ok": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def upstream_server(upstream: ResettingUpstream) -> AsyncIterator[str]:
    sock = free_socket()
    server = await asyncio.start_server(upstream.handle, sock=sock)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(params=["aiohttp", "httpx"])
def proxy_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestRetryRule:
    def test_only_idempotent_methods_with_a_replayable_body(self) -> None:
        assert {"GET", "HEAD", "PUT", "DELETE"} <= RETRIED_METHODS
        assert "POST" not in RETRIED_METHODS and "PATCH" not in RETRIED_METHODS
        assert _replayable("GET", None) and _replayable("PUT", b"{}")
        assert not _replayable("POST", b"{}") and not _replayable("PATCH", None)

        async def stream() -> AsyncIterator[bytes]:
            yield b""

        assert not _replayable("PUT", stream())  # a streamed body cannot be sent twice


class TestRetryOnReset:
    async def test_a_get_is_resent_once_after_a_reset(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, proxy_client: str
    ) -> None:
        upstream = ResettingUpstream(resets=1)
        async with upstream_server(upstream) as url:
            settings = gateway_settings.model_copy(update={"registry_url": url, "proxy_client": proxy_client})
            async with running(create_gateway(settings, signing_key=signing_key)) as gw:
                token = issue(signing_key, "county_admin", COUNTY)
                response = await gw.get("/api/registry/things", headers=auth(token))
                assert response.status_code == 200, response.text
                assert response.json() == {"ok": True}
                put = await gw.put("/api/registry/things", headers=auth(token), json={"a": 1})
                assert put.status_code == 200
        assert upstream.requests == ["GET", "GET", "PUT"]

    async def test_a_post_is_never_resent(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, proxy_client: str
    ) -> None:
        upstream = ResettingUpstream(resets=1)
        async with upstream_server(upstream) as url:
            settings = gateway_settings.model_copy(update={"registry_url": url, "proxy_client": proxy_client})
            async with running(create_gateway(settings, signing_key=signing_key)) as gw:
                token = issue(signing_key, "county_admin", COUNTY)
                response = await gw.post("/api/registry/things", headers=auth(token), json={"a": 1})
                assert_problem(response, 502)
        assert upstream.requests == ["POST"]

    async def test_a_second_reset_is_502(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, proxy_client: str
    ) -> None:
        upstream = ResettingUpstream(resets=100)
        async with upstream_server(upstream) as url:
            settings = gateway_settings.model_copy(update={"registry_url": url, "proxy_client": proxy_client})
            async with running(create_gateway(settings, signing_key=signing_key)) as gw:
                token = issue(signing_key, "county_admin", COUNTY)
                response = await gw.get("/api/registry/things", headers=auth(token))
                assert_problem(response, 502)
        assert upstream.requests == ["GET", "GET"]
