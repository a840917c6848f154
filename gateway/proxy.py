"""Reverse proxy to the services: `/api/{service}/{path}` → `{service_url}/{path}`.

Bodies stream both ways (a multi-GB export passes with flat memory); small bodies are read whole, which is
cheaper than chunked framing. Connections are pooled; connect and read timeouts are set, and an unreachable
or slow upstream becomes 502/504 problem+json rather than a hang.

Two upstream clients are available (`PROXY_CLIENT`): aiohttp (default) and httpx. On 2-core machines httpx
costs several times more CPU per proxied request (encode/httpx#3215); `bench/gateway.py` measures both.

The upstream learns the path the client called: `X-Forwarded-Prefix: /api/{service}` (problem `instance`
members are built from it; a client's own copy never passes). Metrics and access logs label a proxied request
with the upstream's route template under its prefix (`/api/registry/households/{household_id}`), matched
against the paths of the service's OpenAPI document (`RouteTemplates`); a path no service route has stays
`unmatched`.

A pooled connection the service closed (a restart, an idle timeout racing a request) is not the caller's
problem: an idempotent request (`RETRIED_METHODS`) with no body or a small one read whole is sent once more when
the connection was reset or closed before any byte of the answer came back (`UpstreamReset`). A POST or PATCH
is never resent (it may have been carried out), nor a streamed body (it cannot be replayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import aiohttp
import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.deps import authenticated_caller
from gateway.ratelimit import Quota, quota_headers
from gateway.route_timeouts import RouteTimeouts
from gateway.settings import GatewaySettings
from shared.observability import UNMATCHED
from shared.problems import AppError, NotFound, UpstreamTimeout, UpstreamUnavailable

__all__ = [
    "RETRIED_METHODS",
    "AiohttpUpstream",
    "HttpxUpstream",
    "RouteTemplates",
    "Upstream",
    "UpstreamReset",
    "make_upstream",
    "proxy",
    "route",
]

_log = logging.getLogger("jingzhun.proxy")

#: Methods whose request may be sent again after a connection reset (RFC 9110 §9.2.2 idempotent methods).
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamReset(UpstreamUnavailable):
    """The upstream connection was reset or closed before any byte of the answer: the request may be resent."""


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
_RESPONSE_SKIP = (
    _HOP_BY_HOP
    | {"date", "server", "x-request-id"}
    | {
        # The caller's quota is the gateway's to say (gateway/ratelimit.py): a service's own copy never passes.
        "ratelimit",
        "ratelimit-policy",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    }
)
# Request headers the proxy sets itself: a client's copy never reaches the service.
_SET_HERE = frozenset({"x-forwarded-for", "x-forwarded-prefix", "x-request-id"})
#: A service's own operations endpoints: scraped and probed on the service's port inside the cluster, never served
#: to API callers through the gateway (its metrics would tell any logged-in role the traffic of every route).
_NOT_PROXIED = frozenset({"metrics", "healthz", "readyz"})


def _proxied_path(path: str, full_path: str) -> bool:
    """Whether `path` (the part after /api/{service}/) may be forwarded: not an operations endpoint, and no control
    character in the whole decoded request path `full_path` — a `%0A` or `%00` matches no route of any service.
    (The route's `$` matches before a trailing newline, so `path` alone may have lost it.)"""
    if path.rstrip("/") in _NOT_PROXIED:
        return False
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in full_path)


class UpstreamResponse(Protocol):
    status: int
    headers: list[tuple[str, str]]
    content_length: int | None

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class Upstream(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Any,
        *,
        read_timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send a request; `read_timeout` overrides the client's per-read timeout (`ROUTE_TIMEOUTS`)."""
        ...

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
        # aiohttp resends an idempotent request on a reused connection by itself; the gateway's rule (`_send`) is
        # the one retry, the same for both clients (aiohttp's own test client turns it off the same way).
        self._session._retry_connection = False
        self._connect_timeout = settings.proxy_connect_timeout

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Any,
        *,
        read_timeout: float | None = None,
    ) -> UpstreamResponse:
        timeout = (
            aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=read_timeout)
            if read_timeout is not None
            else self._session.timeout
        )
        try:
            resp = await self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                compress=None,
                timeout=timeout,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            _log.warning(
                "upstream timeout", extra={"upstream": url.split("?")[0], "error": type(exc).__name__}
            )
            raise UpstreamTimeout("the service did not answer in time") from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # Not ClientConnectorError (a subclass of ClientOSError): a refused connect is not a reset.
            if isinstance(exc, aiohttp.ClientConnectorError):
                _log.warning(
                    "upstream unreachable", extra={"upstream": url.split("?")[0], "error": repr(exc)}
                )
                raise UpstreamUnavailable("the service is unreachable") from exc
            raise UpstreamReset("the service closed the connection") from exc
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
        self._connect_timeout = settings.proxy_connect_timeout

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: Any,
        *,
        read_timeout: float | None = None,
    ) -> UpstreamResponse:
        timeout = (
            httpx.Timeout(read_timeout, connect=self._connect_timeout)
            if read_timeout is not None
            else httpx.USE_CLIENT_DEFAULT
        )
        request = self._client.build_request(method, url, headers=headers, content=body, timeout=timeout)
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            _log.warning(
                "upstream timeout", extra={"upstream": url.split("?")[0], "error": type(exc).__name__}
            )
            raise UpstreamTimeout("the service did not answer in time") from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # "Server disconnected without sending a response", or a reset while sending or awaiting the answer.
            raise UpstreamReset("the service closed the connection") from exc
        except httpx.HTTPError as exc:
            _log.warning("upstream unreachable", extra={"upstream": url.split("?")[0], "error": repr(exc)})
            raise UpstreamUnavailable("the service is unreachable") from exc
        return _HttpxResponse(resp)

    async def close(self) -> None:
        await self._client.aclose()


