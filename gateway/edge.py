"""What the gateway does to every request at the edge: gzip for JSON answers, and no client-sent forwarded prefix.

Compression (`EdgeMiddleware`, pure ASGI like the observability middleware, so it neither buffers a streamed
body nor adds a task hop). An answer is gzipped when all of these hold:

* the client accepts gzip (`Accept-Encoding: gzip`, or `*`, with q > 0) and the method is not HEAD;
* it is JSON or a JSON-like text: `application/json`, `application/*+json` (problem+json), NDJSON, CSV;
* it is not encoded already (an upstream's `Content-Encoding` passes untouched), not 1xx/204/206/304, and not
  `Cache-Control: no-transform`;
* it is at least `minimum_size` bytes (`GZIP_MIN_BYTES`, default 1 KiB): a `Content-Length` below it passes at
  once, with no copy; a body without one is judged by its size when it comes in one piece, and a streamed body
  (more chunks to come: its size is unknown) is compressed from its first chunk.

A body sent in one piece (the usual JSON answer, a proxied answer up to 256 KiB) is compressed whole and its
`Content-Length` replaced by the compressed length; a streamed body (a large proxied page, a download) is
compressed chunk by chunk — each chunk is flushed (`Z_SYNC_FLUSH`) so the client gets it at once — and sent
without `Content-Length`. Compressed answers carry `Content-Encoding: gzip` and `Vary: Accept-Encoding`. The
`ETag` stays: it names the record's version (what `If-Match` and `If-None-Match` compare), which both codings
share. The level (`GZIP_LEVEL`, default 1, nginx's default) trades bytes for the gateway's CPU: a 265 kB page of
500 households goes out as 32 kB at level 1 and 26 kB at level 6, which costs about twice the CPU.

The forwarded prefix: `X-Forwarded-Prefix` says which path prefix a proxy serves a process under, and problem
`instance` members are built from it (`shared.problems.instance_of`). The gateway is the only one allowed to
say it — the proxy sends `/api/{service}` upstream — so a client's own copy is dropped here, before any route
sees it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EdgeMiddleware", "accepts_gzip", "compressible"]

#: wbits for a gzip container (RFC 1952) around the deflate stream.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_NOT_COMPRESSED_STATUS = frozenset({204, 206, 304})
_TEXT_TYPES = frozenset(
    {b"application/json", b"application/x-ndjson", b"application/ndjson", b"application/jsonl", b"text/csv"}
)


def accepts_gzip(value: bytes) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (RFC 9110 §12.5.3): `gzip`/`x-gzip` or `*`, with q > 0."""
    lowered = value.lower()
    if b"gzip" not in lowered and b"*" not in lowered:
        return False
    gzip_q: float | None = None
    any_q: float | None = None
    for item in lowered.split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding not in (b"gzip", b"x-gzip", b"*"):
            continue
        q = 1.0
        for param in params.split(b";"):
            key, _, number = param.partition(b"=")
            if key.strip() == b"q":
                try:
                    q = float(number.strip())
                except ValueError:
                    q = 0.0
        if coding == b"*":
            any_q = q
        else:
            gzip_q = q if gzip_q is None else max(gzip_q, q)
    if gzip_q is not None:
        return gzip_q > 0
    return any_q is not None and any_q > 0


