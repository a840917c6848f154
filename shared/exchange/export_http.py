"""The HTTP side of an export (issue #15): gzip negotiation, the gzipped stream, and the streamed answer with its
feed cursor (`X-Feed-Cursor`, `X-Export-As-Of`).

Compression: with `Accept-Encoding: gzip` the body is gzipped by the service, chunk by chunk (`Z_SYNC_FLUSH`,
level 1), with `Content-Encoding: gzip`. The gateway's edge compression passes an answer that is already encoded
untouched (gateway/edge.py) and its proxy does not decompress, so the file is compressed once, by the service.

`export_response` streams `texts` (shared/exchange/export.py `file_chunks`) as bytes; `after` (the audit entry,
the snapshot's end) runs once the stream ended or the client went away, shielded from the cancellation.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse

__all__ = ["MEDIA_TYPES", "SUFFIXES", "accepts_gzip", "encoded", "export_response", "gzipped"]

#: Media type and file suffix of each export format (`ndjson`, `csv`).
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
SUFFIXES = {"ndjson": "ndjson", "csv": "csv"}


def accepts_gzip(value: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*`, with q > 0."""
    if not value:
        return False
    best: float | None = None
    star: float | None = None
    for entry in value.lower().split(","):
        coding, *params = (p.strip() for p in entry.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            best = q if best is None else max(best, q)
        elif coding == "*":
            star = q
    chosen = best if best is not None else star
    return chosen is not None and chosen > 0


async def gzipped(chunks: AsyncIterator[bytes], level: int = 1) -> AsyncIterator[bytes]:
    """`chunks` as one gzip stream, each chunk flushed (`Z_SYNC_FLUSH`) so the client reads as it comes."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip container (RFC 1952)
    async for chunk in chunks:
        yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


async def encoded(
    texts: AsyncIterator[str], after: Callable[[], Awaitable[None]] | None = None
) -> AsyncIterator[bytes]:
    """`texts` as UTF-8; `after` runs when the stream ended or was abandoned (shielded: a client that leaves
    cancels the stream, but what it got still gets its audit entry)."""
    try:
        async for text in texts:
            yield text.encode()
    finally:
        if after is not None:
            await asyncio.shield(after())


def export_response(
    request: Request,
    texts: AsyncIterator[str],
    *,
    format_name: str,
    filename: str,
    feed_cursor: str,
    as_of: str,
    after: Callable[[], Awaitable[None]] | None = None,
) -> StreamingResponse:
    """The streamed export answer: `filename` (without suffix) as an attachment, the feed cursor as of the
    snapshot in `X-Feed-Cursor`, gzipped when the client accepts it."""
    headers = {
        "X-Feed-Cursor": feed_cursor,
        "X-Export-As-Of": as_of,
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{filename}.{SUFFIXES[format_name]}"',
        "Vary": "Accept-Encoding",
    }
    body = encoded(texts, after)
    if accepts_gzip(request.headers.get("accept-encoding")):
        body = gzipped(body)
        headers["Content-Encoding"] = "gzip"
    return StreamingResponse(body, media_type=MEDIA_TYPES[format_name], headers=headers)