def make_upstream(settings: GatewaySettings) -> Upstream:
    return AiohttpUpstream(settings) if settings.proxy_client == "aiohttp" else HttpxUpstream(settings)


# -- route templates -------------------------------------------------------------------------------------
class _Node:
    __slots__ = ("literal", "param", "template")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.template: str | None = None


def _segments(path: str) -> list[str]:
    """`/households/{household_id}` or `households/1` → its segments (a trailing slash is an empty one)."""
    return path.removeprefix("/").split("/")


def _tree(templates: Iterable[str]) -> _Node:
    root = _Node()
    for template in templates:
        node = root
        for segment in _segments(template):
            if segment.startswith("{") and segment.endswith("}"):
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literal.setdefault(segment, _Node())
        node.template = template
    return root


def _match(node: _Node, segments: list[str], at: int) -> str | None:
    """The template matching `segments[at:]`: a literal segment before a parameter (`/households/stats` before
    `/households/{household_id}`), backtracking when the literal branch leads nowhere."""
    if at == len(segments):
        return node.template
    segment = segments[at]
    child = node.literal.get(segment)
    if child is not None:
        found = _match(child, segments, at + 1)
        if found is not None:
            return found
    if node.param is not None and segment:
        return _match(node.param, segments, at + 1)
    return None


class RouteTemplates:
    """Each service's route templates, learned from the paths of its OpenAPI document, to label proxied requests.

    Why the OpenAPI document: it is the list of the service's public routes (the fast Starlette routes are
    documented by their FastAPI twins), it is already served and cached by every service, and a lookup in a
    tree of its paths costs a few microseconds per request with no extra hop or header. A service's paths are
    loaded on its first proxied request after authentication (concurrent requests share the one fetch, which
    is awaited at most `FIRST_LOAD_WAIT` seconds), then refreshed in the background every `refresh` seconds
    and — at most every `retry` seconds — when a path matched nothing (a route deployed since) or the last
    fetch failed. Until a service's paths are known, its requests are `unmatched`.
    """

    FIRST_LOAD_WAIT = 3.0

    def __init__(self, upstreams: dict[str, str], *, refresh: float = 300.0, retry: float = 10.0) -> None:
        self._upstreams = upstreams
        self._refresh = refresh
        self._retry = retry
        self._trees: dict[str, _Node] = {}
        self._loaded_at: dict[str, float] = {}
        self._tried_at: dict[str, float] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}

    def label(self, service: str, path: str) -> str:
        """`/api/{service}{template}` for an upstream path (`households/…`, no leading slash), or `unmatched`."""
        tree = self._trees.get(service)
        template = _match(tree, _segments(path), 0) if tree is not None else None
        return f"/api/{service}{template}" if template is not None else UNMATCHED

    def known(self, service: str) -> bool:
        return service in self._trees

    async def first_load(self, service: str, upstream: Upstream) -> bool:
        """Load a service's templates never loaded yet, waiting for them (briefly); whether they are known now.
        After a failed fetch, requests do not wait again for `retry` seconds."""
        if (
            service not in self._loading
            and time.monotonic() - self._tried_at.get(service, -math.inf) < self._retry
        ):
            return False
        task = self._start(service, upstream)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self.FIRST_LOAD_WAIT)
        return service in self._trees

    def refresh_if_due(self, service: str, upstream: Upstream, *, missed: bool) -> None:
        """Refetch a known service's templates in the background when stale, or after a miss (rate-limited)."""
        now = time.monotonic()
        due = missed or now - self._loaded_at[service] >= self._refresh
        if due and now - self._tried_at[service] >= self._retry:
            self._start(service, upstream)

    def _start(self, service: str, upstream: Upstream) -> asyncio.Task[None]:
        task = self._loading.get(service)
        if task is None:
            self._tried_at[service] = time.monotonic()
            task = asyncio.create_task(self._load(service, upstream))
            self._loading[service] = task
            task.add_done_callback(lambda _: self._loading.pop(service, None))
        return task

    async def _load(self, service: str, upstream: Upstream) -> None:
        url = f"{self._upstreams[service]}/openapi.json"
        try:
            resp = await upstream.send("GET", url, [("accept", "application/json")], None)
            body = await resp.read()
            if resp.status != 200:
                raise ValueError(f"status {resp.status}")
            paths = json.loads(body)["paths"]
        except (AppError, aiohttp.ClientError, httpx.HTTPError, TimeoutError, ValueError, KeyError) as exc:
            _log.warning("route templates not loaded", extra={"upstream": service, "error": repr(exc)})
            return
        self._trees[service] = _tree(p for p in paths if isinstance(p, str))
        self._loaded_at[service] = time.monotonic()

    async def close(self) -> None:
        for task in list(self._loading.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- the route -------------------------------------------------------------------------------------------
def _forward_headers(request: Request, service: str) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP]
    client = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    headers = [(k, v) for k, v in headers if k not in _SET_HERE]
    headers.append(("x-forwarded-for", f"{prior}, {client}" if prior else client))
    headers.append(("x-forwarded-proto", request.scope.get("scheme", "http")))
    # The path the client called is /api/{service}/…: problem `instance` members say so (shared.problems).
    headers.append(("x-forwarded-prefix", f"/api/{service}"))
    headers.append(("x-request-id", request.state.request_id))
    return headers