def compressible(content_type: bytes) -> bool:
    """JSON, `+json` (problem+json), NDJSON and CSV: the text answers of the API."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in _TEXT_TYPES or (media.startswith(b"application/") and media.endswith(b"+json"))


class EdgeMiddleware:
    """Drops a client-sent `X-Forwarded-Prefix`; gzips JSON answers for clients that accept it (module doc)."""

    def __init__(self, app: ASGIApp, *, minimum_size: int = 1024, level: int = 1) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.level = level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept: list[bytes] = []
        forwarded_prefix = False
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept.append(value)
            elif name == b"x-forwarded-prefix":
                forwarded_prefix = True
        if forwarded_prefix:
            # In place: the outer middleware reads the same scope (its route) after the app ran.
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"x-forwarded-prefix"]
        if not accept or scope["method"] == "HEAD" or not accepts_gzip(b",".join(accept)):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _GzipSend(send, self.minimum_size, self.level))


_PASS, _WAIT, _STREAM = 0, 1, 2


class _GzipSend:
    """The `send` of one response: passes it through, or gzips its body (whole, or chunk by chunk)."""

    __slots__ = ("_compressor", "_level", "_minimum", "_mode", "_send", "_start")

    def __init__(self, send: Send, minimum: int, level: int) -> None:
        self._send = send
        self._minimum = minimum
        self._level = level
        self._mode = _PASS
        self._start: Message | None = None
        self._compressor: zlib._Compress | None = None

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._eligible(message):
                self._mode, self._start = _WAIT, message  # decided by the first body chunk
            else:
                await self._send(message)
            return
        if self._mode == _PASS:
            await self._send(message)
            return
        if kind != "http.response.body":
            await self._pass_through()
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._mode == _WAIT:
            if not more:
                # The whole body in one piece: compress it whole and say its compressed length.
                if len(body) < self._minimum:
                    await self._pass_through()
                    await self._send(message)
                    return
                compressed = _gzip_whole(body, self._level)
                await self._send(self._gzip_start(length=len(compressed)))
                self._mode = _PASS
                await self._send({"type": "http.response.body", "body": compressed, "more_body": False})
                return
            self._mode = _STREAM
            await self._send(self._gzip_start(length=None))
        compressor = self._compressor_for()
        if more:
            if not body:
                return
            chunk = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
        else:
            chunk = compressor.compress(body) + compressor.flush(zlib.Z_FINISH)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": more})

    def _compressor_for(self) -> zlib._Compress:
        if self._compressor is None:
            self._compressor = zlib.compressobj(self._level, zlib.DEFLATED, _GZIP_WBITS)
        return self._compressor

    def _eligible(self, start: Message) -> bool:
        status: int = start["status"]
        if status < 200 or status in _NOT_COMPRESSED_STATUS:
            return False
        typed = False
        for name, value in start.get("headers", ()):
            if name == b"content-type":
                if not compressible(value):
                    return False
                typed = True
            elif name == b"content-encoding":
                return False  # encoded already (an upstream's gzip passes as it came)
            elif name == b"content-length":
                if value.isdigit() and int(value) < self._minimum:
                    return False
            elif name == b"cache-control":
                if b"no-transform" in value.lower():
                    return False
            elif name == b"content-range":
                return False
        return typed

    async def _pass_through(self) -> None:
        """Send the held start as it was: from here on the response passes untouched."""
        self._mode = _PASS
        if self._start is not None:
            start, self._start = self._start, None
            await self._send(start)

    def _gzip_start(self, *, length: int | None) -> Message:
        assert self._start is not None
        start, self._start = self._start, None
        headers = _without(start.get("headers", ()), (b"content-length", b"vary"))
        vary = [v for n, v in start.get("headers", ()) if n == b"vary"]
        merged = b", ".join(vary)
        if b"accept-encoding" not in merged.lower() and merged.strip() != b"*":
            merged = merged + b", Accept-Encoding" if merged else b"Accept-Encoding"
        headers += [(b"content-encoding", b"gzip"), (b"vary", merged)]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        return {**start, "headers": headers}


def _gzip_whole(body: bytes, level: int) -> bytes:
    """gzip of a whole body with a window just large enough for it: deflate never looks further back than the
    body, so the output is as small as with the full 32 KiB window, and setting up the smaller one costs less
    (a card of ~8 kB: 36 µs instead of 57 µs)."""
    window = min(zlib.MAX_WBITS, max(10, (len(body) - 1).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + window)
    return compressor.compress(body) + compressor.flush()


def _without(headers: Iterable[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n not in names]
