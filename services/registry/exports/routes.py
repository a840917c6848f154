"""`GET /exports/{dataset}` (`households`, `help_records`, `pairings`): a snapshot of the caller's region as NDJSON
or CSV, streamed (issue #15). One route and one pipeline for every dataset.

The handler checks the caller and opens the snapshot (exports/service.py) before answering, so refusals are
ordinary problems and the feed cursor goes out as `X-Feed-Cursor`; the body then streams from that snapshot.
When the stream has ended (or the client left), the export's one audit entry is committed in a unit of work of
its own (`shared.routing.unit_of_work`, the commit point for work after the handler).

Compression: with `Accept-Encoding: gzip` the body is gzipped here, chunk by chunk (`Z_SYNC_FLUSH`), with
`Content-Encoding: gzip`. The gateway's edge compression passes an answer that is already encoded untouched
(gateway/edge.py) and its proxy does not decompress, so the file is compressed once, by the registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from services.registry.exports.schemas import EXPORT_RESPONSES, ExportFormat, ExportLine
from services.registry.exports.service import Export, ExportService
from shared.context import ReadContextDep
from shared.routing import APIRouter, unit_of_work

__all__ = ["router"]

router = APIRouter(tags=["exports"])

_MEDIA = {ExportFormat.ndjson: "application/x-ndjson", ExportFormat.csv: "text/csv; charset=utf-8"}
_SUFFIX = {ExportFormat.ndjson: "ndjson", ExportFormat.csv: "csv"}


def accepts_gzip(value: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*`, with q > 0."""
    if not value:
        return False
    best: float | None = None
    star: float | None = None
    for item in value.lower().split(","):
        coding, *params = (p.strip() for p in item.split(";"))
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


async def _gzipped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip container (RFC 1952)
    async for chunk in chunks:
        yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


async def _body(request: Request, service: ExportService, export: Export) -> AsyncIterator[bytes]:
    try:
        async for text in export.chunks():
            yield text.encode()
    finally:
        # Shielded: a client that leaves cancels the stream, but the export it got still gets its audit entry.
        await asyncio.shield(_audit(request, service, export))


async def _audit(request: Request, service: ExportService, export: Export) -> None:
    await export.close()
    async with unit_of_work(request) as session:
        ctx = dataclasses.replace(service.ctx, session=session)
        await ExportService(ctx, service.read_pool).audit(export)


@router.get(
    "/exports/{dataset}",
    response_model=ExportLine,
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
    summary="Export the region's households, help records or pairings as one snapshot: NDJSON or CSV",
)
async def export_dataset(
    ctx: ReadContextDep,
    request: Request,
    dataset: Annotated[
        str,
        Path(
            max_length=64,
            description="`households` (贫困户: members, latest income), `help_records` (帮扶记录: newest "
            "versions with signatures, photos, versions) or `pairings` (结对帮扶: with cadre and unit)",
        ),
    ],
    format_: Annotated[
        ExportFormat, Query(alias="format", description="`ndjson` (one record per line) or `csv`")
    ] = ExportFormat.ndjson,
    region: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="Region subtree (default: your region)")
    ] = None,
    fields: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Comma list of top-level and nested fields, e.g. "
            "`id,head_name,members.name,latest_income.per_capita_net_income`, `id,confirmations.party`, "
            "`id,cadre.name,unit.name`; a nested name alone (`members`, `cadre`): all its fields; "
            "absent: every field",
        ),
    ] = None,
) -> StreamingResponse:
    """Every record of the dataset in the region, read in one REPEATABLE READ snapshot: households (any status)
    with their active members and latest income record; help records at their newest version (as the REST reads
    answer them) with signatures, photos' metadata, goods, measures, flags and every version's metadata;
    pairings (current rows, in force and ended) with their cadre and helping unit. Personal data is masked
    exactly as the API masks it, for every role: exports are never unmasked. The NDJSON file ends with
    `{"_trailer": {"rows", "feed_cursor", "as_of"}}`; both formats carry the feed cursor in `X-Feed-Cursor`:
    the export plus the change feed from that cursor give the live state. County admins, township and village
    officers, the province system and services; one audit entry per export."""
    service = ExportService(ctx, request.app.state.read_pool)
    export = await service.start(fmt=format_, region=region, fields=fields, dataset=dataset)
    name = export.dataset.name.value
    headers = {
        "X-Feed-Cursor": export.feed_cursor,
        "X-Export-As-Of": export.as_of,
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{name}-{export.region}.{_SUFFIX[format_]}"',
        "Vary": "Accept-Encoding",
    }
    body = _body(request, service, export)
    if accepts_gzip(request.headers.get("accept-encoding")):
        body = _gzipped(body)
        headers["Content-Encoding"] = "gzip"
    return StreamingResponse(body, media_type=_MEDIA[format_], headers=headers)
