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
the response through while keeping a copy. The body is read before the request runs (its hash decides between
running, replaying and refusing), but never held whole: it is hashed piece by piece as it arrives, kept in memory
up to `SPOOL_BYTES` and in a temporary file beyond (a job upload, `POST /jobs/imports`, is hundreds of MB), and
handed to the route piece by piece; a body larger than `MAX_BODY_BYTES` is refused (413) before anything runs.

The key row is written by single statements of its own (claim, complete or release; each its own durable commit)
on the service's asyncpg write pool (`app.state.write_pool`), apart from the request's own transaction, so the
"in progress" marker is visible to a concurrent retry before the work commits, and a key answered survives a
crash like the work it answered.
Install it inside `ObservabilityMiddleware` (`install_idempotency`), so that its refusals carry a request id
and are logged.

Each service keeps its keys in a table of its own named `<service>_idempotency_key` (`idempotency_table`
declares it in the service's metadata; the service's migration creates it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from anyio import to_thread
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
#: A request body up to this size is kept in memory while its hash is taken; a larger one goes to a temporary
#: file, written and read back in pieces of about this size (memory stays flat whatever the upload's size).
SPOOL_BYTES = 1024 * 1024
#: The largest body a request with a key may have: the largest any route takes (a job upload, 1 GiB).
MAX_BODY_BYTES = 1024 * 1024 * 1024


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


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length", b"").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


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


def _request_hash_head(method: str, path: str, query: bytes) -> Any:
    """The request hash up to its body: method, path and query, each preceded by its length."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest


class _SpooledBody:
    """A request body read once, before the request runs: hashed as it arrives, in memory up to `SPOOL_BYTES`,
    beyond that in a temporary file (file work in a worker thread, off the event loop), replayed in pieces.

    The hash is the one the whole body always had: sha256 over method, path, query and body, each preceded by its
    length (stored keys stay valid). The body's length comes first, so it is taken from `Content-Length` as the
    body arrives; a body without one (chunked) or of another length is hashed again from the spool at the end.
    """

    def __init__(self, head: Any, declared: int | None) -> None:
        self._head = head
        self._declared = declared
        self._digest = head.copy()
        if declared is not None:
            self._digest.update(declared.to_bytes(8, "big"))
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._file: IO[bytes] | None = None

    async def add(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self._declared is not None:
            self._digest.update(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > SPOOL_BYTES:
            await self._spill()

    async def _spill(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if self._file is None:
            self._file = await to_thread.run_sync(tempfile.TemporaryFile)
        await to_thread.run_sync(self._file.write, data)

    async def hexdigest(self) -> str:
        if self._declared == self.size:
            return str(self._digest.hexdigest())
        digest = self._head.copy()
        digest.update(self.size.to_bytes(8, "big"))
        async for piece in self.pieces():
            digest.update(piece)
        return str(digest.hexdigest())

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        """The body from its start: the spooled part in pieces of `SPOOL_BYTES`, then what is still in memory."""
        if self._file is not None:
            await to_thread.run_sync(self._file.seek, 0)
            while piece := await to_thread.run_sync(self._file.read, SPOOL_BYTES):
                yield piece
        for piece in self._pending:
            yield piece

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._pending = []


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

        method, path = scope["method"], scope["path"]
        body = _SpooledBody(
            _request_hash_head(method, path, scope.get("query_string", b"")), _content_length(headers)
        )
        try:
            read = await self._read_body(receive, body)
            if read == "disconnected":  # the client went away before sending the whole body
                return
            if read == "too_large":
                response = _problem(
                    413,
                    "Request body too large",
                    f"a request with an Idempotency-Key may send at most {MAX_BODY_BYTES} bytes",
                    code="idempotency_body_too_large",
                )
                await response(scope, receive, send)
                return
            await self._run(scope, receive, send, principal, key, body)
        finally:
            body.close()

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, principal: str, key: str, body: _SpooledBody
    ) -> None:
        method, path = scope["method"], scope["path"]
        request_hash = await body.hexdigest()
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

        pieces = body.pieces()
        upcoming = await anext(pieces, None)
        replayed = False

        async def replay() -> Message:
            # The body as it arrived, one piece per message (the last says `more_body: False`); then the client's
            # own messages (a disconnect).
            nonlocal upcoming, replayed
            if replayed:
                return await receive()
            piece = upcoming or b""
            upcoming = await anext(pieces, None)
            replayed = upcoming is None
            return {"type": "http.request", "body": piece, "more_body": not replayed}

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
        finally:
            await pieces.aclose()
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
    async def _read_body(receive: Receive, body: _SpooledBody) -> str | None:
        """Read the whole body into `body`; "disconnected" or "too_large" when it cannot be, else None."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return "disconnected"
            await body.add(message.get("body", b""))
            if body.size > MAX_BODY_BYTES:
                return "too_large"
            if not message.get("more_body", False):
                return None

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
