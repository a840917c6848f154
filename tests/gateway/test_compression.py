"""gzip at the gateway (gateway/edge.py): JSON answers above the threshold, streamed chunk by chunk, never twice.

The middleware's rules are tested on small ASGI apps with no database; the gateway's own routes and proxied
answers (whole and streamed, from a real upstream server) through the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gateway.edge import EdgeMiddleware, accepts_gzip, compressible
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from shared.jwt import SigningKey
from tests.factories import COUNTY, auth, issue
from tests.harness import running, serve

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
#: A JSON answer well above the 1 KiB threshold, and one below it.
BIG = {"items": [{"id": i, "name": "黄志强", "village": "旧州村"} for i in range(200)]}
SMALL = {"id": 1, "name": "黄志强"}


def upstream_app(first_seen: asyncio.Event | None = None) -> Starlette:
    """The answers a service can give: JSON big and small, problem+json, a stream, a photo, gzip of its own."""

    async def big(_: Request) -> JSONResponse:
        return JSONResponse(BIG, headers={"ETag": '"7"'})

    async def small(_: Request) -> JSONResponse:
        return JSONResponse(SMALL)

    async def problem(_: Request) -> Response:
        body = json.dumps({"type": "about:blank", "title": "Bad", "status": 422, "detail": "x" * 2000})
        return Response(body, status_code=422, media_type="application/problem+json")

    async def stream(request: Request) -> StreamingResponse:
        lines = int(request.query_params.get("lines", "20000"))

        async def gen() -> AsyncIterator[bytes]:
            yield b'{"first": true}\n'
            if first_seen is not None:
                # Continues only once the client has decoded the first line: nothing buffers the stream.
                await asyncio.wait_for(first_seen.wait(), 10)
            for i in range(lines):
                yield json.dumps({"n": i, "name": "黄志强"}, ensure_ascii=False).encode() + b"\n"

        return StreamingResponse(gen(), media_type="application/x-ndjson")

    async def photo(_: Request) -> Response:
        return Response(b"\xff\xd8\xff\xe0" + b"\x01" * 4096, media_type="image/jpeg")

    async def encoded(_: Request) -> Response:
        body = gzip.compress(json.dumps(BIG).encode())
        return Response(body, media_type="application/json", headers={"Content-Encoding": "gzip"})

    async def no_transform(_: Request) -> JSONResponse:
        return JSONResponse(BIG, headers={"Cache-Control": "no-transform"})

    async def vary(_: Request) -> JSONResponse:
        return JSONResponse(BIG, headers={"Vary": "Origin"})

    async def not_modified(_: Request) -> Response:
        return Response(status_code=304, headers={"ETag": '"7"'})

    async def prefix(request: Request) -> JSONResponse:
        return JSONResponse({"prefix": request.headers.get("x-forwarded-prefix")})

    return Starlette(
        routes=[
            Route("/big", big, methods=["GET", "HEAD"]),
            Route("/small", small),
            Route("/problem", problem),
            Route("/stream", stream),
            Route("/photo", photo),
            Route("/encoded", encoded),
            Route("/no-transform", no_transform),
            Route("/vary", vary),
            Route("/not-modified", not_modified),
            Route("/prefix", prefix),
        ]
    )


@contextlib.asynccontextmanager
async def edge(app: Starlette, minimum_size: int = 1024) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=EdgeMiddleware(app, minimum_size=minimum_size))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass(frozen=True)
class Wire:
    """An answer as sent: httpx would decode a gzipped body itself; these tests check the bytes on the wire."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def gunzipped(response: Wire) -> bytes:
    assert response.headers["content-encoding"] == "gzip"
    return gzip.decompress(response.content)


