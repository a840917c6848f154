"""Issue #14: uvicorn's own parser errors were `text/plain`; every process is served with a protocol that answers
them as problem+json (shared/httpserver.py), as the rest of the platform answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ops.cli import uvicorn_command
from shared.httpserver import ProblemHttpToolsProtocol
from tests.harness import serve


async def _ok(_: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = Starlette(routes=[Route("/", _ok)])
    async with serve(app, lifespan="off", http=ProblemHttpToolsProtocol) as url:
        yield int(url.rsplit(":", 1)[1])


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_unreadable_requests_get_a_problem(port: int, request_bytes: bytes) -> None:
    answer = await _raw(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["code"] == "unreadable_request" and problem["detail"]


async def test_a_readable_request_is_served(port: int) -> None:
    answer = await _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")


def test_every_process_is_served_with_it() -> None:
    command = uvicorn_command("gateway.main:create_app", "127.0.0.1", 8000)
    assert command[command.index("--http") + 1] == "shared.httpserver:ProblemHttpToolsProtocol"
