"""`Idempotency-Key` for a service's mutating calls (phones retry after days offline; any client may).

A client that sends `Idempotency-Key: <key>` on a POST/PUT/PATCH/DELETE gets at most one execution per key:

- the first request runs; its response (status, body, `Content-Type`/`ETag`/`Location`/...) is stored;
- the same key with the same request (method, path, query, body: sha256) replays the stored response, marked
  `Idempotent-Replayed: true`;
- the same key with a different request is **422** `idempotency_key_reused`;
- the same key while the first is still running is **409** `idempotency_in_progress` (`Retry-After: 1`);
- keys are scoped by the caller (token `sub`) and kept `KEY_TTL` (30 days); `purge_expired` deletes older ones,
  and an expired key met on the way is replaced.

Server errors (5xx), exceptions and transient refusals (401, 408, 429) are not stored: the key is released so
the retry runs again. Requests without a valid token pass through untouched (they get their 401 from the
route).

Pure ASGI (like `shared.observability`): it must see the raw body to hash and replay it, and it must stream
the response through while keeping a copy. The key row is written by single statements of its own (claim,
complete or release; each its own durable commit) on the service's asyncpg write pool
(`app.state.write_pool`), apart from the request's own transaction, so the "in progress" marker is visible to
a concurrent retry before the work commits, and a key answered survives a crash like the work it answered.
Install it inside `ObservabilityMiddleware` (`install_idempotency`), so that its refusals carry a request id
and are logged.

Each service keeps its keys in a table of its own named `<service>_idempotency_key` (`idempotency_table`
declares it in the service's metadata; the service's migration creates it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import JSONB
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenAuthority
from shared.clock import utcnow
from shared.observability import ObservabilityMiddleware
from shared.problems import AppError, problem_response

__all__ = ["KEY_TTL", "IdempotencyMiddleware", "idempotency_table", "install_idempotency", "purge_expired"]

_log = logging.getLogger("jingzhun.idempotency")

#: How long a key is remembered (issue #4: at least 30 days).
KEY_TTL = timedelta(days=30)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 200
#: Answers that say "not now" rather than "no" (a revoked token, a rate limit): not stored, so a retry runs.
TRANSIENT = frozenset({401, 408, 429})
#: Response headers replayed with the stored response (x-request-id is fresh on every request).
REPLAYED_HEADERS = frozenset(
    {"content-type", "etag", "location", "cache-control", "retry-after", "warning", "www-authenticate"}
)


def idempotency_table(name: str, metadata: sa.MetaData) -> sa.Table:
    """The key table of one service (`<service>_idempotency_key`), declared in its metadata."""
    return sa.Table(
        name,
        metadata,
        sa.Column("principal", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # in_progress, done
        sa.Column("response_status", sa.Integer),
        sa.Column("response_headers", JSONB),
        sa.Column("response_body", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index(f"ix_{name}_expires", "expires_at"),
    )


def install_idempotency(app: FastAPI, table: sa.Table) -> None:
    """Add the middleware inside ObservabilityMiddleware (call after `build_service_app`, before startup)."""
    classes: list[Any] = [m.cls for m in app.user_middleware]
    if IdempotencyMiddleware in classes:
        return
    if ObservabilityMiddleware not in classes:
        raise RuntimeError("install the common middleware first")
    app.state.idempotency_table = table.name
    # user_middleware is outermost-first: appending places this one innermost, inside observability and CORS.
    app.user_middleware.append(Middleware(IdempotencyMiddleware))


async def purge_expired(pool: Any, table: sa.Table, *, now: datetime | None = None) -> int:
    """Delete keys past their expiry (on the service's asyncpg write pool); returns how many."""
    async with pool.acquire() as conn:
        status: str = await conn.execute(
            f'DELETE FROM "{table.name}" WHERE expires_at <= $1',  # noqa: S608 - our own table name
            now or utcnow(),
        )
    return int(status.split()[-1])


def _problem(status: int, title: str, detail: str, *, code: str, **headers: str) -> Any:
    return problem_response(
        status,
        title,
        detail,
        slug="conflict" if status == 409 else "unprocessable",
        headers=headers,
        code=code,
    )


class _KeyStore:
    """The key rows, on the service's asyncpg write pool: plain SQL, short transactions of their own."""

    def __init__(self, pool: Any, table: str) -> None:
        self.pool = pool
        self.table = table

    async def claim(
        self,
        principal: str,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        now: datetime,
        expires: datetime,
    ) -> bool:
        # One statement: a new key is inserted; an expired one is taken over; a live one is left alone.
        async with self.pool.acquire() as conn:
            claimed = await conn.fetchval(
                f'INSERT INTO "{self.table}" AS k (principal, key, method, path, request_hash, state,'  # noqa: S608
                " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7)"
                " ON CONFLICT (principal, key) DO UPDATE SET method = EXCLUDED.method, path = EXCLUDED.path,"
                " request_hash = EXCLUDED.request_hash, state = 'in_progress', response_status = NULL,"
                " response_headers = NULL, response_body = NULL, created_at = EXCLUDED.created_at,"
                " expires_at = EXCLUDED.expires_at"
                " WHERE k.expires_at <= EXCLUDED.created_at"
                " RETURNING key",
                principal,
                key,
                method,
                path,
                request_hash,
                now,
                expires,
            )
        return claimed is not None

    async def stored(self, principal: str, key: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f'SELECT * FROM "{self.table}" WHERE principal = $1 AND key = $2',  # noqa: S608
                principal,
                key,
            )
        if row is None:
            return None
        out = dict(row)
        if isinstance(out.get("response_headers"), str):
            out["response_headers"] = json.loads(out["response_headers"])
        return out

    async def complete(
        self, principal: str, key: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE \"{self.table}\" SET state = 'done', response_status = $3,"  # noqa: S608
                " response_headers = $4::jsonb, response_body = $5 WHERE principal = $1 AND key = $2",
                principal,
                key,
                status,
                json.dumps(headers),
                body,
            )

    async def release(self, principal: str, key: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f'DELETE FROM "{self.table}" WHERE principal = $1 AND key = $2'  # noqa: S608
                " AND state = 'in_progress'",
                principal,
                key,
            )


class IdempotencyMiddleware:
    """Stores and replays responses of mutating requests that carry an `Idempotency-Key`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        principal = self._principal(scope, headers)
        if principal is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            response = _problem(
                400,
                "Bad request",
                f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable characters",
                code="idempotency_key_invalid",
            )
            await response(scope, receive, send)
            return

        body, more = await self._read_body(receive)
        if more is not None:  # the client went away before sending the whole body
            return
        method, path = scope["method"], scope["path"]
        digest = hashlib.sha256()
        for part in (method.encode(), path.encode(), scope.get("query_string", b""), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        request_hash = digest.hexdigest()

        app_state = scope["app"].state
        engine = _KeyStore(app_state.write_pool, app_state.idempotency_table)
        clock: Callable[[], datetime] = getattr(app_state, "clock", utcnow)
        now = clock()
        claimed = await self._claim(engine, principal, key, method, path, request_hash, now)
        if not claimed:
            stored = await self._stored(engine, principal, key)
            if stored is None:  # released (a 5xx) between our insert attempt and now: try once more
                claimed = await self._claim(engine, principal, key, method, path, request_hash, now)
                stored = None if claimed else await self._stored(engine, principal, key)
            if not claimed:
                assert stored is not None
                await self._answer_existing(stored, request_hash, scope, receive, send)
                return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = [500]
        kept_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                for name, value in message.get("headers", []):
                    lowered = name.decode("latin-1").lower()
                    if lowered in REPLAYED_HEADERS:
                        kept_headers.append((lowered, value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay, capture)
        except BaseException:
            await self._release(engine, principal, key)
            raise
        if status[0] >= 500 or status[0] in TRANSIENT:
            await self._release(engine, principal, key)
            return
        await self._complete(engine, principal, key, status[0], kept_headers, b"".join(chunks))

    # -- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _principal(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        authority: TokenAuthority | None = getattr(scope["app"].state, "token_authority", None)
        if authority is None:
            return None
        try:
            return authority.authenticate(token.strip()).sub
        except AppError:
            return None

    @staticmethod
    async def _read_body(receive: Receive) -> tuple[bytes, bool | None]:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks), None

    @staticmethod
    async def _claim(
        store: _KeyStore,
        principal: str,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        now: datetime,
    ) -> bool:
        """Insert the key as in progress; True if this request owns it now. An expired key is replaced.

        The claim commits without waiting for its WAL flush (`synchronous_commit = off`): it is made durable by
        the request's own commit, whose WAL record comes after it and is flushed synchronously. If the server
        stops before that, the request did not commit either, and a retry simply runs again.
        """
        return await store.claim(principal, key, method, path[:500], request_hash, now, now + KEY_TTL)

    @staticmethod
    async def _stored(store: _KeyStore, principal: str, key: str) -> dict[str, Any] | None:
        return await store.stored(principal, key)

    @staticmethod
    async def _answer_existing(
        stored: dict[str, Any], request_hash: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if stored["state"] != "done":
            response = _problem(
                409,
                "Conflict",
                "a request with this Idempotency-Key is still being processed; retry shortly",
                code="idempotency_in_progress",
                **{"Retry-After": "1"},
            )
        elif stored["request_hash"] != request_hash:
            response = _problem(
                422,
                "Request rejected",
                "this Idempotency-Key was used for a different request (method, path or body);"
                " use a new key for a new request",
                code="idempotency_key_reused",
            )
        else:
            headers = [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in stored["response_headers"] or []
            ]
            body = bytes(stored["response_body"] or b"")
            headers += [
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replayed", b"true"),
            ]
            await send(
                {"type": "http.response.start", "status": stored["response_status"], "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await response(scope, receive, send)

    @staticmethod
    async def _complete(
        store: _KeyStore,
        principal: str,
        key: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        try:
            await store.complete(principal, key, status, headers, body)
        except Exception:  # the response is already sent; a lost key only means a retry runs again
            _log.exception("could not store the response of idempotency key")
            await IdempotencyMiddleware._release(store, principal, key)

    @staticmethod
    async def _release(store: _KeyStore, principal: str, key: str) -> None:
        try:
            await store.release(principal, key)
        except Exception:
            _log.exception("could not release idempotency key")
