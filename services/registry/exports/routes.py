"""`GET /exports/{dataset}` (`households`, `help_records`, `pairings`): a snapshot of the caller's region as NDJSON
or CSV, streamed (issue #15). One route and one pipeline for every dataset.

The handler checks the caller and opens the snapshot (exports/service.py) before answering, so refusals are
ordinary problems and the feed cursor goes out as `X-Feed-Cursor`; the body then streams from that snapshot.
When the stream has ended (or the client left), the export's one audit entry is committed in a unit of work of
its own (`shared.routing.unit_of_work`, the commit point for work after the handler).

Compression and the streamed answer are every service's (shared/exchange/export_http.py `export_response`):
with `Accept-Encoding: gzip` the body is gzipped here, chunk by chunk, with `Content-Encoding: gzip`; the gateway
passes an answer that is already encoded untouched, so the file is compressed once, by the registry.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from services.registry.exports.schemas import EXPORT_RESPONSES, ExportFormat, ExportLine
from services.registry.exports.service import Export, ExportService
from shared.context import ReadContextDep
from shared.exchange.export_http import export_response
from shared.routing import APIRouter, unit_of_work

__all__ = ["router"]

router = APIRouter(tags=["exports"])


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

    async def audit() -> None:
        await _audit(request, service, export)

    return export_response(
        request,
        export.chunks(),
        format_name=format_.value,
        filename=f"{export.dataset.name.value}-{export.region}",
        feed_cursor=export.feed_cursor,
        as_of=export.as_of,
        after=audit,
    )
