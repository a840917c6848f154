"""`GET /exports/{dataset}` (`runs`, `results`, `findings`): a snapshot of the caller's view of the assessment as NDJSON or
CSV, streamed (issue #15).

The handler checks the caller and opens the snapshot (exports/service.py) before answering, so refusals are
ordinary problems and the feed cursor goes out as `X-Feed-Cursor`; the body then streams from that snapshot
(shared/exchange/export_http.py `export_response`: gzipped here when the client accepts it). When the stream has
ended (or the client left), the export's one audit entry is committed in a unit of work of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from services.assessment.exports.schemas import EXPORT_RESPONSES, AssessmentExportLine, ExportFormat
from services.assessment.exports.service import Export, ExportService
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
    response_model=AssessmentExportLine,
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
    summary="Export the runs, results (with their indicator breakdown) or findings you may read, as one snapshot",
)
async def export_dataset(
    ctx: ReadContextDep,
    request: Request,
    dataset: Annotated[
        str,
        Path(
            max_length=64,
            description="`runs` (考核运行, `RunPublic`), `results` (考核结果: every subject's result with its "
            "indicators, vetoes, bonus hits and commendations) or `findings` (检查发现问题: with effect, evidence "
            "and rectifications)",
        ),
    ],
    format_: Annotated[
        ExportFormat, Query(alias="format", description="`ndjson` (one record per line) or `csv`")
    ] = ExportFormat.ndjson,
    fields: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Comma list of top-level and nested fields, e.g. `id,subject_id,score,grade,"
            "indicators.code,indicators.points`; a nested name alone (`vetoes`): all its fields; absent: every "
            "field",
        ),
    ] = None,
) -> StreamingResponse:
    """Every record of the dataset you may read, in one REPEATABLE READ snapshot: runs as `GET /runs/{run_id}`
    answers them; results as `GET /runs/{run_id}/results/{subject_id}` does (without the prose explanations),
    the indicators depth first; findings as `GET /findings/{finding_id}` does, with their rectifications as
    `GET /rectifications/{rectification_id}` does (overdue as of today). County admins: their county's runs and
    results, any status; township officers: their county's runs and their township's results; the province
    system and services: published runs and their results only (an unpublished result is never exported to
    them); findings: those of your region. The NDJSON file ends with
    `{"_trailer": {"rows", "feed_cursor", "as_of"}}`; both formats carry the feed cursor in `X-Feed-Cursor`:
    the export plus `GET /changes?after=` that cursor give the live state. One audit entry per export."""
    service = ExportService(ctx, request.app.state.read_pool)
    export = await service.start(fmt=format_.value, fields=fields, dataset=dataset)

    async def audit() -> None:
        await _audit(request, service, export)

    return export_response(
        request,
        export.chunks(),
        format_name=format_.value,
        filename=f"assessment-{export.dataset.name.value}-{ctx.principal.region}",
        feed_cursor=export.feed_cursor,
        as_of=export.as_of,
        after=audit,
    )