async def raw(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Wire:
    async with client.stream("GET", path, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return Wire(response.status_code, response.headers, body)


class TestAcceptEncoding:
    @pytest.mark.parametrize(
        ("value", "accepted"),
        [
            (b"gzip", True),
            (b"gzip, deflate, br", True),
            (b"deflate, GZIP;q=0.5", True),
            (b"x-gzip", True),
            (b"*", True),
            (b"br;q=1, *;q=0.1", True),
            (b"gzip;q=0", False),
            (b"gzip;q=0, *", False),
            (b"*;q=0", False),
            (b"identity", False),
            (b"br, deflate", False),
            (b"", False),
            (b"gzip;q=oops", False),
        ],
    )
    def test_parsing(self, value: bytes, accepted: bool) -> None:
        assert accepts_gzip(value) is accepted

    @pytest.mark.parametrize(
        ("content_type", "expected"),
        [
            (b"application/json", True),
            (b"application/json; charset=utf-8", True),
            (b"application/problem+json", True),
            (b"application/x-ndjson", True),
            (b"text/csv; charset=utf-8", True),
            (b"image/jpeg", False),
            (b"application/octet-stream", False),
            (b"text/html; charset=utf-8", False),
        ],
    )
    def test_compressible_types(self, content_type: bytes, expected: bool) -> None:
        assert compressible(content_type) is expected


class TestEdgeMiddleware:
    async def test_big_json_is_gzipped_with_its_compressed_length(self) -> None:
        async with edge(upstream_app()) as client:
            response = await raw(client, "/big", GZIP)
        assert response.status_code == 200
        assert json.loads(gunzipped(response)) == BIG
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-length"] == str(len(response.content))
        assert len(response.content) < len(json.dumps(BIG)) / 4
        assert response.headers["etag"] == '"7"'  # the record's version, whichever the coding

    async def test_decoded_transparently_by_clients(self) -> None:
        async with edge(upstream_app()) as client:
            response = await client.get("/big", headers=GZIP)
        assert response.headers["content-encoding"] == "gzip"
        assert response.json() == BIG

    async def test_problem_json_is_gzipped(self) -> None:
        async with edge(upstream_app()) as client:
            response = await raw(client, "/problem", GZIP)
        assert response.status_code == 422
        assert json.loads(gunzipped(response))["status"] == 422

    @pytest.mark.parametrize(
        ("path", "headers"),
        [
            ("/small", GZIP),  # below the threshold
            ("/big", IDENTITY),  # the client does not accept gzip
            ("/big", {"Accept-Encoding": "gzip;q=0"}),
            ("/photo", GZIP),  # not JSON
            ("/no-transform", GZIP),
        ],
    )
    async def test_left_as_it_is(self, path: str, headers: dict[str, str]) -> None:
        async with edge(upstream_app()) as client:
            response = await raw(client, path, headers)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert response.headers["content-length"] == str(len(response.content))

    async def test_no_accept_encoding_no_gzip(self) -> None:
        async with edge(upstream_app()) as client:
            del client.headers["accept-encoding"]
            response = await raw(client, "/big", {})
        assert "content-encoding" not in response.headers
        assert json.loads(response.content) == BIG

    async def test_an_encoded_body_is_never_compressed_again(self) -> None:
        async with edge(upstream_app()) as client:
            response = await raw(client, "/encoded", GZIP)
        assert response.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.content)) == BIG  # once, not twice

    async def test_head_and_304_are_left_alone(self) -> None:
        async with edge(upstream_app()) as client:
            head = await client.head("/big", headers=GZIP)
            plain = await client.get("/big", headers=IDENTITY)
            not_modified = await client.get("/not-modified", headers=GZIP)
        assert "content-encoding" not in head.headers
        assert head.headers["content-length"] == plain.headers["content-length"]
        assert not_modified.status_code == 304
        assert "content-encoding" not in not_modified.headers

    async def test_vary_is_merged(self) -> None:
        async with edge(upstream_app()) as client:
            response = await raw(client, "/vary", GZIP)
        assert response.headers["vary"] == "Origin, Accept-Encoding"

    async def test_a_threshold_of_its_own(self) -> None:
        async with edge(upstream_app(), minimum_size=10) as client:
            response = await raw(client, "/small", GZIP)
        assert json.loads(gunzipped(response)) == SMALL

    async def test_stream_is_compressed_chunk_by_chunk(self) -> None:
        """Each chunk the app sends goes out at once, compressed and flushed, with no Content-Length."""
        first_seen = asyncio.Event()
        app = EdgeMiddleware(upstream_app(first_seen))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/stream",
            "raw_path": b"/stream",
            "query_string": b"lines=1000",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"accept-encoding", b"gzip")],
            "client": ("203.0.113.7", 50000),
            "server": ("testserver", 80),
        }
        sent: list[Message] = []
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = bytearray()

        async def receive() -> Message:
            await asyncio.sleep(30)
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                text.extend(decoder.decompress(message["body"]))
                if text.startswith(b'{"first": true}\n'):
                    first_seen.set()  # the app sends the rest only now

        await asyncio.wait_for(app(scope, receive, send), 10)
        start = dict(sent[0]["headers"])
        assert start[b"content-encoding"] == b"gzip"
        assert b"content-length" not in start
        bodies = [m for m in sent if m["type"] == "http.response.body"]
        assert len(bodies) > 100  # one per chunk, not one buffered answer
        assert bodies[-1]["more_body"] is False
        lines = bytes(text).splitlines()
        assert len(lines) == 1001 and json.loads(lines[-1]) == {"n": 999, "name": "黄志强"}

    async def test_a_body_of_unknown_length_in_one_piece_is_judged_by_its_size(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            size = int(scope["path"].strip("/"))
            headers = [(b"content-type", b"application/json")]  # no Content-Length
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"[" + b"1," * size + b"1]"})

        transport = httpx.ASGITransport(app=EdgeMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            small = await raw(client, "/10", GZIP)
            big = await raw(client, "/1000", GZIP)
        assert "content-encoding" not in small.headers and len(json.loads(small.content)) == 11
        assert len(json.loads(gunzipped(big))) == 1001
        assert big.headers["content-length"] == str(len(big.content))

    async def test_a_stream_is_compressed_from_its_first_chunk(self) -> None:
        # A streamed body's length is unknown: it is compressed as it comes, however short it turns out.
        async with edge(upstream_app()) as client:
            response = await raw(client, "/stream?lines=0", GZIP)
        assert gunzipped(response) == b'{"first": true}\n'

    async def test_a_client_sent_forwarded_prefix_is_dropped(self) -> None:
        async with edge(upstream_app()) as client:
            response = await client.get("/prefix", headers={"X-Forwarded-Prefix": "/api/registry"})
        assert response.json() == {"prefix": None}

    async def test_non_http_scopes_pass(self) -> None:
        seen: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])

        async def nothing() -> Message:
            return {}

        async def ignore(_: Message) -> None:
            return None

        await EdgeMiddleware(app)({"type": "lifespan"}, nothing, ignore)
        assert seen == ["lifespan"]