async def _request_body(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= SMALL_BODY:
        return await request.body() if int(length) else None
    if length is None and "transfer-encoding" not in request.headers:
        return None
    return request.stream()


def _replayable(method: str, body: Any) -> bool:
    """Whether a request may be sent again: an idempotent method, and no body or one read whole (a small one)."""
    return method in RETRIED_METHODS and (body is None or isinstance(body, bytes))


async def _send(
    upstream: Upstream,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: Any,
    read_timeout: float | None = None,
) -> UpstreamResponse:
    """Send the request; once more when it is replayable and the connection was reset before any answer."""
    try:
        return await upstream.send(method, url, headers, body, read_timeout=read_timeout)
    except UpstreamReset as exc:
        if not _replayable(method, body):
            _log.warning(
                "upstream reset", extra={"upstream": url.split("?")[0], "error": repr(exc.__cause__)}
            )
            raise
        _log.info("upstream reset; retrying once", extra={"upstream": url.split("?")[0], "method": method})
    try:
        return await upstream.send(method, url, headers, body, read_timeout=read_timeout)
    except UpstreamReset as exc:
        _log.warning(
            "upstream reset twice", extra={"upstream": url.split("?")[0], "error": repr(exc.__cause__)}
        )
        raise


async def proxy(request: Request) -> Response:
    """Forward `/api/{service}/{path}` to the service, authenticated, with the caller's token."""
    # A plain Starlette route, not a FastAPI endpoint: the hottest path skips dependency solving and parameter
    # validation. Authentication, revocation and the rate limit are the same function the FastAPI routes use,
    # and errors still reach the app's problem+json handlers.
    service: str = request.path_params["service"]
    path: str = request.path_params["path"]
    templates: RouteTemplates = request.app.state.route_templates
    # Labelled first, so that a 401, 429, 502 or 504 on a known route is counted under its template.
    label = request.state.route_template = templates.label(service, path)  # observability.ROUTE_TEMPLATE
    await authenticated_caller(request)
    quota: Quota = request.state.rate_limit
    try:
        return await _forward(request, service, path, label)
    except AppError as exc:
        # The gateway's own problems after the count (404, 502, 504) say the caller's quota too.
        exc.headers = {**exc.headers, **quota_headers(quota)}
        raise


async def _forward(request: Request, service: str, path: str, label: str) -> Response:
    templates: RouteTemplates = request.app.state.route_templates
    settings: GatewaySettings = request.app.state.settings
    base = settings.upstreams.get(service)
    if base is None:
        raise NotFound(f"no service named '{service}'")
    if not _proxied_path(path, request.scope["path"]):
        raise NotFound("no such resource")
    upstream: Upstream = request.app.state.upstream
    if not templates.known(service):
        if await templates.first_load(service, upstream):
            request.state.route_template = templates.label(service, path)
    else:
        templates.refresh_if_due(service, upstream, missed=label == UNMATCHED)
    url = f"{base}/{path}"
    query: bytes = request.scope.get("query_string", b"")
    if query:
        url = f"{url}?{query.decode('latin-1')}"
    timeouts: RouteTimeouts = request.app.state.route_timeouts
    read_timeout = timeouts.for_request(request.method, request.scope["path"])
    resp = await _send(
        upstream,
        request.method,
        url,
        _forward_headers(request, service),
        await _request_body(request),
        read_timeout if read_timeout != settings.proxy_read_timeout else None,
    )
    headers = {k: v for k, v in resp.headers if k.lower() not in _RESPONSE_SKIP}
    # Every proxied answer, the service's problems included, says what is left of the caller's quota.
    headers.update(quota_headers(request.state.rate_limit))
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
