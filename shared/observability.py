"""Request ids, JSON logs, Prometheus metrics and the JSON body checks, as one pure ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) because it sits on every request, including proxied streams, and must
neither buffer response bodies nor add a task hop.

Every request is counted and logged under its route template (`route_label`): FastAPI routes by their path,
the plain Starlette fast routes by theirs (`LabelledRoute`), the gateway's proxy by the upstream's template
under `/api/{service}` (gateway/proxy.py); only a request no route took is `unmatched`.

JSON bodies are `application/json` only: FastAPI reads any `application/*+json` body as JSON, so a JSON Patch
(`application/json-patch+json`) sent to a merge-style PATCH would be applied as if it were the document. No route
takes such a type, so a body sent as one is a 415 here, in every process, before routing.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import PROBLEM_JSON

__all__ = [
    "ROUTE_TEMPLATE",
    "UNMATCHED",
    "LabelledRoute",
    "ObservabilityMiddleware",
    "configure_logging",
    "metrics_response",
    "route_label",
]

_log = logging.getLogger("jingzhun.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("jingzhun_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "jingzhun_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any `extra` fields the caller passed."""

    _RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


#: The label of a request that no route took (a 404 for an unknown path, a body refused before routing).
UNMATCHED = "unmatched"
#: `request.state` key under which a route names a template of its own (the proxy: the upstream's template).
ROUTE_TEMPLATE = "route_template"


class LabelledRoute(Route):
    """A plain Starlette route (the fast paths) that metrics and logs know by its template.

    FastAPI's router puts only its own APIRoutes in `scope["route"]`; this route puts itself there too, as
    APIRoute does, on a full match and on a method mismatch (the 405 is counted under the route as well).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def route_label(scope: Scope, state: MutableMapping[str, Any]) -> str:
    """The route template a request is counted and logged under: what the route named in `request.state`
    (the proxy's `/api/registry/households/{household_id}`), else the template of the route that took it
    (`path_format`: `/households/{household_id}`, without Starlette's `:uuid` convertor), else `unmatched`."""
    named = state.get(ROUTE_TEMPLATE)
    if named:
        return str(named)
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


def metrics_response(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_NOSNIFF = (b"x-content-type-options", b"nosniff")


def _problem(
    status: int, title: str, detail: str, request_id: str, *, slug: str = "payload-too-large"
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps(
        {
            "type": f"https://jingzhun.example/problems/{slug}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        _NOSNIFF,
    ]
    return body, headers


class ObservabilityMiddleware:
    """Assigns X-Request-ID, limits JSON bodies (and refuses `+json` types), logs one JSON line and records
    metrics per request."""

    def __init__(self, app: ASGIApp, *, service: str, max_json_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_json = max_json_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                extra = [(b"x-request-id", request_id.encode())]
                # Every answer, photos and evidence files included: a browser never sniffs a type we did not send.
                if not any(name.lower() == b"x-content-type-options" for name, _ in message["headers"]):
                    extra.append(_NOSNIFF)
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        try:
            receive_fn = await self._limit_json(scope, headers, receive, send_wrapper, request_id)
            if receive_fn is not None:
                await self.app(scope, receive_fn, send_wrapper)
        finally:
            self._record(scope, state, status_holder[0], time.perf_counter() - start, request_id)

    async def _limit_json(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send, request_id: str
    ) -> Receive | None:
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if not (content_type.endswith(b"/json") or content_type.endswith(b"+json")):
            return receive
        length = headers.get(b"content-length")
        if content_type != b"application/json" and (
            length not in (None, b"0") or b"transfer-encoding" in headers
        ):
            await self._refuse_media_type(send, request_id, content_type)
            return None
        if length is not None:
            if length.isdigit() and int(length) <= self.max_json:
                return receive
            await self._reject(send, request_id)
            return None
        # Chunked JSON: buffer up to the limit (JSON bodies are small by contract), then replay.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_json:
                await self._reject(send, request_id)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive() -> Message:
            return replay.pop() if replay else await receive()

        return replay_receive

    async def _reject(self, send: Send, request_id: str) -> None:
        body, headers = _problem(
            413, "Request body too large", f"JSON bodies are limited to {self.max_json} bytes.", request_id
        )
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _refuse_media_type(self, send: Send, request_id: str, content_type: bytes) -> None:
        body, headers = _problem(
            415,
            "Unsupported media type",
            f"JSON bodies are sent as application/json, not {content_type.decode('latin-1')}.",
            request_id,
            slug="unsupported-media-type",
        )
        await send({"type": "http.response.start", "status": 415, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(
        self, scope: Scope, state: MutableMapping[str, Any], status: int, elapsed: float, request_id: str
    ) -> None:
        route_path = route_label(scope, state)
        method = scope["method"]
        REQUESTS.labels(self.service, method, route_path, str(status)).inc()
        LATENCY.labels(self.service, method, route_path).observe(elapsed)
        if route_path in ("/healthz", "/metrics"):
            return
        principal = state.get("principal")
        _log.info(
            "request",
            extra={
                "service": self.service,
                "request_id": request_id,
                "method": method,
                "route": route_path,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "principal": getattr(principal, "sub", None),
                "role": str(getattr(principal, "role", "")) or None,
            },
        )