@contextlib.asynccontextmanager
async def gateway_in_front(
    settings: GatewaySettings, signing_key: SigningKey, upstream: Starlette
) -> AsyncIterator[str]:
    """A gateway on a socket in front of `upstream` (as the planning service); its base URL."""
    async with serve(upstream) as upstream_url:
        settings = settings.model_copy(update={"planning_url": upstream_url})
        async with serve(create_gateway(settings, signing_key=signing_key)) as gateway_url:
            yield gateway_url


@pytest.fixture
def token(signing_key: SigningKey) -> str:
    return issue(signing_key, "county_admin", COUNTY)


class TestThroughTheGateway:
    async def test_proxied_json_is_gzipped(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        async with (
            gateway_in_front(gateway_settings, signing_key, upstream_app()) as gw,
            httpx.AsyncClient(base_url=gw) as client,
        ):
            big = await raw(client, "/api/planning/big", auth(token, **GZIP))
            small = await raw(client, "/api/planning/small", auth(token, **GZIP))
            plain = await raw(client, "/api/planning/big", auth(token, **IDENTITY))
            encoded = await raw(client, "/api/planning/encoded", auth(token, **GZIP))
            photo = await raw(client, "/api/planning/photo", auth(token, **GZIP))
        assert json.loads(gunzipped(big)) == BIG
        assert big.headers["vary"] == "Accept-Encoding" and big.headers["etag"] == '"7"'
        assert "content-encoding" not in small.headers  # small record GETs are below the threshold
        assert "content-encoding" not in plain.headers and json.loads(plain.content) == BIG
        assert json.loads(gzip.decompress(encoded.content)) == BIG  # the service's own gzip, untouched
        assert "content-encoding" not in photo.headers

    async def test_proxied_stream_is_compressed_as_it_flows(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey, token: str
    ) -> None:
        first_seen = asyncio.Event()
        async with (
            gateway_in_front(gateway_settings, signing_key, upstream_app(first_seen)) as gw,
            httpx.AsyncClient(base_url=gw, timeout=10) as client,
            client.stream("GET", "/api/planning/stream", headers=auth(token, **GZIP)) as response,
        ):
            assert response.headers["content-encoding"] == "gzip"
            assert "content-length" not in response.headers
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            text = bytearray()
            wire = 0
            async for chunk in response.aiter_raw():
                wire += len(chunk)
                text.extend(decoder.decompress(chunk))
                if text.startswith(b'{"first": true}\n'):
                    first_seen.set()  # the upstream sends the rest only once the first line got through
        assert len(bytes(text).splitlines()) == 20001
        assert wire < len(text) / 4

    async def test_gateway_problems_are_problem_json_when_gzipped(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        async with running(create_gateway(gateway_settings, signing_key=signing_key)) as gw:
            response = await gw.get("/api/planning/big", headers=GZIP)  # no token: 401, small, plain
        assert response.status_code == 401
        assert "content-encoding" not in response.headers
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_gateways_own_routes_are_gzipped(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        async with running(create_gateway(gateway_settings, signing_key=signing_key)) as gw:
            response = await raw(gw, "/openapi.json", GZIP)
        assert response.status_code == 200
        assert "/auth/token" in json.loads(gunzipped(response))["paths"]
