"""The visit POST's fair baseline (issue #9): two bare HTTP hops in front of the raw asyncpg INSERT.

The design card fixes the shape of the real path: a phone's `POST /api/registry/help-records` crosses two
Python HTTP processes (the gateway, then the registry) before PostgreSQL. This module builds the least that
shape can cost, so that bench/visits.py can judge the platform against it rather than against an INSERT sent
from the load generator itself:

* `leaf_app` (the bare registry, 裸叶服务): plain ASGI, no framework. It reads the body, `json.loads` it (no
  authentication, no validation beyond that) and runs `INSERT_SQL`, the very statement of the raw-INSERT
  baseline, with the columns and values the registry writes for a new visit, on a raw asyncpg pool of the
  raw baseline's size (`pool.execute`, autocommit; released without asyncpg's RESET ALL round trip, as the
  registry's write pool is). It answers 201 with the members of the registry's record, an ETag and a
  Location.
* `proxy_app` (the bare gateway, 裸代理): plain ASGI forwarding every request to the leaf with a pooled
  aiohttp session configured as gateway/proxy.py's `AiohttpUpstream` is (the gateway's default pool size and
  timeouts), without a token check.

Both are served by `ops.cli.uvicorn_command`, the platform's own server flags (uvloop, httptools, no access
log). Settings come from the environment: `BARE_UPSTREAM` (the proxy's leaf), `BARE_DATABASE_URL`,
`BARE_POOL_SIZE`, `BARE_CADRE_ID` and `BARE_CADRE_SUB` (the leaf's database, pool and the cadre the records
are stored for; the leaf does not authenticate, so the benchmark tells it).

bench/http_floor.py serves the same proxy in front of a leaf without a database.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "INSERT_SQL",
    "Receive",
    "Send",
    "answer",
    "insert_args",
    "leaf_app",
    "lifespan",
    "proxy_app",
    "read_body",
]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

#: A new visit as the registry stores it (help_records/repository.py: version 1, every column it writes), one row
#: per statement. The raw-INSERT baseline and the bare leaf run exactly this.
INSERT_SQL = (
    "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
    " received_at, device_id, place, gps_lat, gps_lon, content, money_fen, goods, measures, flags,"
    " payload_hash, created_by)"
    " VALUES ($1, 1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14, $15, $16)"
)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def insert_args(
    record: Mapping[str, Any], *, cadre_id: uuid.UUID, created_by: str, payload_hash: str
) -> tuple[Any, ...]:
    """`INSERT_SQL`'s parameters for a record as the phone sends it (the JSON of `POST /help-records`)."""
    device_time = record["device_time"]
    return (
        uuid.UUID(record["id"]),
        uuid.UUID(record["household_id"]),
        cadre_id,
        record["record_type"],
        datetime.fromisoformat(device_time) if isinstance(device_time, str) else device_time,
        record.get("device_id"),
        record.get("place"),
        _decimal(record.get("gps_lat")),
        _decimal(record.get("gps_lon")),
        record["content"],
        int(Decimal(str(record.get("money_yuan", "0"))) * 100),
        json.dumps(record.get("goods", []), ensure_ascii=False),
        json.dumps(record.get("measures", []), ensure_ascii=False),
        [],  # evidence flags: none for a visit without GPS sent on time
        payload_hash,
        created_by,
    )


# -- bare ASGI building blocks ------------------------------------------------------------------------------
async def lifespan(
    receive: Receive, send: Send, *, start: Hook | None = None, stop: Hook | None = None
) -> None:
    """Answer uvicorn's lifespan messages, running `start` and `stop` (opening and closing pools)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if start is not None:
                await start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if stop is not None:
                await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole response; `headers` default to a JSON content type (content-length is always set)."""
    head = headers if headers is not None else [(b"content-type", b"application/json")]
    head = [*head, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


# -- the bare leaf: JSON in, the raw INSERT, 201 out ----------------------------------------------------------
def leaf_app() -> App:
    """Factory for `uvicorn --factory` (how `ops.cli.uvicorn_command` serves every process)."""
    import asyncpg

    dsn = os.environ["BARE_DATABASE_URL"]
    size = int(os.environ.get("BARE_POOL_SIZE", "16"))
    cadre_id = uuid.UUID(os.environ["BARE_CADRE_ID"])
    created_by = os.environ["BARE_CADRE_SUB"]
    state: dict[str, Any] = {}

    async def no_reset(_: Any) -> None:
        return None

    async def start() -> None:
        # The raw baseline's pool size (every connection opened up front), and the registry's write pool's
        # release: no RESET ALL round trip (shared/app.py), which a single statement in autocommit never needs.
        state["pool"] = await asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=no_reset)

    async def stop() -> None:
        await state["pool"].close()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, start=start, stop=stop)
            return
        body = await read_body(receive)
        if scope["method"] != "POST":  # /healthz, for the benchmark's start-up wait
            await answer(send, 200, b'{"status":"ok"}')
            return
        record = json.loads(body)
        try:
            await state["pool"].execute(
                INSERT_SQL,
                *insert_args(
                    record,
                    cadre_id=cadre_id,
                    created_by=created_by,
                    payload_hash=hashlib.sha256(body).hexdigest(),
                ),
            )
        except asyncpg.PostgresError as exc:
            await answer(send, 500, json.dumps({"error": str(exc)}).encode())
            return
        # The registry's answer has these members (its public record shape); here they echo what was sent.
        stored = {
            "id": record["id"],
            "version": 1,
            "household_id": record["household_id"],
            "cadre_id": str(cadre_id),
            "record_type": record["record_type"],
            "device_time": record["device_time"],
            "received_at": datetime.now(UTC).isoformat(),
            "device_id": record.get("device_id"),
            "place": record.get("place"),
            "gps_lat": record.get("gps_lat"),
            "gps_lon": record.get("gps_lon"),
            "content": record["content"],
            "money_yuan": record.get("money_yuan", "0.00"),
            "goods": record.get("goods", []),
            "measures": record.get("measures", []),
            "flags": [],
            "status": "draft",
        }
        headers = [
            (b"content-type", b"application/json"),
            (b"etag", b'"1"'),
            (b"location", f"/help-records/{record['id']}".encode()),
        ]
        await answer(send, 201, json.dumps(stored, ensure_ascii=False).encode(), headers)

    return app


# -- the bare proxy: forward with aiohttp as the gateway does, no token check ---------------------------------
#: Not forwarded (gateway/proxy.py's list): hop-by-hop headers and those the server sets itself.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
_RESPONSE_SKIP = frozenset({"date", "server", "content-length", "transfer-encoding", "connection"})


def proxy_app() -> App:
    """Factory for `uvicorn --factory`: every request forwarded to `BARE_UPSTREAM`."""
    import aiohttp

    upstream = os.environ["BARE_UPSTREAM"]
    state: dict[str, Any] = {}

    async def start() -> None:
        # gateway/proxy.py's AiohttpUpstream with the gateway's default settings (pool 100, 3 s / 30 s).
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, connect=3.0, sock_read=30.0),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def stop() -> None:
        await state["session"].close()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, start=start, stop=stop)
            return
        body = await read_body(receive)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in _HOP_BY_HOP
        ]
        url = upstream + scope["path"]
        if scope.get("query_string"):
            url = f"{url}?{scope['query_string'].decode('latin-1')}"
        async with state["session"].request(
            scope["method"], url, headers=headers, data=body or None, allow_redirects=False, compress=None
        ) as response:
            content = await response.read()
            out = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.items()
                if k.lower() not in _RESPONSE_SKIP
            ]
        await answer(send, response.status, content, out)

    return app
