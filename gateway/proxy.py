"""Reverse proxy to the services: `/api/{service}/{path}` → `{service_url}/{path}`.

Bodies stream both ways (a multi-GB export passes with flat memory); small bodies are read whole, which is
cheaper than chunked framing. Connections are pooled; connect and read timeouts are set, and an unreachable
or slow upstream becomes 502/504 problem+json rather than a hang.

Two upstream clients are available (`PROXY_CLIENT`): aiohttp (default) and httpx. On 2-core machines httpx
costs several times more CPU per proxied request (encode/httpx#3215); `bench/gateway.py` measures both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.deps import authenticated_caller
from gateway.settings import GatewaySettings
from shared.problems import NotFound, UpstreamTimeout, UpstreamUnavailable

__all__ = ["AiohttpUpstream", "HttpxUpstream", "Upstream", "make_upstream", "proxy", "route"]

_log = logging.getLogger("jingzhun.proxy")

# Read whole bodies up to this size; stream anything larger or of unknown length.
SMALL_BODY = 256 * 1024
CHUNK = 64 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)

# Set again by the gateway's own server and middleware.
_RESPONSE_SKIP = _HOP_BY_HOP | {"date", "server", "x-request-id"}


class UpstreamResponse(Protocol):
    status: int
    headers: list[tuple[str, str]]
    content_length: int | None

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: Any
    ) -> UpstreamResponse: ...

    async def close(self) -> None: ...


# -- aiohttp ---------------------------------------------------------------------------------------------
class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = [(k, v) for k, v in resp.headers.items()]
        self.content_length = resp.content_length

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        finally:
            self._resp.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.content.iter_chunked(CHUNK):
            yield chunk

    async def close(self) -> None:
        self._resp.release()


class AiohttpUpstream:
    def __init__(self, settings: GatewaySettings) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.proxy_pool_size, keepalive_timeout=30, ttl_dns_cache=300
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=settings.proxy_connect_timeout, sock_read=settings.proxy_read_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: Any
    ) -> UpstreamResponse:
        try:
            resp = await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False, compress=None
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            _log.warning(
                "upstream timeout", extra={"upstream": url.split("?")[0], "error": type(exc).__name__}
            )
            raise UpstreamTimeout("the service did not answer in time") from exc
        except aiohttp.ClientError as exc:
            _log.warning("upstream unreachable", extra={"upstream": url.split("?")[0], "error": repr(exc)})
            raise UpstreamUnavailable("the service is unreachable") from exc
        return _AiohttpResponse(resp)

    async def close(self) -> None:
        await self._session.close()


# -- httpx -----------------------------------------------------------------------------------------------
class _HttpxResponse:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = list(resp.headers.multi_items())
        length = resp.headers.get("content-length")
        self.content_length = int(length) if length and length.isdigit() else None

    async def read(self) -> bytes:
        try:
            return await self._resp.aread()
        finally:
            await self._resp.aclose()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.aiter_raw(CHUNK):
            yield chunk

    async def close(self) -> None:
        await self._resp.aclose()


class HttpxUpstream:
    def __init__(self, settings: GatewaySettings) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.proxy_read_timeout, connect=settings.proxy_connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.proxy_pool_size, max_keepalive_connections=settings.proxy_pool_size
            ),
            follow_redirects=False,
        )

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: Any
    ) -> UpstreamResponse:
        request = self._client.build_request(method, url, headers=headers, content=body)
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            _log.warning(
                "upstream timeout", extra={"upstream": url.split("?")[0], "error": type(exc).__name__}
            )
            raise UpstreamTimeout("the service did not answer in time") from exc
        except httpx.HTTPError as exc:
            _log.warning("upstream unreachable", extra={"upstream": url.split("?")[0], "error": repr(exc)})
            raise UpstreamUnavailable("the service is unreachable") from exc
        return _HttpxResponse(resp)

    async def close(self) -> None:
        await self._client.aclose()


def make_upstream(settings: GatewaySettings) -> Upstream:
    return AiohttpUpstream(settings) if settings.proxy_client == "aiohttp" else HttpxUpstream(settings)


# -- the route -------------------------------------------------------------------------------------------
def _forward_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP]
    client = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    headers = [(k, v) for k, v in headers if k not in ("x-forwarded-for", "x-request-id")]
    headers.append(("x-forwarded-for", f"{prior}, {client}" if prior else client))
    headers.append(("x-forwarded-proto", request.scope.get("scheme", "http")))
    headers.append(("x-request-id", request.state.request_id))
    return headers


async def _request_body(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= SMALL_BODY:
        return await request.body() if int(length) else None
    if length is None and "transfer-encoding" not in request.headers:
        return None
    return request.stream()


async def proxy(request: Request) -> Response:
    """Forward `/api/{service}/{path}` to the service, authenticated, with the caller's token."""
    # A plain Starlette route, not a FastAPI endpoint: the hottest path skips dependency solving and parameter
    # validation. Authentication, revocation and the rate limit are the same function the FastAPI routes use,
    # and errors still reach the app's problem+json handlers.
    await authenticated_caller(request)
    service: str = request.path_params["service"]
    path: str = request.path_params["path"]
    base = request.app.state.settings.upstreams.get(service)
    if base is None:
        raise NotFound(f"no service named '{service}'")
    url = f"{base}/{path}"
    query: bytes = request.scope.get("query_string", b"")
    if query:
        url = f"{url}?{query.decode('latin-1')}"
    upstream: Upstream = request.app.state.upstream
    resp = await upstream.send(request.method, url, _forward_headers(request), await _request_body(request))
    headers = {k: v for k, v in resp.headers if k.lower() not in _RESPONSE_SKIP}
    location = headers.get("location") or headers.get("Location")
    if location is not None and location.startswith("/"):
        # Services answer with their own paths; the client knows them under /api/{service}.
        headers.pop("Location", None)
        headers["location"] = f"/api/{service}{location}"
    if resp.content_length is not None and resp.content_length <= SMALL_BODY:
        try:
            content = await resp.read()
        except (TimeoutError, aiohttp.ClientError, httpx.HTTPError) as exc:
            raise UpstreamTimeout("the service stopped answering") from exc
        return Response(content, status_code=resp.status, headers=headers)
    return StreamingResponse(
        resp.iter_chunks(), status_code=resp.status, headers=headers, background=BackgroundTask(resp.close)
    )


#: The proxy route, added to the gateway app by gateway.main.
route = Route(
    "/api/{service}/{path:path}", endpoint=proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
)
