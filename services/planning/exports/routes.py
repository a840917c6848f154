"""`GET /exports/{dataset}` (`plans`, `projects`, `funds_ledger`): a snapshot of the caller's region as NDJSON or
CSV, streamed (issue #15). One route and one pipeline for every dataset.

The handler checks the caller and opens the snapshot (exports/service.py) before answering, so refusals are
ordinary problems and the feed cursor goes out as `X-Feed-Cursor`; the body then streams from that snapshot
(shared/exchange/export_http.py `export_response`: gzipped when the client accepts it). When the stream has ended
(or the client left), the export's one audit entry is committed in a unit of work of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from services.planning.exports.schemas import EXPORT_RESPONSES, ExportFormat, PlanningExportLine
from services.planning.exports.service import Export, ExportService
from shared.context import ReadContextDep
from shared.exchange.export_http import export_response
from shared.routing import APIRouter, unit_of_work

__all__ = ["TAGS", "router"]

router = APIRouter(tags=["exports"])

#: The tag of these routes, with planning's description (main.py declares it over shared/openapi.py's).
TAGS = {
    "exports": (
        "Snapshot exports (数据导出): a region's village plans, projects and funds ledger as NDJSON or CSV, in one "
        "snapshot with the change feed's cursor, audited"
    )
}


async def _audit(request: Request, service: ExportService, export: Export) -> None:
    await export.close()
    async with unit_of_work(request) as session:
        ctx = dataclasses.replace(service.ctx, session=session)
        await ExportService(ctx, service.read_pool).audit(export)


@router.get(
    "/exports/{dataset}",
    response_model=PlanningExportLine,
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
    summary="Export the region's village plans, projects or funds ledger as one snapshot: NDJSON or CSV",
)
async def export_planning_dataset(
    ctx: ReadContextDep,
    request: Request,
    dataset: Annotated[
        str,
        Path(
            max_length=64,
            description="`plans` (村级规划: targets with progress, approval history), `projects` (项目库: "
            "milestones, beneficiary counts) or `funds_ledger` (资金台账: receipts, disbursements, reversals)",
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
            description="Comma list of top-level and nested fields, e.g. `id,title,status,targets.indicator_code,"
            "targets.progress`, `id,name,budget_yuan,milestones.percent`, `id,kind,amount_yuan`; a nested name "
            "alone (`targets`, `history`, `milestones`): all its fields; absent: every field",
        ),
    ] = None,
) -> StreamingResponse:
    """Every record of the dataset in the region, read in one REPEATABLE READ snapshot, each as its REST read
    answers it: plan versions (superseded ones too) as `PlanPublic` with their targets (the newest actual and the
    progress) and history; projects as `ProjectPublic` with their beneficiary counts and milestones; ledger
    entries as `LedgerEntryPublic` (yuan exact, two places). The NDJSON file ends with `{"_trailer": {"rows",
    "feed_cursor", "as_of"}}`; both formats carry the feed cursor in `X-Feed-Cursor`: the export plus
    `GET /changes?after=` that cursor give the live state. County admins, township and village officers, the
    province system and services; one audit entry per export."""
    service = ExportService(ctx, request.app.state.read_pool)
    export = await service.start(dataset=dataset, fmt=format_, region=region, fields=fields)

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
